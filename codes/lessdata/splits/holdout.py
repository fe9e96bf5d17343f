"""ID hold-out and out-of-distribution (OOD) splits, serialised with checksums and rebuildable.

:func:`make_split` carves out the OOD sets (``version``, ``newest``, ``element``, ``cluster``, ``target``)
and splits the rest into pool and ID test set as a :class:`Split`, which :meth:`Split.rebuild` checks;
:func:`coverage` measures how far each OOD set lies from the pool.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pymatgen.core import Composition, Element
from sklearn.cluster import KMeans
from sklearn.model_selection import train_test_split
from sklearn.neighbors import NearestNeighbors

from lessdata import config
from lessdata import files as lio
from lessdata.data.datasets import Dataset, DatasetError, MissingDataFileError, load_dataset, resolve

logger = logging.getLogger(__name__)

_SEQUENTIAL_ID = re.compile(r"(\d+)$")
#: Ids known to be issued in time order: Materials Project ``mp-N``.  Only these get the ``newest``
#: proxy by default; any other numbered ids (a user's ``sample-00001``) have no known time order.
_CHRONOLOGICAL_ID = re.compile(r"^mp-\d+$")


# --------------------------------------------------------------------------------------------------
# OOD splitters: functions over arrays, one record each.
# --------------------------------------------------------------------------------------------------
def _sequential_numbers(ids: np.ndarray) -> np.ndarray | None:
    numbers = [_SEQUENTIAL_ID.search(str(identifier)) for identifier in ids]
    if not numbers or any(match is None for match in numbers):
        return None
    return np.array([int(match.group(1)) for match in numbers], dtype=np.int64)


def newest_mask(ids: np.ndarray, share: float = 0.1) -> np.ndarray:
    """The newest ``share`` of entries by the number their ids end in (a temporal proxy).

    Raises:
        DatasetError: when some id does not end in a number.
    """
    numbers = _sequential_numbers(np.asarray(ids))
    if numbers is None:
        raise DatasetError(f"OOD split 'newest' needs ids ending in a number (mp-N, JVASP-N); "
                           f"ids look like {np.asarray(ids)[0]!r}")
    return numbers >= np.quantile(numbers, 1 - share)


def element_mask(formulas: Sequence[str], elements: Sequence[str]) -> np.ndarray:
    """Every compound that contains any of ``elements``."""
    wanted = set(elements)
    return np.array([bool(wanted & {el.symbol for el in Composition(formula).elements})
                     for formula in formulas], dtype=bool)


def cluster_mask(X: np.ndarray, n_clusters: int = 10, seed: int = 0) -> np.ndarray:
    """k-means on the standardized features; the cluster whose centre lies farthest from the data mean
    (the most "novel" region) is left out."""
    labels = KMeans(n_clusters=n_clusters, n_init=3, random_state=seed).fit_predict(X)
    centres = np.array([X[labels == c].mean(axis=0) for c in range(n_clusters)])
    held_out = int(np.argmax(np.linalg.norm(centres - X.mean(axis=0), axis=1)))
    return labels == held_out


def target_mask(y: np.ndarray, share: float = 0.05) -> np.ndarray:
    """The upper ``share`` tail of the target."""
    return y >= np.quantile(y, 1 - share)


def _share(text: str, value: str) -> None:
    if value and not 0 < float(value) < 1:
        raise DatasetError(f"OOD split {text!r}: the share must lie in (0, 1)")


def _clusters(text: str, value: str) -> None:
    if value and int(value) < 2:
        raise DatasetError(f"OOD split {text!r}: need at least 2 clusters")


def _elements(text: str, value: str) -> None:
    if not value:
        raise DatasetError("OOD split 'element' needs elements, e.g. element=Li+Co")
    unknown = [symbol for symbol in value.split("+") if not Element.is_valid_symbol(symbol)]
    if unknown:
        raise DatasetError(f"OOD split {text!r}: unknown element(s) {', '.join(unknown)}")


@dataclass(frozen=True)
class OODSplitter:
    """One kind of OOD set: how ``--ood kind[=value]`` is checked and which rows it takes.

    ``mask(dataset, value, seed)`` returns a boolean mask over the dataset's rows; ``None`` for
    ``version``, whose entries come from another dataset.  ``label`` names it in figures and the report.
    """

    kind: str
    usage: str
    label: str
    mask: Callable[[Dataset, str, int], np.ndarray] | None
    check: Callable[[str, str], None] | None = None


#: Registered OOD splitters by kind (:func:`register_ood` adds one).
OOD_SPLITTERS: dict[str, OODSplitter] = {}


def register_ood(splitter: OODSplitter) -> OODSplitter:
    """Make an OOD kind known to ``--ood``, the splits, the figures and the report."""
    OOD_SPLITTERS[splitter.kind] = splitter
    return splitter


register_ood(OODSplitter("newest", "newest[=share]", "newest ids",
                         lambda data, value, seed: newest_mask(data.ids, float(value or 0.1)), _share))
register_ood(OODSplitter("element", "element=El1+El2", "contains",
                         lambda data, value, seed: element_mask(data.formulas, value.split("+")), _elements))
register_ood(OODSplitter("cluster", "cluster[=k]", "held-out cluster",
                         lambda data, value, seed: cluster_mask(data.X, int(value or 10), seed), _clusters))
register_ood(OODSplitter("target", "target[=share]", "upper target tail",
                         lambda data, value, seed: target_mask(data.y, float(value or 0.05)), _share))
register_ood(OODSplitter("version", "version", "newer snapshot", None))


#: An OOD set's name in the ``eval_set`` column of the scores: this prefix + the set's name.
OOD_PREFIX = "ood_"


def ood_eval_set(name: str) -> str:
    """``eval_set`` value of the OOD set ``name`` (``newest`` -> ``ood_newest``)."""
    return f"{OOD_PREFIX}{name}"


def is_ood(eval_set: object) -> bool:
    """Whether an ``eval_set`` value names an OOD set."""
    return str(eval_set).startswith(OOD_PREFIX)


def ood_name(eval_set: str) -> str:
    """The OOD set's own name from its ``eval_set`` value (``ood_newest`` -> ``newest``)."""
    return eval_set.removeprefix(OOD_PREFIX)


def ood_label(name: str) -> str:
    """Readable name of an OOD set (``eval_set`` without ``ood_``), e.g. "contains Li or Co"."""
    if name.startswith("element_"):
        return "contains " + " or ".join(name.removeprefix("element_").split("-"))
    splitter = OOD_SPLITTERS.get(name)
    return splitter.label if splitter is not None else name


@dataclass(frozen=True)
class OODSpec:
    """One OOD set asked for: a registered ``kind`` (:data:`OOD_SPLITTERS`) and its parameter."""

    kind: str
    value: str = ""

    @property
    def name(self) -> str:
        """Name used in results (``eval_set`` = ``ood_<name>``)."""
        if self.kind == "element":
            return f"element_{self.value.replace('+', '-')}"
        return self.kind

    @classmethod
    def parse(cls, text: str) -> OODSpec:
        """Parse ``kind`` or ``kind=value`` (e.g. ``newest=0.1``, ``element=Li+Co``, ``cluster=8``).

        Raises:
            DatasetError: unknown kind or a malformed value.
        """
        kind, _, value = text.strip().partition("=")
        kind = kind.strip().lower()
        if kind not in OOD_SPLITTERS:
            usages = ", ".join(splitter.usage for splitter in OOD_SPLITTERS.values())
            raise DatasetError(f"unknown OOD split {text!r}; use {usages}")
        check = OOD_SPLITTERS[kind].check
        try:
            if check is not None:
                check(text, value)
        except DatasetError:
            raise
        except ValueError as error:  # float() / int() of a malformed value
            raise DatasetError(f"OOD split {text!r}: {error}") from error
        return cls(kind, value)


def default_ood(dataset: Dataset) -> tuple[list[OODSpec], str]:
    """The default OOD sets and why: the newer snapshot when registered, else the newest Materials
    Project ids (``mp-N`` are issued in time order), else none.

    Returns:
        (the splitters, a one-line reason printed with the split summary).
    """
    spec = resolve(dataset.name)
    if spec.newer:
        return [OODSpec("version")], f"default for {dataset.name}: the new entries of {spec.newer}"
    if len(dataset.ids) and all(_CHRONOLOGICAL_ID.match(str(i)) for i in dataset.ids):
        return [OODSpec("newest")], ("default for Materials Project ids (mp-N, issued in time order): the "
                                     "newest 10 % of ids")
    return [], (f"no default OOD set for {dataset.name} (no later snapshot registered and no ids known to "
                "be chronological); choose one with --ood")


def _ood_mask(dataset: Dataset, spec: OODSpec, seed: int) -> np.ndarray:
    """Boolean mask over ``dataset`` rows belonging to a single-dataset OOD set."""
    splitter = OOD_SPLITTERS[spec.kind]
    if splitter.mask is None:
        raise DatasetError(f"OOD split {spec.kind!r} is not a single-dataset split")
    return np.asarray(splitter.mask(dataset, spec.value, seed), dtype=bool)


@dataclass
class Split:
    """Pool / ID test / OOD id lists of one dataset and target, with the parameters that made them."""

    dataset: str
    target: str
    pool_ids: np.ndarray
    test_ids: np.ndarray
    ood_ids: dict[str, np.ndarray] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with an id-list checksum per set."""
        def block(ids: np.ndarray) -> dict[str, Any]:
            return {"n": int(len(ids)), "sha256": lio.sha256_strings(ids), "ids": [str(i) for i in ids]}

        return {"dataset": self.dataset, "target": self.target, "params": self.params,
                "pool": block(self.pool_ids), "id_test": block(self.test_ids),
                "ood": {name: block(ids) for name, ids in self.ood_ids.items()}}

    def save(self, path: str | Path) -> Path:
        """Write the split as JSON (atomic)."""
        return lio.write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> Split:
        """Read a split JSON, checking each id list against its recorded sha256.

        Raises:
            DatasetError: when an id list does not match its checksum (the file was edited), or the file
                is not a split JSON.
        """
        content = lio.read_json(path)

        def ids_of(block: dict[str, Any], what: str) -> np.ndarray:
            ids = np.array(block["ids"], dtype=str)
            if lio.sha256_strings(ids) != block["sha256"]:
                raise DatasetError(f"{path}: the {what} id list does not match its sha256; the file was "
                                   "modified. Delete it to rebuild the split.")
            return ids

        try:
            return cls(content["dataset"], content["target"], ids_of(content["pool"], "pool"),
                       ids_of(content["id_test"], "id_test"),
                       {name: ids_of(block, f"ood {name}") for name, block in content["ood"].items()},
                       content["params"])
        except (KeyError, TypeError, AttributeError) as error:  # a damaged file or not one of ours
            raise DatasetError(f"{path} is not a split file lessdata wrote ({type(error).__name__}: "
                               f"{error}); delete it to rebuild the split") from error

    def rebuild(self, dataset: Dataset) -> Split:
        """Recompute this split from its parameters and check it is identical.

        Raises:
            DatasetError: when the data changed so that the split no longer reproduces.
        """
        again = make_split(dataset, ood=[OODSpec(k, v) for k, v in self.params["ood"]],
                           test_fraction=self.params["test_fraction"], seed=self.params["seed"],
                           test_ids=None if self.params.get("test_ids_sha256") is None else self.test_ids)
        mine, theirs = self.to_dict(), again.to_dict()
        blocks = [("pool", mine["pool"], theirs["pool"]), ("id_test", mine["id_test"], theirs["id_test"])]
        blocks += [(f"ood {name}", block, theirs["ood"].get(name, {})) for name, block in mine["ood"].items()]
        for what, saved, rebuilt in blocks:
            if saved["sha256"] != rebuilt.get("sha256"):
                raise DatasetError(f"split of {self.dataset}/{self.target} does not reproduce: the {what} "
                                   "ids differ (has the dataset changed?)")
        return again

    @property
    def label(self) -> str:
        """Short name of the ID hold-out (``s<seed>``, or ``ids-<sha8>`` for a given test-id list).

        It is the ``split`` column of the results, so one folder can hold repeated hold-out splits.
        """
        return split_label(self.params["seed"], self.params.get("test_ids_sha256"))

    def check_data(self, dataset: Dataset, path: str | Path = "the split") -> None:
        """Refuse to reuse a saved split on data other than the data it was made from.

        Raises:
            DatasetError: the dataset's checksum differs from the one recorded in the split.
        """
        recorded = self.params.get("data_checksum")
        if recorded is None:
            if "dataset_sha256" in self.params:  # written before data_checksum: bytes of one CPU's floats
                logger.warning("%s records only a machine-dependent data checksum (an older lessdata); "
                               "not checked", path)
            return
        now = dataset_checksum(dataset)
        if recorded != now:
            raise DatasetError(f"{path} was made from other data of {self.dataset}/{self.target} "
                               f"(checksum {recorded[:12]} vs now {now[:12]}); the dataset changed since: "
                               "use another --out folder or delete the split file")

    def summary(self) -> str:
        """One line with the size of each set, and why these OOD sets were made."""
        parts = [f"pool {len(self.pool_ids)}", f"id_test {len(self.test_ids)}"]
        parts += [f"{ood_eval_set(name)} {len(ids)}" for name, ids in self.ood_ids.items()]
        reason = self.params.get("ood_reason", "")
        return (f"split {self.dataset}/{self.target} [{self.label}]: " + ", ".join(parts)
                + (f"\n  OOD sets: {reason}" if reason else ""))


def split_label(seed: int, test_ids_sha256: str | None = None) -> str:
    """The ``split`` label of an ID hold-out: ``s<seed>`` or ``ids-<first 8 hex of the id-list sha>``."""
    return f"ids-{test_ids_sha256[:8]}" if test_ids_sha256 else f"s{int(seed)}"


def id_set_sha256(ids: Sequence[str] | np.ndarray) -> str:
    """Checksum of a given ID test set: of the set, not of the file's order."""
    return lio.sha256_strings(np.sort(np.asarray(ids, dtype=str)))


def given_split_label(test_ids: Sequence[str] | np.ndarray) -> str:
    """The ``split`` label of a hold-out given as an id list (``--id-test-ids``), e.g. ``ids-14609080``."""
    return split_label(config.ID_SPLIT_SEED, id_set_sha256(test_ids))


def dataset_checksum(dataset: Dataset) -> str:
    """Checksum of what a split depends on and what models see: ids, targets and features.

    Ids exactly; targets and features through :func:`lessdata.files.numeric_sha256`, so the features
    rebuilt on another CPU (equal up to the last bits) still match while a changed table does not.
    """
    digest = hashlib.sha256(lio.sha256_strings(dataset.ids).encode())
    digest.update(lio.numeric_sha256(dataset.y, dataset.X).encode())
    return digest.hexdigest()


def read_id_list(path: str | Path) -> np.ndarray:
    """Ids from a text file, one per line (blank lines and ``#`` comments ignored).

    Raises:
        MissingDataFileError: the file is missing.
        DatasetError: the file is empty or lists an id twice.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingDataFileError(f"--id-test-ids {path}: no such file (one id per line)")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise DatasetError(f"--id-test-ids {path}: cannot be read as text ({error}); give a text file with "
                           "one id per line") from error
    ids = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not ids:
        raise DatasetError(f"--id-test-ids {path}: the file lists no id (one id per line)")
    duplicated = sorted({i for i in ids if ids.count(i) > 1}) if len(set(ids)) != len(ids) else []
    if duplicated:
        raise DatasetError(f"--id-test-ids {path}: ids listed twice, e.g. {', '.join(duplicated[:5])}")
    return np.array(ids, dtype=str)


def make_split(dataset: Dataset, *, ood: list[OODSpec] | None = None,
               test_fraction: float = config.ID_TEST_FRACTION, seed: int = config.ID_SPLIT_SEED,
               newer: Dataset | None = None, test_ids: np.ndarray | None = None) -> Split:
    """Carve OOD sets out of ``dataset``, then split the rest into pool and ID test (random, seeded).

    The random split runs over the rows in the dataset's own order (a Zenodo table's file order), as
    scikit-learn's ``train_test_split`` did in the study, so the same seed gives the same hold-out.

    Args:
        dataset: the cleaned dataset.
        ood: OOD splitters (None: :func:`default_ood`; an empty list: none, the whole table).
        test_fraction: share of the in-distribution rows held out as ID test (paper: 0.1).
        seed: random seed of the ID split (paper: 0).
        newer: the later snapshot for a ``version`` OOD split (loaded from the registry if None).
        test_ids: a given ID test set (e.g. the authors' own hold-out); then ``test_fraction`` and
            ``seed`` do not choose it.

    Raises:
        DatasetError: a given test id is not in the dataset or falls in an OOD set.
    """
    if ood is None:
        ood, reason = default_ood(dataset)
    else:
        reason = ("none (--ood none): the whole table is pool + ID test" if not ood
                  else "as asked: " + ", ".join(spec.name for spec in ood))
    in_ood = np.zeros(len(dataset), dtype=bool)
    ood_ids: dict[str, np.ndarray] = {}
    for spec in ood:
        if spec.kind == "version":
            continue
        mask = _ood_mask(dataset, spec, seed) & ~in_ood
        ood_ids[spec.name] = dataset.ids[mask]
        in_ood |= mask
    remaining = np.flatnonzero(~in_ood)
    test_sha = None
    if test_ids is None:
        pool, test = train_test_split(remaining, test_size=test_fraction, random_state=seed)
    else:
        test_ids = np.asarray(test_ids, dtype=str)
        known = pd.Index(dataset.ids)
        positions = known.get_indexer(test_ids)
        if (positions < 0).any():
            missing = test_ids[positions < 0]
            raise DatasetError(f"{len(missing)} of the given ID test ids are not in {dataset.name}/"
                               f"{dataset.target} (after cleaning), e.g. {', '.join(missing[:5])}")
        if in_ood[positions].any():
            clash = test_ids[in_ood[positions]]
            raise DatasetError(f"{len(clash)} given ID test ids fall in an OOD set, e.g. "
                               f"{', '.join(clash[:5])}; use --ood none or other OOD sets")
        test = positions
        pool = np.setdiff1d(remaining, test)
        test_sha = id_set_sha256(test_ids)
    for spec in ood:
        if spec.kind == "version":
            newer = newer or _newer_snapshot(dataset)
            ood_ids["version"] = np.array(sorted(set(newer.ids) - set(dataset.ids)), dtype=str)
    return Split(dataset.name, dataset.target, dataset.ids[np.sort(pool)], dataset.ids[np.sort(test)],
                 ood_ids, {"test_fraction": test_fraction, "seed": seed,
                           "ood": [[spec.kind, spec.value] for spec in ood], "ood_reason": reason,
                           "test_ids_sha256": test_sha, "data_checksum": dataset_checksum(dataset)})


def _newer_snapshot(dataset: Dataset) -> Dataset:
    spec = resolve(dataset.name)
    if not spec.newer:
        raise DatasetError(f"OOD split 'version' needs a later snapshot of {dataset.name!r}; none is "
                           "registered (only jarvis -> jarvis22, mp18 -> mp, oqmd1.0 -> oqmd)")
    return load_dataset(spec.newer, dataset.target, download=False)


def coverage(X_pool: np.ndarray, X_test: np.ndarray, ood_sets: dict[str, np.ndarray], *,
             max_points: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Distance of each evaluation set's points to their nearest pool point, against the ID test set's.

    A "OOD" set whose nearest-neighbour distances look like the ID test set's is interpolation, not
    extrapolation.  Sets are subsampled to ``max_points`` rows for speed.

    Returns:
        One row per set: n, median and 90th-percentile nearest-pool distance, ratio of medians to the ID
        test set's, and the share of points closer to the pool than the ID test set's 95th percentile.
    """
    rng = np.random.default_rng(seed)
    neighbours = NearestNeighbors(n_neighbors=1).fit(X_pool)

    def distances(X: np.ndarray) -> np.ndarray:
        if len(X) > max_points:
            X = X[rng.choice(len(X), max_points, replace=False)]
        return neighbours.kneighbors(X)[0][:, 0]

    reference = distances(X_test)
    rows = []
    for name, X in {"id_test": X_test, **ood_sets}.items():
        if len(X) == 0:
            continue
        found = reference if name == "id_test" else distances(X)
        rows.append({"eval_set": name if name == "id_test" else ood_eval_set(name), "n": int(len(X)),
                     "median_nn_distance": float(np.median(found)),
                     "p90_nn_distance": float(np.quantile(found, 0.9)),
                     "median_ratio_to_id": float(np.median(found) / np.median(reference)),
                     "share_within_id_p95": float(np.mean(found <= np.quantile(reference, 0.95)))})
    return pd.DataFrame(rows)
