"""ALIGNN behind scikit-learn's ``fit`` / ``predict``, on alignn's pure-PyTorch model (no DGL).

:class:`ALIGNNRegressor` trains ALIGNN (Choudhary & DeCost 2021) with the protocol of Li et al. (2023)
on one training set and predicts like any scikit-learn regressor.  Where our graphs and training loop
differ from alignn's, and why: ``docs/decisions.md``.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.metadata
import json
import math
import os
import time
import warnings
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from alignn.models.alignn_atomwise_pure import ALIGNNAtomWisePure, ALIGNNAtomWisePureConfig
from alignn.torch_graph_builder import TorchGraph, torch_neighbor_list
from jarvis.core.atoms import Atoms as JarvisAtoms
from jarvis.core.specie import cgcnn_feature_json
from pymatgen.core import IStructure
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted
from torch.nn import functional
from tqdm.auto import tqdm

from lessdata.errors import LessdataError, StructuresRequiredError
from lessdata.files import atomic_path

__all__ = [
    "ALIGNNRegressor",
    "CrystalGraph",
    "GraphCache",
    "StructuresRequiredError",
    "build_graph",
    "clear_graph_cache",
    "collate_graphs",
    "graph_cache_info",
    "graph_key",
    "set_graph_cache_limit",
]

#: Rows below which ``fit`` trains on everything and keeps the last epoch (no validation split).
MIN_ROWS_FOR_VALIDATION = 10
#: Bump when the cached graph layout or construction changes; old cache files are then ignored.
GRAPH_FORMAT_VERSION = 1
#: CGCNN atom features have 92 entries (Xie & Grossman, PRL 120, 145301, 2018).
ATOM_FEATURES = 92
_SAVE_FORMAT = "lessdata.ALIGNNRegressor/1"
_DEFAULT_MEMORY_CACHE_BYTES = 1 << 30

STRUCTURES_HELP = (
    "ALIGNN needs crystal structures (pymatgen Structure or jarvis Atoms): it learns from atoms, bonds "
    "and bond angles, which a chemical formula does not have. Composition-only data (such as the "
    "embedded mp18_comp) can only train the tree models (xgb, rf). To use your own structures, "
    "register a table that has a structure column: `python codes/featurize.py --input FILE --name NAME "
    "--id-col C --structure-col C --targets T` (structures as CIF/POSCAR text, pymatgen dict or jarvis "
    "Atoms dict), then pass `--dataset NAME`; in Python, parse them with "
    "lessdata.data.structures.parse_structure."
)


# --------------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Geometry:
    """What a graph is built from: lattice rows, Cartesian positions (Å) and atomic numbers."""

    lattice: np.ndarray
    cart: np.ndarray
    numbers: np.ndarray


def _describe(obj: Any, limit: int = 40) -> str:
    text = " ".join(str(obj).split())
    return f"{type(obj).__name__} ({text[:limit]}{'...' if len(text) > limit else ''})"


def _geometry(obj: Any, index: int) -> _Geometry:
    """Read lattice, positions and species from a pymatgen or jarvis structure.

    Raises:
        StructuresRequiredError: ``obj`` is not a structure.
        ValueError: the structure is disordered or has species without an atomic number.
    """
    if isinstance(obj, IStructure):
        if not obj.is_ordered:
            raise LessdataError(f"X[{index}] ({obj.formula}) is disordered (partial occupancies); ALIGNN "
                                "needs one element per site -- order it first (e.g. pymatgen's "
                                "OrderDisorderedStructureTransformation)")
        numbers = np.array([getattr(site.specie, "Z", 0) for site in obj], dtype=np.int64)
        if np.any((numbers < 1) | (numbers > 118)):
            raise LessdataError(f"X[{index}] ({obj.formula}) has a species without an atomic number "
                                "(a dummy species?); ALIGNN's atom features need real elements")
        return _Geometry(np.asarray(obj.lattice.matrix, dtype=np.float64),
                         np.asarray(obj.cart_coords, dtype=np.float64), numbers)
    if isinstance(obj, JarvisAtoms):
        return _Geometry(np.asarray(obj.lattice_mat, dtype=np.float64),
                         np.asarray(obj.cart_coords, dtype=np.float64),
                         np.asarray(obj.atomic_numbers, dtype=np.int64))
    raise StructuresRequiredError(f"X[{index}] is a {_describe(obj)}, not a crystal structure. "
                                  + STRUCTURES_HELP)


def _as_structure_list(X: Any) -> list[Any]:
    """``X`` as a list of structures, rejecting feature matrices and formula columns early.

    Raises:
        StructuresRequiredError: ``X`` is a table/matrix, or one of its items is not a structure.
    """
    if hasattr(X, "columns") or (isinstance(X, np.ndarray) and (X.dtype != object or X.ndim != 1)):
        raise StructuresRequiredError(
            f"X is a {type(X).__name__} of shape {getattr(X, 'shape', '?')} (a feature table), not a "
            "sequence of crystal structures. " + STRUCTURES_HELP)
    if isinstance(X, (str, bytes, IStructure, JarvisAtoms)):
        raise StructuresRequiredError(
            f"X must be a sequence of structures, got a single {_describe(X)}. " + STRUCTURES_HELP)
    items = list(X)
    for index, item in enumerate(items):
        if not isinstance(item, (IStructure, JarvisAtoms)):
            _geometry(item, index)  # raises with the position and type of the first bad item
    return items


def graph_key(structure: Any) -> str:
    """sha256 of exactly what the graph is built from: lattice, Cartesian positions and species.

    ``lessdata.data.structures.structure_hash`` identifies a structure for the feature cache; the graph
    only depends on the geometry and elements (not on oxidation states, charge or site properties),
    so it gets its own key, which also costs less than half as much and needs no matminer import.

    Args:
        structure: A pymatgen ``Structure`` or jarvis ``Atoms``.

    Returns:
        64 hex characters.
    """
    return _geometry_key(_geometry(structure, 0))


def _geometry_key(geometry: _Geometry) -> str:
    digest = hashlib.sha256()
    for array in (geometry.lattice, geometry.cart, geometry.numbers):
        digest.update(np.ascontiguousarray(array).tobytes())
        digest.update(b"|")
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------------
# Graphs
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CrystalGraph:
    """Compact k-nearest-neighbour graph of one crystal (what the cache holds).

    Attributes:
        atomic_numbers: ``(N,)`` int16.
        src: ``(E,)`` int32 index of the atom each directed edge starts from (the centre atom).
        dst: ``(E,)`` int32 index of its neighbour.
        r: ``(E, 3)`` float32 bond vectors ``pos[dst] + image - pos[src]`` in Å.
    """

    atomic_numbers: torch.Tensor
    src: torch.Tensor
    dst: torch.Tensor
    r: torch.Tensor

    @property
    def num_nodes(self) -> int:
        return int(self.atomic_numbers.shape[0])

    @property
    def num_edges(self) -> int:
        return int(self.src.shape[0])

    @property
    def nbytes(self) -> int:
        """Approximate memory held (tensor data plus per-object overhead)."""
        tensors = (self.atomic_numbers, self.src, self.dst, self.r)
        return sum(t.element_size() * t.numel() for t in tensors) + 600

    def to_dict(self) -> dict[str, torch.Tensor]:
        return {"atomic_numbers": self.atomic_numbers, "src": self.src, "dst": self.dst, "r": self.r}

    @classmethod
    def from_dict(cls, data: dict[str, torch.Tensor]) -> CrystalGraph:
        return cls(data["atomic_numbers"], data["src"], data["dst"], data["r"])


def _build_from_geometry(geometry: _Geometry, cutoff: float, max_neighbors: int) -> CrystalGraph:
    # float32 positions, as build_pure_torch_graph uses (torch's default dtype): same edges, same ties.
    positions = torch.tensor(geometry.cart, dtype=torch.float32)
    lattice = torch.tensor(geometry.lattice, dtype=torch.float32)
    with torch.no_grad():
        src, dst, _, r = torch_neighbor_list(positions=positions, lattice=lattice, cutoff=float(cutoff),
                                             max_neighbors=int(max_neighbors),
                                             use_matscipy_topology=False)
    return CrystalGraph(torch.tensor(geometry.numbers, dtype=torch.int16), src.to(torch.int32),
                        dst.to(torch.int32), r.detach().to(torch.float32).contiguous())


def build_graph(structure: Any, cutoff: float = 8.0, max_neighbors: int = 12) -> CrystalGraph:
    """Build the crystal graph of one structure (no cache; see :class:`GraphCache`).

    Args:
        structure: A pymatgen ``Structure`` or jarvis ``Atoms``.
        cutoff: Neighbour search radius in Å.
        max_neighbors: Edges kept per atom (its closest neighbours).

    Returns:
        The compact graph.
    """
    return _build_from_geometry(_geometry(structure, 0), cutoff, max_neighbors)


@cache
def _cgcnn_table() -> torch.Tensor:
    """CGCNN features by atomic number, ``(119, 92)`` float32, from jarvis-tools' ``atom_init.json``.

    jarvis' ``get_node_attributes`` gives elements missing from the table (Z > 100) the features of
    Z = 100; the same rule applies here, so features match ``build_pure_torch_graph`` for every element.
    """
    with open(cgcnn_feature_json) as handle:
        raw = json.load(handle)
    table = np.zeros((119, ATOM_FEATURES), dtype=np.float32)
    for z in range(1, 119):
        table[z] = raw.get(str(z), raw["100"])
    return torch.from_numpy(table)


def _line_graph(src: torch.Tensor, dst: torch.Tensor, num_nodes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Directed line graph: edge ``a = (u -> v)`` connects to every edge ``b = (v -> w)``.

    Each such pair is a bond angle at ``v`` (the original ALIGNN line graph, backtracking pairs
    ``u -> v -> u`` included).  Vectorised: edges grouped by their start atom, then every edge is
    paired with the block of edges leaving its end atom.
    """
    device = src.device
    order = torch.argsort(src, stable=True)
    out_degree = torch.bincount(src, minlength=num_nodes)
    block_start = torch.cumsum(out_degree, 0) - out_degree
    n_pairs = out_degree[dst]
    total = int(n_pairs.sum())
    if total == 0:
        empty = torch.empty(0, dtype=torch.long, device=device)
        return empty, empty
    lg_src = torch.repeat_interleave(torch.arange(src.shape[0], device=device), n_pairs)
    pair_start = torch.cumsum(n_pairs, 0) - n_pairs
    within = torch.arange(total, device=device) - torch.repeat_interleave(pair_start, n_pairs)
    lg_dst = order[torch.repeat_interleave(block_start[dst], n_pairs) + within]
    return lg_src, lg_dst


def collate_graphs(graphs: Sequence[CrystalGraph], device: str | torch.device = "cpu"
                   ) -> tuple[TorchGraph, TorchGraph]:
    """Batch crystal graphs into the ``(g, lg)`` pair that ``ALIGNNAtomWisePure`` consumes.

    Args:
        graphs: Graphs of the batch (at least one).
        device: Where the batch tensors go.

    Returns:
        ``g`` with ``ndata["atom_features"]`` (CGCNN), ``edata["r"]`` and per-graph node/edge counts,
        and its line graph ``lg`` (nodes = edges of ``g``).
    """
    if not graphs:
        raise ValueError("collate_graphs needs at least one graph")
    num_nodes = torch.tensor([g.num_nodes for g in graphs], dtype=torch.long)
    num_edges = torch.tensor([g.num_edges for g in graphs], dtype=torch.long)
    offsets = (torch.cumsum(num_nodes, 0) - num_nodes).tolist()
    src = torch.cat([g.src.long() + off for g, off in zip(graphs, offsets, strict=True)]).to(device)
    dst = torch.cat([g.dst.long() + off for g, off in zip(graphs, offsets, strict=True)]).to(device)
    numbers = torch.cat([g.atomic_numbers.long() for g in graphs])
    features = _cgcnn_table()[numbers].to(device)
    r = torch.cat([g.r for g in graphs]).to(device)
    total_nodes = int(num_nodes.sum())
    g = TorchGraph(num_nodes=total_nodes, src=src, dst=dst, ndata={"atom_features": features},
                   edata={"r": r}, batch_num_nodes=num_nodes.to(device),
                   batch_num_edges=num_edges.to(device))
    lg_src, lg_dst = _line_graph(src, dst, total_nodes)
    lg = TorchGraph(num_nodes=int(src.shape[0]), src=lg_src, dst=lg_dst)
    return g, lg


# --------------------------------------------------------------------------------------------------
# Graph cache
# --------------------------------------------------------------------------------------------------
@dataclass
class _MemoryStore:
    """Process-wide LRU of graphs, bounded in bytes, shared by every estimator in the process."""

    max_bytes: int = _DEFAULT_MEMORY_CACHE_BYTES
    entries: OrderedDict[str, CrystalGraph] = field(default_factory=OrderedDict)
    nbytes: int = 0
    builds: int = 0
    memory_hits: int = 0
    disk_hits: int = 0

    def get(self, key: str) -> CrystalGraph | None:
        graph = self.entries.get(key)
        if graph is not None:
            self.entries.move_to_end(key)
        return graph

    def put(self, key: str, graph: CrystalGraph) -> None:
        if key in self.entries:
            return
        self.entries[key] = graph
        self.nbytes += graph.nbytes
        while self.nbytes > self.max_bytes and len(self.entries) > 1:
            _, evicted = self.entries.popitem(last=False)
            self.nbytes -= evicted.nbytes

    def clear(self) -> None:
        self.entries.clear()
        self.nbytes = 0


_MEMORY = _MemoryStore()


def graph_cache_info() -> dict[str, int]:
    """Counters of the process-wide graph cache: ``builds``, ``memory_hits``, ``disk_hits``,
    ``entries``, ``bytes`` and ``max_bytes``."""
    return {"builds": _MEMORY.builds, "memory_hits": _MEMORY.memory_hits, "disk_hits": _MEMORY.disk_hits,
            "entries": len(_MEMORY.entries), "bytes": _MEMORY.nbytes, "max_bytes": _MEMORY.max_bytes}


def clear_graph_cache() -> None:
    """Empty the in-memory graph cache (files under ``graph_cache_dir`` stay)."""
    _MEMORY.clear()


def set_graph_cache_limit(max_bytes: int) -> None:
    """Bound the in-memory graph cache (default 1 GiB, ~4 M atoms); least recently used go first."""
    if max_bytes < 0:
        raise LessdataError(f"max_bytes must be >= 0, got {max_bytes}")
    _MEMORY.max_bytes = int(max_bytes)
    while _MEMORY.nbytes > _MEMORY.max_bytes and _MEMORY.entries:
        _, evicted = _MEMORY.entries.popitem(last=False)
        _MEMORY.nbytes -= evicted.nbytes


class GraphCache:
    """Graphs of structures, each built once: in memory per process, optionally on disk.

    The disk layout is one ``torch.save`` file per structure,
    ``DIR/alignn_graphs_k{max_neighbors}_c{cutoff}_v{format}/ab/abcdef....pt`` (sharded by the first
    two hex digits of :func:`graph_key`), written atomically so that parallel workers sharing a folder
    never read a half-written file.  Nothing is written unless a folder is given (alignn's trainer
    writes caches into the working directory; we never do).

    Args:
        cutoff: Neighbour search radius in Å.
        max_neighbors: Edges kept per atom.
        directory: Folder for the on-disk cache, or ``None`` for memory only.
    """

    def __init__(self, cutoff: float = 8.0, max_neighbors: int = 12,
                 directory: str | os.PathLike | None = None) -> None:
        self.cutoff = float(cutoff)
        self.max_neighbors = int(max_neighbors)
        self.namespace = f"alignn_graphs_k{self.max_neighbors}_c{self.cutoff:g}_v{GRAPH_FORMAT_VERSION}"
        self.directory = None if directory is None else Path(directory) / self.namespace
        self._write_failed = False

    def _path(self, key: str) -> Path:
        assert self.directory is not None
        return self.directory / key[:2] / f"{key}.pt"

    def _read(self, key: str) -> CrystalGraph | None:
        path = self._path(key)
        if not path.is_file():
            return None
        try:
            return CrystalGraph.from_dict(torch.load(path, map_location="cpu", weights_only=True))
        except Exception as err:  # a damaged cache file is rebuilt, never fatal
            warnings.warn(f"ignoring unreadable graph cache file {path} ({err}); rebuilding it",
                          RuntimeWarning, stacklevel=3)
            return None

    def _write(self, key: str, graph: CrystalGraph) -> None:
        if self._write_failed:
            return
        try:
            with atomic_path(self._path(key)) as tmp:
                torch.save(graph.to_dict(), tmp)
        except OSError as err:
            self._write_failed = True
            warnings.warn(f"cannot write the ALIGNN graph cache under {self.directory} ({err}); "
                          "graphs stay in memory only", RuntimeWarning, stacklevel=3)

    def get(self, structure: Any, index: int = 0) -> CrystalGraph:
        """The graph of one structure, from memory, disk or built (and then stored).

        Args:
            structure: A pymatgen ``Structure`` or jarvis ``Atoms``.
            index: Position of ``structure`` in its batch (for error messages).
        """
        geometry = _geometry(structure, index)
        key = f"{self.namespace}/{_geometry_key(geometry)}"
        graph = _MEMORY.get(key)
        if graph is not None:
            _MEMORY.memory_hits += 1
            return graph
        digest = key.rsplit("/", 1)[1]
        if self.directory is not None:
            graph = self._read(digest)
            if graph is not None:
                _MEMORY.disk_hits += 1
                _MEMORY.put(key, graph)
                return graph
        graph = _build_from_geometry(geometry, self.cutoff, self.max_neighbors)
        _MEMORY.builds += 1
        _MEMORY.put(key, graph)
        if self.directory is not None:
            self._write(digest, graph)
        return graph

    def get_many(self, structures: Sequence[Any], progress: bool = False) -> list[CrystalGraph]:
        """Graphs of many structures, in order (a progress bar when asked and worth showing)."""
        bar = tqdm(structures, desc="ALIGNN graphs", unit="structure", leave=False,
                   disable=not progress or len(structures) < 500)
        return [self.get(structure, index) for index, structure in enumerate(bar)]


# --------------------------------------------------------------------------------------------------
# Torch runtime
# --------------------------------------------------------------------------------------------------
@contextmanager
def _torch_runtime(n_threads: int, device: torch.device, seed: int | None = None) -> Iterator[None]:
    """Threads, determinism and a private seeded RNG for the duration of a fit or predict.

    The previous thread count and deterministic-algorithms mode are restored afterwards, and the
    global torch RNG is forked, so the caller's random state is untouched.
    """
    previous_threads = torch.get_num_threads()
    previous_deterministic = torch.are_deterministic_algorithms_enabled()
    previous_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(int(n_threads))
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True)
    rng_devices = [device.index if device.index is not None else torch.cuda.current_device()] \
        if device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=rng_devices):
            if seed is not None:
                torch.manual_seed(int(seed))
            yield
    finally:
        torch.set_num_threads(previous_threads)
        torch.use_deterministic_algorithms(previous_deterministic, warn_only=previous_warn_only)


def _batches(n: int, batch_size: int) -> Iterator[slice]:
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


def _plain(value: Any) -> Any:
    """A value ``torch.load(weights_only=True)`` can read back (no numpy scalars, no paths)."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def _versions() -> dict[str, str]:
    versions = {"torch": str(torch.__version__)}
    for package in ("alignn", "lessdata"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:  # pragma: no cover - editable installs have it
            versions[package] = "unknown"
    return versions


# --------------------------------------------------------------------------------------------------
# Estimator
# --------------------------------------------------------------------------------------------------
class ALIGNNRegressor(RegressorMixin, BaseEstimator):
    """ALIGNN property regressor with scikit-learn's ``fit(X, y)`` / ``predict(X)``.

    ``X`` is a sequence of crystal structures (pymatgen ``Structure`` or jarvis ``Atoms``).  Defaults
    are the paper's settings (Li et al. 2023, Methods; ALIGNN by Choudhary & DeCost 2021); see
    ``docs/decisions.md`` ("ALIGNN") for where the pure-PyTorch model and our training loop differ
    from alignn's.

    Args:
        epochs: Passes over the training rows.
        batch_size: Structures per optimisation step (and per prediction batch, which bounds memory).
        learning_rate: Peak learning rate of the one-cycle schedule (AdamW).
        weight_decay: AdamW weight decay.
        alignn_layers: ALIGNN (crystal graph + line graph) layers.
        gcn_layers: Edge-gated graph convolution layers on the crystal graph alone.
        hidden_features: Width of node/edge/angle features.
        embedding_features: Width of the intermediate edge/angle embedding.
        cutoff: Neighbour search radius in Å (line-graph triplets use the same radius).
        max_neighbors: Closest neighbours kept per atom.
        random_state: Seed of weight initialisation, shuffling and the validation split.
        device: ``"cpu"`` or ``"cuda"`` (``"cuda:1"`` etc.).
        n_threads: torch intra-op threads during fit/predict (restored afterwards).
        validation_fraction: ``0`` (default, the paper's setting) trains on all rows and keeps the
            last epoch; ``> 0`` holds that share of the rows out (seeded) and keeps the best epoch.
        graph_cache_dir: Folder for the on-disk graph cache (``None``: memory only).
        progress: tqdm bars for epochs (and for building many graphs / predicting many batches).

    Attributes:
        model_: The fitted ``ALIGNNAtomWisePure`` network (last-epoch weights, or best-validation
            weights when ``validation_fraction > 0``).
        y_mean_, y_std_: Target standardization of the training rows.
        history_: Per-epoch lists ``epoch``, ``train_loss``, ``val_loss`` (MSE in target units
            squared; ``nan`` without validation), ``val_mae``, ``lr`` (of the epoch's last step) and
            ``seconds``.
        best_epoch_: 1-based epoch whose weights were kept.
        n_train_, n_val_: Rows used for training and for validation.
        validation_indices_: Positions in ``X`` of the validation rows.
        graph_stats_: Graphs of this fit built / found in memory / found on disk, and seconds spent.
        fit_seconds_: Wall time of ``fit`` (graphs included).
    """

    def __init__(self, epochs: int = 50, batch_size: int = 32, learning_rate: float = 1e-3,
                 weight_decay: float = 1e-5, alignn_layers: int = 2, gcn_layers: int = 2,
                 hidden_features: int = 256, embedding_features: int = 64, cutoff: float = 8.0,
                 max_neighbors: int = 12, random_state: int | None = 123, device: str = "cpu",
                 n_threads: int = 1, validation_fraction: float = 0.0,
                 graph_cache_dir: str | os.PathLike | None = None, progress: bool = True) -> None:
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.alignn_layers = alignn_layers
        self.gcn_layers = gcn_layers
        self.hidden_features = hidden_features
        self.embedding_features = embedding_features
        self.cutoff = cutoff
        self.max_neighbors = max_neighbors
        self.random_state = random_state
        self.device = device
        self.n_threads = n_threads
        self.validation_fraction = validation_fraction
        self.graph_cache_dir = graph_cache_dir
        self.progress = progress

    # ---------------------------------------------------------------------------------------------
    def _check_params(self) -> torch.device:
        checks = [("epochs", self.epochs, 1), ("batch_size", self.batch_size, 1),
                  ("alignn_layers", self.alignn_layers, 0), ("gcn_layers", self.gcn_layers, 0),
                  ("hidden_features", self.hidden_features, 1),
                  ("embedding_features", self.embedding_features, 1),
                  ("max_neighbors", self.max_neighbors, 1), ("n_threads", self.n_threads, 1)]
        for name, value, low in checks:
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
                raise LessdataError(f"{name} must be an integer >= {low}, got {value!r}")
        for name, value in (("learning_rate", self.learning_rate), ("cutoff", self.cutoff)):
            if not value > 0:
                raise LessdataError(f"{name} must be > 0, got {value!r}")
        if not self.weight_decay >= 0:
            raise LessdataError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if not 0 <= self.validation_fraction < 1:
            raise LessdataError(f"validation_fraction must be in [0, 1), got {self.validation_fraction!r}")
        try:
            device = torch.device(self.device)
        except (RuntimeError, TypeError) as err:
            raise LessdataError(f"unknown device {self.device!r}; use 'cpu' or 'cuda'") from err
        if device.type not in ("cpu", "cuda"):
            raise LessdataError(f"unsupported device {self.device!r}; use 'cpu' or 'cuda'")
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"device={self.device!r} but torch sees no CUDA device (torch "
                               f"{torch.__version__}); use device='cpu' or install a CUDA build of torch")
        return device

    def _network(self) -> ALIGNNAtomWisePure:
        config = ALIGNNAtomWisePureConfig(
            name="alignn_atomwise_pure", atom_input_features=ATOM_FEATURES, output_features=1,
            alignn_layers=int(self.alignn_layers), gcn_layers=int(self.gcn_layers),
            hidden_features=int(self.hidden_features), embedding_features=int(self.embedding_features),
            # A property regressor: no forces, no energy x natoms, no bond-length penalty, no ZBL.
            calculate_gradient=False, energy_mult_natoms=False, use_penalty=False, use_zbl=False,
            # All k-NN edges form triplets (the original line graph), bond angles computed in-model.
            three_body_cutoff=float(self.cutoff), lg_on_fly=True,
        )
        return ALIGNNAtomWisePure(config)

    def _graph_cache(self) -> GraphCache:
        return GraphCache(self.cutoff, self.max_neighbors, self.graph_cache_dir)

    def _forward(self, graphs: Sequence[CrystalGraph], device: torch.device) -> torch.Tensor:
        g, lg = collate_graphs(graphs, device)
        return self.model_((g, lg, None))["out"].reshape(-1)

    def _predict_graphs(self, graphs: Sequence[CrystalGraph], device: torch.device) -> np.ndarray:
        """Standardized predictions, batch by batch, eval mode, no autograd."""
        self.model_.eval()
        out = np.empty(len(graphs), dtype=np.float64)
        with torch.no_grad():
            for part in _batches(len(graphs), int(self.batch_size)):
                out[part] = self._forward(graphs[part], device).double().cpu().numpy()
        return out

    # ---------------------------------------------------------------------------------------------
    def fit(self, X: Sequence[Any], y: Any) -> ALIGNNRegressor:
        """Train from freshly seeded weights on structures ``X`` and targets ``y``.

        Every call starts over (weights re-initialised from ``random_state``), so fitting twice is
        the same as fitting once.  With ``validation_fraction=0`` (the paper's setting) the model
        trains on all rows and keeps the last epoch.  Otherwise that share of the rows (at least one,
        chosen with ``random_state``) is held out and the weights of the epoch with the lowest
        validation MSE are kept; below ``MIN_ROWS_FOR_VALIDATION`` (10) rows there is no split either.

        Args:
            X: Sequence of pymatgen ``Structure`` or jarvis ``Atoms``.
            y: Target per structure (finite numbers).

        Returns:
            ``self``.

        Raises:
            StructuresRequiredError: ``X`` holds formulas, compositions, features or other
                non-structures; the message says how to provide structures.
            ValueError: bad hyperparameters, mismatched or non-finite ``y``, disordered structures.
        """
        started = time.perf_counter()
        device = self._check_params()
        structures = _as_structure_list(X)
        targets = np.asarray(y, dtype=np.float64).reshape(-1)
        if len(structures) != len(targets):
            raise LessdataError(f"X has {len(structures)} structures but y has {len(targets)} targets")
        if len(targets) == 0:
            raise LessdataError("cannot fit ALIGNN on zero structures")
        bad = np.flatnonzero(~np.isfinite(targets))
        if bad.size:
            raise LessdataError(f"y has {bad.size} non-finite values (first at position {bad[0]}); drop "
                                "those rows before fitting")
        for attribute in [name for name in vars(self) if name.endswith("_") and not name.startswith("_")]:
            delattr(self, attribute)  # a failed refit must not leave the previous fit looking valid

        with _torch_runtime(self.n_threads, device, self.random_state):
            before = graph_cache_info()
            graph_start = time.perf_counter()
            graphs = self._graph_cache().get_many(structures, progress=self.progress)
            after = graph_cache_info()
            self.graph_stats_ = {key: after[key] - before[key]
                                 for key in ("builds", "memory_hits", "disk_hits")}
            self.graph_stats_["seconds"] = time.perf_counter() - graph_start
            self._train(graphs, targets, device)
        self.fit_seconds_ = time.perf_counter() - started
        return self

    def _split(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        if n < MIN_ROWS_FOR_VALIDATION or self.validation_fraction == 0:
            return np.arange(n), np.arange(0)
        n_val = min(n - 1, max(1, int(round(self.validation_fraction * n))))
        order = np.random.default_rng(self.random_state).permutation(n)
        return np.sort(order[n_val:]), np.sort(order[:n_val])

    def _train(self, graphs: list[CrystalGraph], targets: np.ndarray, device: torch.device) -> None:
        train_idx, val_idx = self._split(len(graphs))
        self.y_mean_ = float(targets[train_idx].mean())
        std = float(targets[train_idx].std())
        self.y_std_ = std if std > 1e-12 else 1.0
        scaled = torch.as_tensor((targets - self.y_mean_) / self.y_std_, dtype=torch.float32)

        self.model_ = self._network().to(device)
        optimizer = torch.optim.AdamW(self.model_.parameters(), lr=self.learning_rate,
                                      weight_decay=self.weight_decay)
        steps_per_epoch = math.ceil(len(train_idx) / self.batch_size)
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=self.learning_rate,
                                                        epochs=int(self.epochs),
                                                        steps_per_epoch=steps_per_epoch)
        seed = int(torch.randint(2**62, ())) if self.random_state is None else int(self.random_state)
        shuffler = torch.Generator().manual_seed(seed)
        train_graphs = [graphs[i] for i in train_idx]
        train_targets = scaled[train_idx]
        val_graphs = [graphs[i] for i in val_idx]
        val_targets = targets[val_idx]

        history: dict[str, list[float]] = {key: [] for key in
                                           ("epoch", "train_loss", "val_loss", "val_mae", "lr", "seconds")}
        best_loss, best_state, best_epoch = math.inf, None, int(self.epochs)
        bar = tqdm(range(1, int(self.epochs) + 1), desc="ALIGNN", unit="epoch", leave=False,
                   disable=not self.progress)
        for epoch in bar:
            epoch_start = time.perf_counter()
            self.model_.train()
            total, last_lr = 0.0, math.nan
            order = torch.randperm(len(train_graphs), generator=shuffler)
            for part in _batches(len(order), int(self.batch_size)):
                rows = order[part]
                prediction = self._forward([train_graphs[i] for i in rows.tolist()], device)
                loss = functional.mse_loss(prediction, train_targets[rows].to(device))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                last_lr = optimizer.param_groups[0]["lr"]
                optimizer.step()
                scheduler.step()
                total += float(loss.detach()) * len(rows)
            train_loss = total / len(train_graphs) * self.y_std_**2
            val_loss = val_mae = math.nan
            if val_graphs:
                residual = self._predict_graphs(val_graphs, device) * self.y_std_ + self.y_mean_ - val_targets
                val_loss, val_mae = float(np.mean(residual**2)), float(np.mean(np.abs(residual)))
                if val_loss < best_loss:
                    best_loss, best_epoch = val_loss, epoch
                    best_state = {k: v.detach().clone() for k, v in self.model_.state_dict().items()}
            for key, value in (("epoch", epoch), ("train_loss", train_loss), ("val_loss", val_loss),
                               ("val_mae", val_mae), ("lr", last_lr),
                               ("seconds", time.perf_counter() - epoch_start)):
                history[key].append(value)
            bar.set_postfix(train=f"{train_loss:.4g}", val=f"{val_loss:.4g}")
        if best_state is not None:
            self.model_.load_state_dict(best_state)
        self.model_.eval()
        self.history_ = history
        self.best_epoch_ = best_epoch
        self.n_train_, self.n_val_ = len(train_idx), len(val_idx)
        self.validation_indices_ = val_idx

    # ---------------------------------------------------------------------------------------------
    def predict(self, X: Sequence[Any]) -> np.ndarray:
        """Predict targets of structures ``X`` (batches of ``batch_size``, eval mode, no autograd).

        Args:
            X: Sequence of pymatgen ``Structure`` or jarvis ``Atoms``.

        Returns:
            ``(len(X),)`` float64 predictions in target units.

        Raises:
            StructuresRequiredError: ``X`` holds non-structures.
            sklearn.exceptions.NotFittedError: before ``fit``/``load``.
        """
        check_is_fitted(self, "model_")
        device = self._check_params()
        structures = _as_structure_list(X)
        out = np.empty(len(structures), dtype=np.float64)
        cache = self._graph_cache()
        parts = list(_batches(len(structures), int(self.batch_size)))
        with _torch_runtime(self.n_threads, device):
            self.model_.to(device).eval()
            bar = tqdm(parts, desc="ALIGNN predict", unit="batch", leave=False,
                       disable=not self.progress or len(parts) < 20)
            with torch.no_grad():
                for part in bar:
                    graphs = [cache.get(s, part.start + i) for i, s in enumerate(structures[part])]
                    out[part] = self._forward(graphs, device).double().cpu().numpy()
        return out * self.y_std_ + self.y_mean_

    # ---------------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write hyperparameters, weights and fitted state to one file (atomically).

        Returns:
            The path written.
        """
        check_is_fitted(self, "model_")
        params = {k: _plain(v) for k, v in self.get_params().items()}
        payload = {
            "format": _SAVE_FORMAT,
            "params": params,
            "state_dict": {k: v.detach().cpu() for k, v in self.model_.state_dict().items()},
            "fitted": {"y_mean_": self.y_mean_, "y_std_": self.y_std_,
                       "history_": copy.deepcopy(self.history_), "best_epoch_": int(self.best_epoch_),
                       "n_train_": int(self.n_train_), "n_val_": int(self.n_val_),
                       "validation_indices_": [int(i) for i in self.validation_indices_],
                       "fit_seconds_": float(self.fit_seconds_)},
            "versions": _versions(),
        }
        with atomic_path(path) as tmp:
            torch.save(payload, tmp)
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | None = None) -> ALIGNNRegressor:
        """Read a model written by :meth:`save` (``torch.load(weights_only=True)``: no code runs).

        Args:
            path: File written by :meth:`save`.
            device: Override the saved device (e.g. ``"cpu"`` for a model trained on a GPU).

        Raises:
            ValueError: the file is not a saved ALIGNNRegressor.
        """
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(payload, dict) or payload.get("format") != _SAVE_FORMAT:
            raise LessdataError(f"{path} is not an ALIGNNRegressor file (expected format {_SAVE_FORMAT!r})")
        params = dict(payload["params"])
        if device is not None:
            params["device"] = device
        estimator = cls(**params)
        target = estimator._check_params()
        estimator.model_ = estimator._network()
        estimator.model_.load_state_dict(payload["state_dict"])
        estimator.model_.to(target).eval()
        for name, value in payload["fitted"].items():
            setattr(estimator, name, value)
        estimator.validation_indices_ = np.asarray(estimator.validation_indices_, dtype=np.int64)
        return estimator

