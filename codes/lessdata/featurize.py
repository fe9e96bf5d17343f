"""The study's matminer feature sets, computed in batches, with failures recorded and results cached.

Li et al. (Nat Commun 14, 7283, 2023) describe every material by two fixed matminer feature sets, and
this module reproduces exactly those:

* **compositional (145)**: ``Stoichiometry``, ``ElementProperty`` with the "magpie" preset,
  ``ValenceOrbital(props=["frac"])`` and ``IonProperty(fast=True)`` -- the general-purpose attribute
  set of Ward, Agrawal, Choudhary & Wolverton, npj Comput. Mater. 2, 16028 (2016);
* **structural (128)**: ``SiteStatsFingerprint`` with the "CoordinationNumber_ward-prb-2017" and
  "LocalPropertyDifference_ward-prb-2017" presets, ``StructuralHeterogeneity``,
  ``MaximumPackingEfficiency`` and ``ChemicalOrdering`` -- the Voronoi-tessellation attributes of
  Ward et al., Phys. Rev. B 96, 024104 (2017).

All featurization is done by matminer (Ward et al., Comput. Mater. Sci. 152, 60-69, 2018); this module
only decides *what* is computed and adds what a long batch run needs around it:

* one row per input in input order, ``float64``, ``NaN`` where a featurizer failed, and a ``failures``
  table naming the row, the input and the reason -- nothing is dropped silently;
* identical inputs are featurized once (the 47k-entry MP-2018 set has ~35k distinct formulas);
* a parquet cache keyed by the inputs, the feature labels and the matminer/pymatgen versions, so a
  rerun loads in seconds and a library upgrade can never serve stale features;
* parsers for the formats users bring (formula text, CIF, POSCAR, pymatgen and jarvis dicts) that
  fail with a message naming the format and the problem.

Two preprocessing rules come from the paper and from matminer's requirements:

* structures are wrapped into the unit cell before featurization (the paper does this; jarvis
  structures often carry coordinates outside [0, 1));
* oxidation states are stripped before featurization.  ``IonProperty(fast=True)`` decides "compound
  possible" by enumerating each element's common oxidation states only when the composition carries
  none; a decorated composition silently switches it to the assigned charges, so the same material
  would get different features depending on how it was stored.

The 273-column set for structures is the 128 structural columns followed by the 145 compositional
ones, the column order of the paper's ``*_featurized_matminer.pkl`` files.

Parallelism: ``n_jobs=1`` is the default because it was measured faster on a two-core machine
(matminer's own pool starts a fresh process for every chunk, ``maxtasksperchild=1``, and can hang,
matminer issues #638 and #902).  ``n_jobs > 1`` splits the distinct inputs into a few large chunks
run by joblib workers, each calling matminer serially.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import json
import logging
import math
import re
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
from pymatgen.core import Composition, Lattice, Structure
from pymatgen.core.periodic_table import DummySpecies
from tqdm.auto import tqdm

from lessdata.io import atomic_path

__all__ = [
    "COMPOSITION_FEATURE_COUNT",
    "STRUCTURE_FEATURE_COUNT",
    "STRUCTURE_AND_COMPOSITION_FEATURE_COUNT",
    "FeaturizationResult",
    "composition_featurizer",
    "structure_featurizer",
    "composition_feature_labels",
    "structure_feature_labels",
    "structure_and_composition_feature_labels",
    "featurize_compositions",
    "featurize_structures",
    "parse_formula",
    "parse_structure",
    "structure_hash",
]

logger = logging.getLogger(__name__)

COMPOSITION_FEATURE_COUNT = 145
STRUCTURE_FEATURE_COUNT = 128
#: Width of the set used for structures: structural columns first, then compositional.
STRUCTURE_AND_COMPOSITION_FEATURE_COUNT = STRUCTURE_FEATURE_COUNT + COMPOSITION_FEATURE_COUNT

#: Bumped whenever this module changes what ends up in a cache file, so old files are not reused.
_CACHE_SCHEMA = 1
#: Column of the cache file holding the per-row failure reason (empty string when the row succeeded).
_ERROR_COLUMN = "__featurize_error__"
#: Rows per matminer call in the serial path: small enough for a live progress bar and a prompt Ctrl-C.
_SERIAL_CHUNK = 200
#: Decimals kept when hashing structures: far below DFT precision, far above float round-off.
_HASH_DECIMALS = 10


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
# Parsing
# --------------------------------------------------------------------------------------------------
def parse_formula(text: str) -> Composition:
    """Parse a chemical formula into an element-only pymatgen ``Composition``.

    pymatgen accepts some strings that are not chemistry (it turns unknown symbols such as "Xx" into
    dummy species, and "Fe0" into an empty composition); those would only fail later, deep inside a
    featurizer, so they are rejected here with the reason.

    Args:
        text: A formula such as ``"Fe2O3"``, ``"Li0.5CoO2"`` or ``"Ca(OH)2"``.

    Returns:
        The composition, without oxidation states.

    Raises:
        ValueError: If ``text`` is not a string, is empty, cannot be parsed, names an unknown element
            or contains no atoms.  The message names the formula.
    """
    if not isinstance(text, str):
        kind = "missing value (NaN/None)" if _is_missing(text) else type(text).__name__
        raise ValueError(f"formula must be text, got {kind}: {text!r}")
    stripped = text.strip()
    if not stripped:
        raise ValueError(f"empty formula {text!r}")
    try:
        composition = Composition(stripped)
    except Exception as exc:  # pymatgen raises ValueError, KeyError, ... depending on the defect
        raise ValueError(f"cannot parse formula {text!r}: {exc}") from exc
    unknown = sorted({species.symbol for species in composition if isinstance(species, DummySpecies)})
    if unknown:
        raise ValueError(f"formula {text!r} contains unknown element symbol(s): {', '.join(unknown)}")
    if composition.num_atoms <= 0:
        raise ValueError(f"formula {text!r} contains no atoms")
    return composition.element_composition


def parse_structure(obj: Any) -> Structure:
    """Read a crystal structure from any of the formats lessdata accepts, wrapped into the unit cell.

    Accepted inputs: a pymatgen ``Structure``; a pymatgen ``Structure.as_dict()`` dict; a jarvis-tools
    ``Atoms.to_dict()`` dict (keys ``lattice_mat``, ``coords``, ``elements``, ``cartesian``); the JSON
    text of either dict; CIF text; POSCAR text.  The jarvis dict is converted directly (lattice,
    species, coordinates in the frame that ``cartesian`` names), which is what jarvis'
    ``Atoms.pymatgen_converter`` does, without importing jarvis.

    Disordered structures (partial occupancies) are rejected: the structural featurizers fail on them
    with unhelpful errors, and graph models need one species per site.

    Args:
        obj: The structure in one of the formats above.

    Returns:
        A new ``Structure`` with every site's fractional coordinates in [0, 1).

    Raises:
        ValueError: With a message naming the detected format and what went wrong.
    """
    if isinstance(obj, Structure):
        fmt, structure = "pymatgen Structure", obj.copy()
    elif isinstance(obj, Mapping):
        fmt, structure = _structure_from_mapping(obj, source="dict")
    elif isinstance(obj, (str, bytes)):
        fmt, structure = _structure_from_text(obj.decode() if isinstance(obj, bytes) else obj)
    elif _is_missing(obj):
        raise ValueError(f"missing structure (got {obj!r})")
    else:
        raise ValueError(
            f"unsupported structure input of type {type(obj).__name__}; expected a pymatgen Structure, "
            "a pymatgen or jarvis dict, JSON text, CIF text or POSCAR text"
        )
    _validate_structure(structure, fmt)
    return _wrapped(structure)


def structure_hash(structure: Structure) -> str:
    """Stable sha256 of a structure, for cache keys (features here, graphs in the ALIGNN wrapper).

    The hash covers what the features and graphs depend on -- lattice matrix, periodicity, charge, and
    per site the species (with oxidation state and occupancy) and fractional coordinates -- written
    as canonical JSON with numbers rounded to 1e-10.  Coordinates are wrapped into [0, 1) first, so a
    structure and its wrapped copy hash alike.  Site properties (magnetic moments, labels) and
    pymatgen's serialization format are left out, so the hash survives pymatgen upgrades.

    Args:
        structure: A pymatgen ``Structure``.

    Returns:
        64 hex characters.
    """
    return hashlib.sha256(_canonical_structure_json(structure).encode()).hexdigest()


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
    cache_path = _cache_path(cache_dir, "composition", [str(item) for item in inputs], labels)
    cached = _read_cache(cache_path, labels, len(inputs))
    if cached is not None:
        features, errors = cached
        return _result(features, errors, [str(item) for item in inputs], start, from_cache=True)

    compositions, errors = _parse_all(inputs, parse_formula)
    values, feature_errors = _featurize_compositions(compositions, progress=progress, n_jobs=n_jobs)
    errors = [_join_errors(first, second) for first, second in zip(errors, feature_errors, strict=True)]
    features = _feature_frame(values, labels)
    _write_cache(cache_path, features, errors)
    return _result(features, errors, [str(item) for item in inputs], start, from_cache=False)


def featurize_structures(
    structures: Sequence[Structure | Mapping[str, Any] | str],
    *,
    cache_dir: Path | None = None,
    progress: bool = True,
    n_jobs: int = 1,
) -> FeaturizationResult:
    """Compute the 273 features (128 structural, then 145 compositional) for a list of structures.

    Each input goes through :func:`parse_structure` (so CIF/POSCAR text and pymatgen/jarvis dicts are
    accepted too), is wrapped into the unit cell and stripped of oxidation states.  Identical
    structures, and identical compositions for the compositional half, are featurized once.  An input
    that cannot be parsed, or for which any featurizer fails, gets ``NaN`` in the affected columns and
    a line in ``failures``.

    Args:
        structures: One structure per row.
        cache_dir: Folder for the parquet cache; ``None`` disables caching.
        progress: Show progress bars.
        n_jobs: Worker processes (``-1``: all cores).

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

    cache_path = _cache_path(cache_dir, "structure", hashes, labels)
    cached = _read_cache(cache_path, labels, len(inputs))
    if cached is not None:
        features, cached_errors = cached
        return _result(features, cached_errors, descriptions, start, from_cache=True)

    # Oxidation states change neither the structural features nor (once stripped) the compositional
    # ones, so duplicates are found after stripping them.
    plain = [_without_oxidation_states(item) if item is not None else None for item in parsed]
    structural, structural_errors = _featurize_unique(
        structure_featurizer(), plain, [structure_hash(item) if item is not None else None for item in plain],
        progress=progress, n_jobs=n_jobs, desc="structural features", unit="structure",
    )
    compositional, compositional_errors = _featurize_compositions(
        [item.composition.element_composition if item is not None else None for item in plain],
        progress=progress, n_jobs=n_jobs,
    )
    errors = [_join_errors(*reasons) for reasons in zip(errors, structural_errors, compositional_errors,
                                                          strict=True)]
    features = _feature_frame(np.hstack([structural, compositional]), labels)
    _write_cache(cache_path, features, errors)
    return _result(features, errors, descriptions, start, from_cache=False)


# --------------------------------------------------------------------------------------------------
# Featurization internals
# --------------------------------------------------------------------------------------------------
def _parse_all(inputs: Sequence[Any], parse: Callable[[Any], Any]) -> tuple[list[Any], list[str | None]]:
    """Parse every input, recording (never raising) each failure as that row's error text.

    Returns:
        (parsed objects with None where parsing failed, per-row error or None).
    """
    parsed: list[Any] = []
    errors: list[str | None] = [None] * len(inputs)
    for row, item in enumerate(inputs):
        try:
            parsed.append(parse(item))
        except Exception as exc:  # ValueError by contract; anything else is recorded too, not raised
            parsed.append(None)
            errors[row] = f"parse: {_exception_text(exc)}"
    return parsed, errors


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
) -> tuple[np.ndarray, list[str | None]]:
    """Featurize each distinct key once and map the values back to every row.

    Rows whose key is ``None`` (inputs that failed to parse) are left ``NaN`` with no error of their
    own; the caller already recorded why.
    """
    width = len(featurizer.feature_labels())
    first_row: dict[Hashable, int] = {}
    for row, key in enumerate(keys):
        if key is not None and key not in first_row:
            first_row[key] = row
    unique_rows = list(first_row.values())
    if len(unique_rows) < sum(key is not None for key in keys):
        logger.info("%s: %d distinct of %d inputs", desc, len(unique_rows),
                    sum(key is not None for key in keys))
    unique_values, unique_errors = _run_featurizer(
        featurizer, [entries[row] for row in unique_rows], progress=progress, n_jobs=n_jobs,
        desc=desc, unit=unit,
    )
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
) -> tuple[np.ndarray, list[str | None]]:
    """Run matminer over ``entries`` in chunks, serially or in joblib worker processes.

    Chunking serves three purposes: one progress bar over the whole batch, a Ctrl-C that takes effect
    within one chunk (matminer's ``ignore_errors`` catches ``BaseException``, so an interrupt would
    otherwise be recorded as a per-row error and the loop would carry on), and few large tasks for
    the worker processes, whose start-up (importing matminer) costs seconds.
    """
    width = len(featurizer.feature_labels())
    if not entries:
        return np.empty((0, width)), []
    workers = _resolve_n_jobs(n_jobs)
    if workers == 1:
        chunk = _SERIAL_CHUNK
    else:
        chunk = max(1, math.ceil(len(entries) / (4 * workers)))
        workers = min(workers, math.ceil(len(entries) / chunk))
    chunks = [entries[begin:begin + chunk] for begin in range(0, len(entries), chunk)]
    if workers == 1:
        results = (_featurize_chunk(featurizer, part) for part in chunks)
    else:
        results = Parallel(n_jobs=workers, return_as="generator")(
            delayed(_featurize_chunk)(featurizer, part) for part in chunks
        )
    blocks: list[np.ndarray] = []
    errors: list[str | None] = []
    with tqdm(total=len(entries), desc=desc, unit=unit, disable=not progress) as bar:
        for block, block_errors in results:
            if any(error is not None and ": KeyboardInterrupt" in error for error in block_errors):
                raise KeyboardInterrupt
            blocks.append(block)
            errors.extend(block_errors)
            bar.update(len(block))
    return np.vstack(blocks), errors


def _featurize_chunk(
    featurizer: MultipleFeaturizer, entries: list[Any]
) -> tuple[np.ndarray, list[str | None]]:
    """Featurize one chunk with matminer, keeping going past errors, and split values from reasons.

    With ``return_errors=True`` matminer appends, after each sub-featurizer's values, one extra entry
    holding the traceback text (``NaN`` on success); the layout is therefore known per sub-featurizer.
    """
    featurizer.set_n_jobs(1)
    with warnings.catch_warnings():
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
        raise ValueError(f"n_jobs must be a non-zero integer, got {n_jobs!r}")
    if n_jobs > 0:
        return int(n_jobs)
    return max(1, cpu_count() + 1 + int(n_jobs))


def _feature_frame(values: np.ndarray, labels: list[str]) -> pd.DataFrame:
    """``float64`` frame with ``+-inf`` replaced by ``NaN`` (the paper's first cleaning step)."""
    clean = np.array(values, dtype=np.float64)
    clean[~np.isfinite(clean)] = np.nan
    return pd.DataFrame(clean, columns=pd.Index(labels, dtype=object))


def _exception_text(exc: Exception) -> str:
    """The message of a ``ValueError`` (ours, already explicit); type and message of anything else."""
    return str(exc) if type(exc) is ValueError else f"{type(exc).__name__}: {exc}"


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


# --------------------------------------------------------------------------------------------------
# Cache
# --------------------------------------------------------------------------------------------------
def _package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _cache_path(
    cache_dir: Path | None, kind: str, inputs: Sequence[str], labels: Sequence[str]
) -> Path | None:
    """Cache file for this exact batch, or ``None`` when caching is off.

    The key covers the inputs in order, the labels and the versions of matminer and pymatgen (and
    pymatgen-core, which holds pymatgen's data tables in recent releases): a change in any of them
    means a different file, never a stale hit.
    """
    if cache_dir is None:
        return None
    digest = hashlib.sha256()
    header = {
        "schema": _CACHE_SCHEMA,
        "kind": kind,
        "labels": list(labels),
        "versions": {name: _package_version(name) for name in ("matminer", "pymatgen", "pymatgen-core")},
    }
    digest.update(json.dumps(header, sort_keys=True).encode())
    for item in inputs:
        digest.update(b"\0")
        digest.update(item.encode())
    return Path(cache_dir) / f"{kind}_features_{digest.hexdigest()[:32]}.parquet"


def _read_cache(
    path: Path | None, labels: list[str], n_rows: int
) -> tuple[pd.DataFrame, list[str | None]] | None:
    """Features and errors from a cache file, or ``None`` if absent or unusable (then recomputed)."""
    if path is None or not path.exists():
        return None
    try:
        table = pd.read_parquet(path)
    except Exception as exc:  # a corrupt file must not stop a run: recompute and overwrite it
        logger.warning("ignoring unreadable feature cache %s: %s", path, exc)
        return None
    if list(table.columns) != [*labels, _ERROR_COLUMN] or len(table) != n_rows:
        logger.warning("ignoring feature cache %s: its shape does not match this batch", path)
        return None
    errors = [error or None for error in table[_ERROR_COLUMN].tolist()]
    features = table.drop(columns=_ERROR_COLUMN).astype(np.float64).reset_index(drop=True)
    features.columns = pd.Index(labels, dtype=object)
    logger.info("loaded %d rows of features from %s", n_rows, path)
    return features, errors


def _write_cache(path: Path | None, features: pd.DataFrame, errors: Sequence[str | None]) -> None:
    if path is None:
        return
    table = features.copy()
    table[_ERROR_COLUMN] = [error or "" for error in errors]
    with atomic_path(path) as tmp:
        table.to_parquet(tmp, index=False)
    logger.info("cached features in %s", path)


# --------------------------------------------------------------------------------------------------
# Structure helpers
# --------------------------------------------------------------------------------------------------
_JARVIS_KEYS = ("lattice_mat", "coords", "elements", "cartesian")
_CIF_MARKERS = re.compile(r"^\s*(data_|_cell_length_a|loop_)", re.MULTILINE)


def _structure_from_text(text: str) -> tuple[str, Structure]:
    """Detect JSON, CIF or POSCAR text and read it."""
    stripped = text.strip()
    if not stripped:
        raise ValueError("empty structure text")
    if stripped.startswith("{"):
        try:
            decoded = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise ValueError(f"JSON text: not valid JSON ({exc})") from exc
        if not isinstance(decoded, Mapping):
            raise ValueError(f"JSON text: expected an object, got {type(decoded).__name__}")
        return _structure_from_mapping(decoded, source="JSON text")
    if _CIF_MARKERS.search(stripped):
        return "CIF text", _read_with_pymatgen(stripped, "cif", "CIF text")
    # Not JSON and no CIF block: POSCAR is the remaining text format, and the message says so.
    return "POSCAR text", _read_with_pymatgen(
        stripped, "poscar", "POSCAR text (not JSON, no CIF 'data_' block)"
    )


def _read_with_pymatgen(text: str, fmt: str, label: str) -> Structure:
    """Parse with pymatgen; its warnings explain a failure better than its exception, so keep them.

    pymatgen's CIF parser reports the actual problem ("No structure parsed ... '_atom_site_label'")
    as a warning and then raises a generic error; on failure those warnings go into the message, on
    success they are passed on to the caller unchanged.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            structure = Structure.from_str(text, fmt=fmt)
        except Exception as exc:  # pymatgen's parsers raise many types (ValueError, IndexError, ...)
            notes = list(dict.fromkeys(" ".join(str(item.message).split()) for item in caught))
            # pymatgen repeats all CIF notes in one summary warning; keep the individual ones.
            notes = [note for note in notes if not note.startswith("Issues encountered")] or notes
            detail = f"; pymatgen warned: {' | '.join(notes)}" if notes else ""
            raise ValueError(
                f"{label}: pymatgen could not read it ({type(exc).__name__}: {exc}){detail}"
            ) from exc
    for item in caught:
        warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)
    return structure


def _structure_from_mapping(data: Mapping[str, Any], *, source: str) -> tuple[str, Structure]:
    """Read a jarvis ``Atoms`` dict or a pymatgen ``Structure`` dict."""
    keys = set(data)
    if {"lattice_mat", "coords", "elements"} <= keys:
        fmt = f"jarvis Atoms dict ({source})"
        return fmt, _structure_from_jarvis(data, fmt)
    if {"lattice", "sites"} <= keys:
        fmt = f"pymatgen Structure dict ({source})"
        declared = data.get("@class", "Structure")
        if declared not in ("Structure", "IStructure"):
            raise ValueError(f"{fmt}: '@class' is {declared!r}, expected 'Structure'")
        try:
            return fmt, Structure.from_dict(dict(data))
        except Exception as exc:  # malformed nested content raises KeyError/TypeError/ValueError
            raise ValueError(f"{fmt}: pymatgen could not read it ({type(exc).__name__}: {exc})") from exc
    raise ValueError(
        f"{source}: not a pymatgen Structure dict (keys 'lattice', 'sites') nor a jarvis Atoms dict "
        f"(keys {', '.join(map(repr, _JARVIS_KEYS))}); got keys {sorted(map(str, keys))}"
    )


def _structure_from_jarvis(data: Mapping[str, Any], fmt: str) -> Structure:
    """Build a ``Structure`` from jarvis-tools ``Atoms.to_dict()`` content."""
    if "cartesian" not in data:
        raise ValueError(f"{fmt}: key 'cartesian' is missing, so the coordinate frame is unknown")
    try:
        lattice = np.asarray(data["lattice_mat"], dtype=np.float64)
        coords = np.asarray(data["coords"], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{fmt}: 'lattice_mat' and 'coords' must be numeric arrays ({exc})") from exc
    elements = list(data["elements"])
    if lattice.shape != (3, 3):
        raise ValueError(f"{fmt}: 'lattice_mat' must be 3x3, got shape {lattice.shape}")
    if coords.ndim != 2 or coords.shape[1] != 3 or len(coords) != len(elements):
        raise ValueError(
            f"{fmt}: 'coords' must be {len(elements)}x3 to match {len(elements)} 'elements', "
            f"got shape {coords.shape}"
        )
    try:
        return Structure(Lattice(lattice), elements, coords, coords_are_cartesian=bool(data["cartesian"]))
    except Exception as exc:  # unknown element symbols raise ValueError/KeyError in pymatgen
        raise ValueError(f"{fmt}: pymatgen could not build it ({type(exc).__name__}: {exc})") from exc


def _validate_structure(structure: Structure, fmt: str) -> None:
    """Reject structures that parse but cannot be featurized, with the reason."""
    if len(structure) == 0:
        raise ValueError(f"{fmt}: the structure has no sites")
    matrix = structure.lattice.matrix
    if not np.all(np.isfinite(matrix)) or abs(structure.lattice.volume) < 1e-6:
        raise ValueError(f"{fmt}: degenerate lattice (volume {structure.lattice.volume:.3g} A^3)")
    if not np.all(np.isfinite(structure.frac_coords)):
        raise ValueError(f"{fmt}: non-finite atomic coordinates")
    unknown = sorted({sp.symbol for site in structure for sp in site.species if isinstance(sp, DummySpecies)})
    if unknown:
        raise ValueError(f"{fmt}: unknown element symbol(s): {', '.join(unknown)}")
    disordered = [index for index, site in enumerate(structure) if not site.is_ordered]
    if disordered:
        first = disordered[0]
        raise ValueError(
            f"{fmt}: the structure is disordered ({len(disordered)} site(s) with partial occupancy, "
            f"e.g. site {first}: {structure[first].species}); lessdata needs one species per site"
        )


def _wrapped(structure: Structure) -> Structure:
    """Copy with all sites translated into the unit cell (the paper's preprocessing step)."""
    return Structure.from_sites(structure, to_unit_cell=True, properties=dict(structure.properties))


def _without_oxidation_states(structure: Structure) -> Structure:
    plain = structure.copy()
    plain.remove_oxidation_states()
    return plain


def _canonical_structure_json(structure: Structure) -> str:
    def rounded(array: np.ndarray) -> list:
        return (np.round(np.asarray(array, dtype=np.float64), _HASH_DECIMALS) + 0.0).tolist()

    frac = np.mod(structure.frac_coords, 1.0)
    frac = np.round(frac, _HASH_DECIMALS)
    frac[frac >= 1.0] = 0.0
    sites = [
        [sorted([str(species), round(float(occupancy), _HASH_DECIMALS)]
                for species, occupancy in site.species.items()), coords]
        for site, coords in zip(structure, rounded(frac), strict=True)
    ]
    canonical = {
        "lattice": rounded(structure.lattice.matrix),
        "pbc": [bool(flag) for flag in structure.lattice.pbc],
        "charge": float(structure.charge or 0.0),
        "sites": sites,
    }
    return json.dumps(canonical, sort_keys=True, separators=(",", ":"))


def _unparsed_key(obj: Any) -> str:
    """Cache-key stand-in for an input that did not parse (its text, or its repr)."""
    text = obj if isinstance(obj, str) else repr(obj)
    return "unparsed:" + hashlib.sha256(text.encode()).hexdigest()


def _describe(obj: Any, limit: int = 60) -> str:
    """Short, single-line description of a raw input for the failures table."""
    text = " ".join(str(obj).split())
    return f"{type(obj).__name__}: {text[:limit]}{'...' if len(text) > limit else ''}"


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
