"""The study's matminer feature sets, computed in batches, with failures recorded and results cached.

:func:`featurize_compositions` (145 compositional features) and :func:`featurize_structures` (128
structural, then 145 compositional) return a :class:`FeaturizationResult`: one row per input, ``NaN``
where a featurizer failed, and a table of the failures.  Which features and why: ``docs/decisions.md``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import math
import time
import warnings
from collections.abc import Callable, Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, cpu_count, delayed
from matminer.featurizers.base import BaseFeaturizer, MultipleFeaturizer
from matminer.featurizers.composition import ElementProperty, IonProperty, Stoichiometry, ValenceOrbital
from matminer.featurizers.structure import (
    ChemicalOrdering,
    MaximumPackingEfficiency,
    SiteStatsFingerprint,
    StructuralHeterogeneity,
)
from pymatgen.core import Composition, Structure
from tqdm.auto import tqdm

from lessdata.data.structures import _parse_all, parse_formula, parse_structure, structure_hash
from lessdata.errors import LessdataError
from lessdata.features.cache import StructureFeatureStore, cache_file, read_cached, write_cached
from lessdata.features.voronoi import shared_tessellations

__all__ = [
    "COMPOSITION_FEATURE_COUNT",
    "STRUCTURE_FEATURE_COUNT",
    "STRUCTURE_AND_COMPOSITION_FEATURE_COUNT",
    "FEATURE_SETS",
    "FeatureSet",
    "FeaturizationResult",
    "composition_featurizer",
    "structure_featurizer",
    "composition_feature_labels",
    "structure_feature_labels",
    "structure_and_composition_feature_labels",
    "featurize_compositions",
    "featurize_structures",
]

logger = logging.getLogger(__name__)

COMPOSITION_FEATURE_COUNT = 145
STRUCTURE_FEATURE_COUNT = 128
#: Width of the set used for structures: structural columns first, then compositional.
STRUCTURE_AND_COMPOSITION_FEATURE_COUNT = STRUCTURE_FEATURE_COUNT + COMPOSITION_FEATURE_COUNT

#: Rows per matminer call in the serial path: small enough for a live progress bar and a prompt Ctrl-C.
_SERIAL_CHUNK = 200
#: Structures per checkpoint file of the structural features: about a minute of work on 2 cores.
CHECKPOINT_CHUNK = 200


# --------------------------------------------------------------------------------------------------
# Feature sets
# --------------------------------------------------------------------------------------------------
def composition_featurizer() -> MultipleFeaturizer:
    """The paper's 145 compositional features (Ward et al. 2016) as one matminer featurizer.

    A new object is returned on every call because matminer featurizers are mutable (``set_n_jobs``).
    ``ElementProperty`` keeps matminer's default ``impute_nan=True``: elements without a tabulated
    Magpie property (noble gases, heavy actinides) get the imputed value instead of ``NaN``.
    """
    return MultipleFeaturizer(
        [
            Stoichiometry(),
            ElementProperty.from_preset("magpie"),
            ValenceOrbital(props=["frac"]),
            IonProperty(fast=True),
        ]
    )


def structure_featurizer() -> MultipleFeaturizer:
    """The paper's 128 structural features (Ward et al. 2017) as one matminer featurizer."""
    return MultipleFeaturizer(
        [
            SiteStatsFingerprint.from_preset("CoordinationNumber_ward-prb-2017"),
            SiteStatsFingerprint.from_preset("LocalPropertyDifference_ward-prb-2017"),
            StructuralHeterogeneity(),
            MaximumPackingEfficiency(),
            ChemicalOrdering(),
        ]
    )


def composition_feature_labels() -> list[str]:
    """Column names of the 145 compositional features, in matminer's order."""
    return list(composition_featurizer().feature_labels())


def structure_feature_labels() -> list[str]:
    """Column names of the 128 structural features, in matminer's order."""
    return list(structure_featurizer().feature_labels())


def structure_and_composition_feature_labels() -> list[str]:
    """Column names of the 273-feature set: 128 structural, then 145 compositional (the paper's order)."""
    return structure_feature_labels() + composition_feature_labels()


# --------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class FeaturizationResult:
    """Features of a batch, with every failure accounted for.

    Attributes:
        features: One row per input in input order (``RangeIndex``), ``float64``; ``NaN`` where a
            featurizer failed for that row (the other featurizers' columns keep their values), and
            where matminer returned ``+-inf``.
        failures: One line per failed input row, columns ``row`` (position in the input), ``input``
            (the formula, or a short description of the structure) and ``error`` (the reason; when
            several featurizers failed, their reasons joined by ``"; "``).
        seconds: Wall time of the call (loading from the cache included).
        from_cache: Whether the features were read from the parquet cache.
    """

    features: pd.DataFrame
    failures: pd.DataFrame
    seconds: float
    from_cache: bool

    @property
    def failed_rows(self) -> np.ndarray:
        """Positions of the rows listed in ``failures``, sorted."""
        return np.sort(self.failures["row"].to_numpy(dtype=np.int64))


# --------------------------------------------------------------------------------------------------
# Batch entry points
# --------------------------------------------------------------------------------------------------
def featurize_compositions(
    formulas: Sequence[str],
    *,
    cache_dir: Path | None = None,
    progress: bool = True,
    n_jobs: int = 1,
) -> FeaturizationResult:
    """Compute the 145 compositional features for a list of formulas.

    Formulas are parsed with :func:`parse_formula`; identical compositions are featurized once and
    mapped back.  A formula that cannot be parsed, or for which a featurizer fails, gets ``NaN`` in
    the affected columns and a line in ``failures``; the batch never stops for one bad row.

    Args:
        formulas: Formula strings, one per row.
        cache_dir: Folder for the parquet cache; ``None`` disables caching.
        progress: Show a progress bar.
        n_jobs: Worker processes (``-1``: all cores).  1 is fastest on small machines.

    Returns:
        The features (columns = :func:`composition_feature_labels`) and the failures.
    """
    start = time.perf_counter()
    _resolve_n_jobs(n_jobs)  # fail on a bad setting before any work, not after parsing
    inputs = list(formulas)
    labels = composition_feature_labels()
    cache_path = cache_file(cache_dir, "composition", [str(item) for item in inputs], labels)
    cached = read_cached(cache_path, labels, len(inputs))
    if cached is not None:
        features, errors = cached
        return _result(features, errors, [str(item) for item in inputs], start, from_cache=True)

    compositions, errors = _parse_all(inputs, parse_formula)
    values, feature_errors = _featurize_compositions(compositions, progress=progress, n_jobs=n_jobs)
    errors = [_join_errors(first, second) for first, second in zip(errors, feature_errors, strict=True)]
    features = _feature_frame(values, labels)
    write_cached(cache_path, features, errors)
    return _result(features, errors, [str(item) for item in inputs], start, from_cache=False)


def featurize_structures(
    structures: Sequence[Structure | Mapping[str, Any] | str],
    *,
    cache_dir: Path | None = None,
    progress: bool = True,
    n_jobs: int = 1,
    share_tessellations: bool = True,
) -> FeaturizationResult:
    """Compute the 273 features (128 structural, then 145 compositional) for a list of structures.

    Each input goes through :func:`parse_structure` (so CIF/POSCAR text and pymatgen/jarvis dicts are
    accepted too), is wrapped into the unit cell and stripped of oxidation states.  Identical
    structures, and identical compositions for the compositional half, are featurized once.  An input
    that cannot be parsed, or for which any featurizer fails, gets ``NaN`` in the affected columns and
    a line in ``failures``.

    With a ``cache_dir`` the structural features are also checkpointed every
    :data:`CHECKPOINT_CHUNK` structures (:class:`StructureFeatureStore`), so an interrupted run resumes
    where it stopped and a later batch reuses every structure already done.

    Args:
        structures: One structure per row.
        cache_dir: Folder for the parquet cache; ``None`` disables caching.
        progress: Show progress bars.
        n_jobs: Worker processes (``-1``: all cores).
        share_tessellations: Tessellate each structure once for all Voronoi-based featurizers
            (:func:`lessdata.features.voronoi.shared_tessellations`; same values, several times faster).
            ``False`` runs matminer exactly as it is (the benchmark's reference).

    Returns:
        The features (columns = :func:`structure_and_composition_feature_labels`) and the failures.
    """
    start = time.perf_counter()
    _resolve_n_jobs(n_jobs)
    inputs = list(structures)
    labels = structure_and_composition_feature_labels()
    parsed, errors = _parse_all(inputs, parse_structure)
    hashes = [structure_hash(item) if item is not None else _unparsed_key(raw) for item, raw in
              zip(parsed, inputs, strict=True)]
    descriptions = [item.composition.reduced_formula if item is not None else _describe(raw)
                    for item, raw in zip(parsed, inputs, strict=True)]

    cache_path = cache_file(cache_dir, "structure", hashes, labels)
    cached = read_cached(cache_path, labels, len(inputs))
    if cached is not None:
        features, cached_errors = cached
        return _result(features, cached_errors, descriptions, start, from_cache=True)

    # Oxidation states change neither the structural features nor (once stripped) the compositional
    # ones, so duplicates are found after stripping them.
    plain = [_without_oxidation_states(item) if item is not None else None for item in parsed]
    store = StructureFeatureStore(Path(cache_dir)) if cache_dir is not None else None
    structural, structural_errors = _featurize_unique(
        structure_featurizer(), plain, [structure_hash(item) if item is not None else None for item in plain],
        progress=progress, n_jobs=n_jobs, desc="structural features", unit="structure",
        store=store, share_tessellations=share_tessellations,
    )
    # One process for compositions: matminer's worker start-up costs more than these cheap rows.
    compositional, compositional_errors = _featurize_compositions(
        [item.composition.element_composition if item is not None else None for item in plain],
        progress=progress, n_jobs=1,
    )
    errors = [_join_errors(*reasons) for reasons in zip(errors, structural_errors, compositional_errors,
                                                          strict=True)]
    features = _feature_frame(np.hstack([structural, compositional]), labels)
    write_cached(cache_path, features, errors)
    return _result(features, errors, descriptions, start, from_cache=False)


# --------------------------------------------------------------------------------------------------
# Featurization internals
# --------------------------------------------------------------------------------------------------
def _featurize_compositions(
    compositions: Sequence[Composition | None], *, progress: bool, n_jobs: int
) -> tuple[np.ndarray, list[str | None]]:
    """Compositional features of parsed compositions (``None`` rows are skipped, left ``NaN``).

    Compositions are deduplicated on their exact element amounts and featurized in a canonical
    (alphabetical) element order, so the values of a composition never depend on how, or in which
    row, it was first written.
    """
    keys: list[Hashable | None] = []
    canonical: list[Composition | None] = []
    for composition in compositions:
        if composition is None:
            keys.append(None)
            canonical.append(None)
            continue
        items = sorted((element.symbol, float(amount)) for element, amount in composition.items())
        keys.append(tuple(items))
        canonical.append(Composition(dict(items)))
    return _featurize_unique(
        composition_featurizer(), canonical, keys,
        progress=progress, n_jobs=n_jobs, desc="compositional features", unit="formula",
    )


def _featurize_unique(
    featurizer: MultipleFeaturizer,
    entries: Sequence[Any],
    keys: Sequence[Hashable | None],
    *,
    progress: bool,
    n_jobs: int,
    desc: str,
    unit: str,
    store: StructureFeatureStore | None = None,
    share_tessellations: bool = False,
) -> tuple[np.ndarray, list[str | None]]:
    """Featurize each distinct key once and map the values back to every row.

    Rows whose key is ``None`` (inputs that failed to parse) are left ``NaN`` with no error of their
    own; the caller already recorded why.  With a ``store``, keys it holds are read from it and the
    others are written to it chunk by chunk as they finish.
    """
    width = len(featurizer.feature_labels())
    first_row: dict[Hashable, int] = {}
    for row, key in enumerate(keys):
        if key is not None and key not in first_row:
            first_row[key] = row
    unique_keys = list(first_row)
    if len(unique_keys) < sum(key is not None for key in keys):
        logger.info("%s: %d distinct of %d inputs", desc, len(unique_keys),
                    sum(key is not None for key in keys))
    known = store.read(list(featurizer.feature_labels())) if store is not None else {}
    todo = [key for key in unique_keys if key not in known]
    if known and store is not None:
        logger.info("%s: %d of %d distinct inputs read from %s", desc, len(unique_keys) - len(todo),
                    len(unique_keys), store.folder)

    def checkpoint(start: int, block: np.ndarray, block_errors: list[str | None]) -> None:
        if store is not None:
            store.write(todo[start:start + len(block)], block, block_errors,
                        list(featurizer.feature_labels()))

    todo_values, todo_errors = _run_featurizer(
        featurizer, [entries[first_row[key]] for key in todo], progress=progress, n_jobs=n_jobs,
        desc=desc, unit=unit, chunk_limit=CHECKPOINT_CHUNK if store is not None else None,
        on_block=checkpoint, share_tessellations=share_tessellations,
    )
    for index, key in enumerate(todo):
        known[key] = (todo_values[index], todo_errors[index])
    unique_values = np.array([known[key][0] for key in unique_keys]).reshape(len(unique_keys), width)
    unique_errors = [known[key][1] for key in unique_keys]
    position = {key: index for index, key in enumerate(first_row)}
    values = np.full((len(keys), width), np.nan)
    errors: list[str | None] = [None] * len(keys)
    for row, key in enumerate(keys):
        if key is None:
            continue
        values[row] = unique_values[position[key]]
        errors[row] = unique_errors[position[key]]
    return values, errors


def _run_featurizer(
    featurizer: MultipleFeaturizer,
    entries: list[Any],
    *,
    progress: bool,
    n_jobs: int,
    desc: str,
    unit: str,
    chunk_limit: int | None = None,
    on_block: Callable[[int, np.ndarray, list[str | None]], None] | None = None,
    share_tessellations: bool = False,
) -> tuple[np.ndarray, list[str | None]]:
    """Run matminer over ``entries`` in chunks, serially or in joblib worker processes.

    Chunking serves four purposes: one progress bar over the whole batch, a Ctrl-C that takes effect
    within one chunk (matminer's ``ignore_errors`` catches ``BaseException``, so an interrupt would
    otherwise be recorded as a per-row error and the loop would carry on), few large tasks for the
    worker processes, whose start-up (importing matminer) costs seconds, and checkpoints: each
    finished chunk goes to ``on_block(first_position, values, errors)`` in input order, so at most
    ``chunk_limit`` entries per worker are lost to an interruption.
    """
    width = len(featurizer.feature_labels())
    if not entries:
        return np.empty((0, width)), []
    workers = _resolve_n_jobs(n_jobs)
    if workers == 1:
        chunk = _SERIAL_CHUNK
    else:
        chunk = max(1, math.ceil(len(entries) / (4 * workers)))
    if chunk_limit is not None:
        chunk = min(chunk, chunk_limit)
    workers = min(workers, math.ceil(len(entries) / chunk))
    chunks = [entries[begin:begin + chunk] for begin in range(0, len(entries), chunk)]
    if workers == 1:
        results = (_featurize_chunk(featurizer, part, share_tessellations) for part in chunks)
    else:
        results = Parallel(n_jobs=workers, return_as="generator")(
            delayed(_featurize_chunk)(featurizer, part, share_tessellations) for part in chunks
        )
    blocks: list[np.ndarray] = []
    errors: list[str | None] = []
    done = 0
    with tqdm(total=len(entries), desc=desc, unit=unit, disable=not progress) as bar:
        for block, block_errors in results:
            if any(error is not None and ": KeyboardInterrupt" in error for error in block_errors):
                raise KeyboardInterrupt
            if on_block is not None:
                on_block(done, block, block_errors)
            blocks.append(block)
            errors.extend(block_errors)
            done += len(block)
            bar.update(len(block))
    return np.vstack(blocks), errors


def _featurize_chunk(
    featurizer: MultipleFeaturizer, entries: list[Any], share_tessellations: bool = False
) -> tuple[np.ndarray, list[str | None]]:
    """Featurize one chunk with matminer, keeping going past errors, and split values from reasons.

    With ``return_errors=True`` matminer appends, after each sub-featurizer's values, one extra entry
    holding the traceback text (``NaN`` on success); the layout is therefore known per sub-featurizer.
    """
    featurizer.set_n_jobs(1)
    sharing = shared_tessellations() if share_tessellations else contextlib.nullcontext()
    with warnings.catch_warnings(), sharing:
        # pymatgen warns once per element without a Pauling electronegativity (noble gases, the
        # superheavy elements); matminer's impute_nan=True replaces the NaN, so the warning is noise.
        warnings.filterwarnings("ignore", message="No Pauling electronegativity", category=UserWarning)
        rows = featurizer.featurize_many(entries, ignore_errors=True, return_errors=True, pbar=False)
    parts = featurizer.featurizers
    widths = [len(part.feature_labels()) for part in parts]
    values = np.full((len(rows), sum(widths)), np.nan)
    errors: list[str | None] = []
    for index, row in enumerate(rows):
        reasons = []
        out_column = 0
        in_column = 0
        for part, width in zip(parts, widths, strict=True):
            block = row[in_column:in_column + width]
            trace = row[in_column + width]
            if isinstance(trace, str):
                reasons.append(f"{_featurizer_name(part)}: {_last_line(trace)}")
            else:
                values[index, out_column:out_column + width] = np.asarray(block, dtype=np.float64)
            in_column += width + 1
            out_column += width
        errors.append("; ".join(reasons) if reasons else None)
    return values, errors


def _featurizer_name(featurizer: BaseFeaturizer) -> str:
    """Readable name of a sub-featurizer; the two ``SiteStatsFingerprint`` presets are told apart."""
    name = type(featurizer).__name__
    site_featurizer = getattr(featurizer, "site_featurizer", None)
    if site_featurizer is not None:
        name += f"({type(site_featurizer).__name__})"
    return name


def _last_line(trace: str) -> str:
    """The exception line of a formatted traceback (``"ValueError: ..."``)."""
    lines = [line.strip() for line in trace.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "unknown error"


def _resolve_n_jobs(n_jobs: int) -> int:
    """Number of worker processes for ``n_jobs`` (joblib's convention: -1 = all cores)."""
    if not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0:
        raise LessdataError(f"n_jobs must be a non-zero integer, got {n_jobs!r}")
    if n_jobs > 0:
        return int(n_jobs)
    return max(1, cpu_count() + 1 + int(n_jobs))


def _feature_frame(values: np.ndarray, labels: list[str]) -> pd.DataFrame:
    """``float64`` frame with ``+-inf`` replaced by ``NaN`` (the paper's first cleaning step)."""
    clean = np.array(values, dtype=np.float64)
    clean[~np.isfinite(clean)] = np.nan
    return pd.DataFrame(clean, columns=pd.Index(labels, dtype=object))


def _join_errors(*reasons: str | None) -> str | None:
    kept = [reason for reason in reasons if reason]
    return "; ".join(kept) if kept else None


def _result(
    features: pd.DataFrame, errors: Sequence[str | None], inputs: Sequence[str], start: float,
    *, from_cache: bool,
) -> FeaturizationResult:
    failed = [row for row, error in enumerate(errors) if error]
    failures = pd.DataFrame(
        {
            "row": pd.Series(failed, dtype=np.int64),
            "input": pd.Series([inputs[row] for row in failed], dtype=object),
            "error": pd.Series([errors[row] for row in failed], dtype=object),
        }
    )
    if failed:
        logger.warning("featurization failed for %d of %d rows (see FeaturizationResult.failures)",
                       len(failed), len(errors))
    return FeaturizationResult(features=features, failures=failures,
                               seconds=time.perf_counter() - start, from_cache=from_cache)


@dataclasses.dataclass(frozen=True)
class FeatureSet:
    """A named feature preset: what it is computed from, its columns and the function computing them."""

    name: str
    input_kind: str  # ``composition`` (a formula column) or ``structure``: ``DatasetSpec.input_kind``
    n_structural: int  # leading structural columns (the rest are compositional)
    labels: Callable[[], list[str]]
    compute: Callable[..., FeaturizationResult]
    description: str


#: The paper's feature sets by the input they need (``DatasetSpec.input_kind``).
FEATURE_SETS: dict[str, FeatureSet] = {
    "composition": FeatureSet("composition", "composition", 0, composition_feature_labels,
                              featurize_compositions, "145 compositional features (Ward et al. 2016)"),
    "structure": FeatureSet("structure+composition", "structure", STRUCTURE_FEATURE_COUNT,
                            structure_and_composition_feature_labels, featurize_structures,
                            "128 structural (Ward et al. 2017) + 145 compositional features"),
}


# --------------------------------------------------------------------------------------------------
# Input helpers
# --------------------------------------------------------------------------------------------------
def _without_oxidation_states(structure: Structure) -> Structure:
    plain = structure.copy()
    plain.remove_oxidation_states()
    return plain


def _unparsed_key(obj: Any) -> str:
    """Cache-key stand-in for an input that did not parse (its text, or its repr)."""
    text = obj if isinstance(obj, str) else repr(obj)
    return "unparsed:" + hashlib.sha256(text.encode()).hexdigest()


def _describe(obj: Any, limit: int = 60) -> str:
    """Short, single-line description of a raw input for the failures table."""
    text = " ".join(str(obj).split())
    return f"{type(obj).__name__}: {text[:limit]}{'...' if len(text) > limit else ''}"
