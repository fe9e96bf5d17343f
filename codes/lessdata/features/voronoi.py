"""One Voronoi tessellation per structure, shared by the matminer featurizers that each rebuild it.

The paper's 128 structural features come from five matminer featurizers.  Four of them
(``SiteStatsFingerprint`` with ``CoordinationNumber`` and with ``LocalPropertyDifference``,
``StructuralHeterogeneity``, ``ChemicalOrdering``) each build their own pymatgen ``VoronoiNN`` and
call ``get_all_voronoi_polyhedra`` on the same structure, and ``MaximumPackingEfficiency`` tessellates
every site once more on its own (``get_voronoi_polyhedra``).  The tessellation is most of the cost
(``benchmarks/bench_featurize.py``), and its result depends only on the structure and on the
``VoronoiNN`` settings that shape it (cutoff, targets, adjacency, pathological cells) -- not on the
``weight`` or ``extra_nn_info`` the featurizers differ in, which act later, in ``_extract_nn_info``.

:func:`shared_tessellations` is a context manager that memoizes ``get_all_voronoi_polyhedra`` per
structure and settings for the code run inside it, and answers a per-site ``get_voronoi_polyhedra``
from the same whole-cell tessellation.  matminer's and pymatgen's code runs unchanged; only the
repeated work goes.  The per-site answer comes from a different (larger) point set than pymatgen's
per-site call uses, so ``MaximumPackingEfficiency`` could differ in the last bits, and
``ChemicalOrdering``'s shell walk runs in a faster form of pymatgen's own (:func:`_shell_neighbours`):
the benchmark checks every value against matminer as it is (max |difference| <= 1e-8).
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import matminer.featurizers.structure.bonding as matminer_structure_bonding
import matminer.featurizers.structure.order as matminer_structure_order
import matminer.utils.caching as matminer_caching
import numpy as np
from pymatgen.analysis.local_env import VoronoiNN
from pymatgen.core import IStructure, Structure

__all__ = ["shared_tessellations"]

#: Structures remembered at once: matminer featurizes one structure with every featurizer before the
#: next, so a handful is plenty and memory stays flat.
_MEMO_SIZE = 4


def _structure_key(structure: Any) -> tuple:
    """Content key of a structure: lattice, fractional coordinates and species, exactly (bitwise)."""
    return (
        np.asarray(structure.lattice.matrix, dtype=np.float64).tobytes(),
        np.asarray(structure.frac_coords, dtype=np.float64).tobytes(),
        tuple(str(site.species) for site in structure),
    )


def _settings_key(nn: VoronoiNN) -> tuple:
    """The ``VoronoiNN`` settings the tessellation itself depends on (not ``weight``/``extra_nn_info``)."""
    targets = nn.targets
    if targets is not None:
        targets = tuple(str(target) for target in (targets if isinstance(targets, (list, tuple))
                                                   else [targets]))
    return (float(nn.cutoff), targets, bool(nn.compute_adj_neighbors), bool(nn.allow_pathological))


class _Memo:
    """A small least-recently-used memo that also remembers failures (raised again on every hit)."""

    def __init__(self, size: int = _MEMO_SIZE) -> None:
        self.size = size
        self.items: OrderedDict[tuple, Any] = OrderedDict()
        self.computed = 0
        self.reused = 0

    def get(self, key: tuple, compute: Any) -> Any:
        if key in self.items:
            self.items.move_to_end(key)
            self.reused += 1
            value = self.items[key]
        else:
            self.computed += 1
            try:
                value = compute()
            except Exception as error:  # the same failure for every featurizer, computed once
                value = error
            self.items[key] = value
            if len(self.items) > self.size:
                self.items.popitem(last=False)
        if isinstance(value, BaseException):
            raise value
        return value


def _shell_neighbours(
    self: VoronoiNN,
    structure: Any,
    all_nn_info: list[list[dict]],
    site_idx: int,
    shell: int,
    _previous_steps: frozenset = frozenset(),
    _cur_image: tuple = (0, 0, 0),
) -> list[dict]:
    """Neighbours in the ``shell``-th coordination shell, as pymatgen's ``_get_nn_shell_info`` returns.

    The same walk (non-backtracking paths of ``shell`` Voronoi steps, weights multiplied along a path
    and summed per end site and image, in the same order, so the floating-point result is the same to
    the bit), with the periodic images added as integer tuples instead of through a small numpy
    array per step, which made up most of ``ChemicalOrdering``'s time.  ``tests/test_oqmd_icsd.py``
    compares it with pymatgen's on real structures.
    """
    if shell <= 0:
        raise ValueError("Shell must be positive")
    visited = _previous_steps | {(site_idx, _cur_image)}
    steps = []
    for info in all_nn_info[site_idx]:
        image = info["image"]
        moved = (int(image[0]) + _cur_image[0], int(image[1]) + _cur_image[1], int(image[2]) + _cur_image[2])
        if (info["site_index"], moved) in visited:
            continue
        step = dict(info)
        step["image"] = moved
        steps.append(step)
    if shell == 1:
        return steps
    combined: dict[tuple, dict] = {}
    for first in steps:
        for term in _shell_neighbours(self, structure, all_nn_info, first["site_index"], shell - 1,
                                      visited, first["image"]):
            term["weight"] *= first["weight"]
            key = (term["site_index"], term["image"])
            known = combined.get(key)
            if known is None:
                combined[key] = term
            else:
                known["weight"] += term["weight"]
    return list(combined.values())


def _copy_cells(cells: list[dict]) -> list[dict]:
    """Fresh per-facet dicts: ``VoronoiNN._extract_nn_info`` deletes ``"site"`` from the ones it gets."""
    return [{facet: dict(stats) for facet, stats in cell.items()} for cell in cells]


@contextlib.contextmanager
def shared_tessellations() -> Iterator[dict[str, _Memo]]:
    """Within the block, each structure is tessellated once for every Voronoi-based featurizer.

    Two memos, both keyed by the structure's content and the ``VoronoiNN`` settings that matter:
    the tessellation (``get_all_voronoi_polyhedra``, which also answers per-site calls), and the
    neighbour lists matminer asks for through ``matminer.utils.caching.get_all_nearest_neighbors``.
    The latter replaces matminer's own one-entry ``lru_cache`` there, whose key comparison
    (``IStructure.__eq__``, quadratic in the number of sites) ran on every per-site lookup and cost
    about a quarter of the featurization time.

    Yields:
        The two memos by name (``tessellations``, ``neighbours``), whose ``computed`` and ``reused``
        counters tests and benchmarks read.

    Not thread-safe: the patches are on the ``VoronoiNN`` class and on matminer's module attributes.
    Featurization runs one structure at a time per process, which is how lessdata calls matminer.
    """
    original_all = VoronoiNN.get_all_voronoi_polyhedra
    original_site = VoronoiNN.get_voronoi_polyhedra
    original_neighbours = matminer_caching.get_all_nearest_neighbors
    tessellations = _Memo()
    neighbours = _Memo()

    def all_polyhedra(self: VoronoiNN, structure: Any) -> list[dict]:
        key = (_structure_key(structure), _settings_key(self))
        return _copy_cells(tessellations.get(key, lambda: original_all(self, structure)))

    def site_polyhedra(self: VoronoiNN, structure: Any, n: int) -> dict:
        if len(structure) == 1:  # pymatgen's whole-cell call delegates to this one for one-site cells
            return original_site(self, structure, n)
        try:
            cells = all_polyhedra(self, structure)
        except Exception:  # a degenerate cell can still have a per-site answer: pymatgen's own, then
            return original_site(self, structure, n)
        return cells[n]

    def all_nearest_neighbours(method: Any, structure: Any) -> list:
        if type(method) is not VoronoiNN:
            return original_neighbours(method, structure)
        key = (_structure_key(structure), _settings_key(method), method.weight, float(method.tol),
               bool(method.extra_nn_info))
        # matminer hands pymatgen an IStructure; so do we, on a miss only.
        plain = IStructure.from_sites(structure) if isinstance(structure, Structure) else structure
        return neighbours.get(key, lambda: method.get_all_nn_info(plain))

    patched_modules = (matminer_caching, matminer_structure_order, matminer_structure_bonding)
    own_shell_method = VoronoiNN.__dict__.get("_get_nn_shell_info")  # normally inherited
    VoronoiNN._get_nn_shell_info = _shell_neighbours
    VoronoiNN.get_all_voronoi_polyhedra = all_polyhedra
    VoronoiNN.get_voronoi_polyhedra = site_polyhedra
    for module in patched_modules:
        module.get_all_nearest_neighbors = all_nearest_neighbours
    try:
        yield {"tessellations": tessellations, "neighbours": neighbours}
    finally:
        VoronoiNN.get_all_voronoi_polyhedra = original_all
        VoronoiNN.get_voronoi_polyhedra = original_site
        if own_shell_method is None:
            del VoronoiNN._get_nn_shell_info
        else:
            VoronoiNN._get_nn_shell_info = own_shell_method
        for module in patched_modules:
            module.get_all_nearest_neighbors = original_neighbours
