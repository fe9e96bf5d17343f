"""Reading and validating the user's own tables, and registering them as datasets.

One concern: check a CSV / JSON / parquet table row by row (every problem reported, not only the first)
and store the valid rows under ``data/NAME/``, where :func:`lessdata.data.datasets.user_specs` finds them.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lessdata import files as lio
from lessdata.data.datasets import (
    REGISTRY,
    DatasetError,
    DatasetSpec,
    MissingDataFileError,
    dataset_dir,
    resolve,
)
from lessdata.data.structures import parse_formula, parse_structure

_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class InvalidRowsError(DatasetError):
    """Rows of a user table failed validation; ``problems`` lists every one (row, id, column, reason)."""

    def __init__(self, path: Path, problems: pd.DataFrame) -> None:
        self.path = path
        self.problems = problems
        shown = problems.head(50)
        lines = [f"  row {row.row} (id {row.id!r}), column {row.column!r}: {row.problem}"
                 for row in shown.itertuples()]
        more = f"\n  ... and {len(problems) - len(shown)} more" if len(problems) > len(shown) else ""
        super().__init__(f"{path}: {len(problems)} invalid row(s):\n" + "\n".join(lines) + more +
                         "\nFix these rows, or rerun with --skip-invalid to drop them (a report of the "
                         "dropped rows is written beside the dataset).")


#: Where the rows dropped with ``skip_invalid`` are listed, inside the dataset's data folder.
SKIPPED_ROWS_FILE = "skipped_rows.csv"


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV, JSON (records or columns) or parquet table, with clear errors.

    Raises:
        MissingDataFileError: the file does not exist (a DatasetError and a FileNotFoundError).
        DatasetError: unknown format, unreadable or empty table.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingDataFileError(f"input file not found: {path} (check the --input path)")
    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix.lower() == ".gz" else path.suffix.lower()
    readers = {".csv": pd.read_csv, ".csv.gz": pd.read_csv, ".json": pd.read_json,
               ".json.gz": pd.read_json, ".parquet": pd.read_parquet, ".pq": pd.read_parquet}
    reader = readers.get(suffix)
    if reader is None:
        raise DatasetError(f"{path}: unsupported file type {suffix!r}; use .csv, .json or .parquet")
    try:
        frame = reader(path, dtype=False) if reader is pd.read_json else reader(path)
    except Exception as error:  # parsers raise many types; report them all the same way
        raise DatasetError(f"{path}: could not be read as {suffix.lstrip('.')}: {error}") from error
    if frame.empty:
        raise DatasetError(f"{path}: the table is empty (no data rows)")
    return frame


def _check_columns(path: Path, frame: pd.DataFrame, columns: list[tuple[str, str]]) -> None:
    for option, column in columns:
        if column not in frame.columns:
            raise DatasetError(f"{path}: no column {column!r} (given by {option}); the file's columns are: "
                               f"{', '.join(map(str, frame.columns))}")


def _validate_rows(frame: pd.DataFrame, id_col: str, input_col: str, input_kind: str,
                   targets: list[str]) -> tuple[pd.DataFrame, list[str], list[str]]:
    """Every problem of every row (not just the first) and the normalized input strings."""
    problems: list[dict[str, Any]] = []
    ids = frame[id_col].astype(str)
    row_numbers = np.arange(1, len(frame) + 1)  # 1-based data rows (CSV line = row + 1)
    for row, identifier in zip(row_numbers[frame[id_col].isna().to_numpy()],
                               ids[frame[id_col].isna()], strict=True):
        problems.append({"row": row, "id": identifier, "column": id_col, "problem": "missing id"})
    duplicated = ids.duplicated(keep=False) & frame[id_col].notna()
    for row, identifier in zip(row_numbers[duplicated.to_numpy()], ids[duplicated], strict=True):
        same = ", ".join(map(str, row_numbers[(ids == identifier).to_numpy()]))
        problems.append({"row": row, "id": identifier, "column": id_col,
                         "problem": f"duplicate id (rows {same})"})
    normalized: list[str] = []
    formulas: list[str] = []
    parse = parse_formula if input_kind == "composition" else parse_structure
    for row, identifier, value in zip(row_numbers, ids, frame[input_col], strict=True):
        try:
            if value is None or (isinstance(value, float) and np.isnan(value)):
                raise DatasetError("empty value")
            parsed = parse(value)
            normalized.append(parsed.formula if input_kind == "composition" else parsed.to_json())
            formulas.append(parsed.formula if input_kind == "composition" else parsed.composition.formula)
        except Exception as error:  # parsers raise ValueError, KeyError, pymatgen errors ...
            problems.append({"row": row, "id": identifier, "column": input_col, "problem": str(error)})
            normalized.append("")
            formulas.append("")
    for target in targets:
        raw = frame[target]
        numeric = pd.to_numeric(raw, errors="coerce")
        bad = numeric.isna() & raw.notna() & (raw.astype(str).str.strip() != "")
        for row, identifier, value in zip(row_numbers[bad.to_numpy()], ids[bad], raw[bad], strict=True):
            problems.append({"row": row, "id": identifier, "column": target,
                             "problem": f"non-numeric target value {value!r}"})
    report = pd.DataFrame(problems, columns=["row", "id", "column", "problem"]).sort_values(
        ["row", "column"], kind="stable").reset_index(drop=True)
    return report, normalized, formulas


def register_user_dataset(input_path: str | Path, name: str, *, id_col: str, targets: list[str],
                          formula_col: str | None = None, structure_col: str | None = None,
                          skip_invalid: bool = False, progress: bool = True) -> DatasetSpec:
    """Validate the user's table, store it under ``data/NAME/`` and featurize it (cached).

    Args:
        input_path: CSV / JSON / parquet file.
        name: dataset name for ``--dataset NAME`` later.
        id_col: column of unique entry ids.
        targets: target columns (numeric; empty cells are missing values, dropped at load time).
        formula_col: column of chemical formulas (composition-only data: 145 features), or
        structure_col: column of crystal structures (CIF text, POSCAR text, pymatgen dict/JSON, jarvis
            Atoms dict: 273 features, ALIGNN possible).
        skip_invalid: drop invalid rows (reported in ``data/NAME/skipped_rows.csv``) instead of refusing.

    Raises:
        DatasetError / InvalidRowsError: with the file, rows, ids and columns at fault.
    """
    path = Path(input_path)
    if (formula_col is None) == (structure_col is None):
        raise DatasetError("give exactly one of --formula-col or --structure-col")
    if not _NAME_PATTERN.match(name):
        raise DatasetError(f"dataset name {name!r} must start with a letter or digit and contain only "
                           "letters, digits, '_', '.', '-' (at most 64 characters)")
    if name.lower() in {key.lower() for key in REGISTRY} | {a.lower() for s in REGISTRY.values()
                                                           for a in s.aliases}:
        raise DatasetError(f"dataset name {name!r} is a built-in dataset; choose another name")
    if not targets:
        raise DatasetError("give at least one target column with --targets")
    frame = read_table(path)
    input_col = formula_col or structure_col
    input_kind = "composition" if formula_col else "structure"
    columns = [("--id-col", id_col), ("--formula-col" if formula_col else "--structure-col", input_col)]
    _check_columns(path, frame, columns + [("--targets", target) for target in targets])

    problems, normalized, formulas = _validate_rows(frame, id_col, input_col, input_kind, targets)
    folder = dataset_dir(name)
    if len(problems) and not skip_invalid:
        raise InvalidRowsError(path, problems)
    keep = ~np.isin(np.arange(1, len(frame) + 1), problems["row"].to_numpy())
    if not keep.any():
        raise DatasetError(f"{path}: every row is invalid; nothing to register")

    table = pd.DataFrame({"id": frame[id_col].astype(str).to_numpy(), "formula": formulas})
    if input_kind == "structure":
        table["structure"] = normalized
    for target in targets:
        table[target] = pd.to_numeric(frame[target], errors="coerce").to_numpy()
    table = table.loc[keep].set_index("id")
    lio.write_parquet(folder / "table.parquet", table)
    if len(problems):
        lio.write_csv(folder / SKIPPED_ROWS_FILE, problems)
    meta = {"key": name, "source": "user", "input_kind": input_kind, "targets": list(targets),
            "input_file": str(path.resolve()), "input_sha256": lio.sha256_file(path),
            "columns": {"id": id_col, "input": input_col, "targets": list(targets)},
            "counts": {"rows_in_file": int(len(frame)), "invalid_rows_skipped": int((~keep).sum()),
                       "registered": int(keep.sum())},
            "registered": time.strftime("%Y-%m-%dT%H:%M:%S")}
    lio.write_json(folder / "dataset.json", meta)
    return resolve(name)
