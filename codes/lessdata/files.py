"""Small I/O helpers shared by every module: atomic writes and file hashes.

Atomic writes (write to a temporary file in the target folder, then ``os.replace``) mean an interrupted
run never leaves a half-written table behind: readers see the old file or the new one, nothing between.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lessdata.errors import LessdataError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically.

    On an exception the temporary file is removed and ``path`` is left untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write(path: str | os.PathLike, writer: Callable[[Path], Any]) -> Path:
    """Call ``writer(tmp_path)`` and move the result onto ``path`` atomically."""
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Atomically write a text file."""
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Atomically write ``obj`` as indented, key-sorted JSON (stable diffs, stable hashes)."""
    return write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file.

    Raises:
        LessdataError: the file is not valid JSON (damaged or edited), naming it.
    """
    try:
        return json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise LessdataError(f"{path} is not valid JSON ({error}); it was damaged or edited: restore it, or "
                            "delete it if lessdata wrote it (it is rebuilt on the next run)") from error


def write_csv(path: str | os.PathLike, frame: pd.DataFrame, **kwargs: Any) -> Path:
    """Atomically write a CSV without the index."""
    kwargs.setdefault("index", False)
    return atomic_write(path, lambda tmp: frame.to_csv(tmp, **kwargs))


def write_parquet(path: str | os.PathLike, frame: pd.DataFrame) -> Path:
    """Atomically write a parquet file."""
    return atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=True))


def sha256_file(path: str | os.PathLike, chunk_bytes: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks so large downloads do not fill memory."""
    return hash_file(path, "sha256", chunk_bytes)


def hash_file(path: str | os.PathLike, algorithm: str, chunk_bytes: int = 1 << 20) -> str:
    """Hex digest of a file with any hashlib algorithm (``sha256``, ``md5`` ...)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk_bytes), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_strings(values: Any) -> str:
    """sha256 of a sequence of strings (order matters), e.g. a list of ids in a split."""
    digest = hashlib.sha256()
    for value in values:
        digest.update(str(value).encode())
        digest.update(b"\0")
    return digest.hexdigest()


#: Bits kept below each column's scale by :func:`numeric_sha256`.
NUMERIC_CHECKSUM_BITS = 20


def numeric_sha256(*arrays: Any) -> str:
    """sha256 of numeric arrays on a grid of 2**-20 of each column's scale: the same on every CPU.

    Features computed from the same table on two machines agree only to the last bits (numpy's
    transcendental functions take other SIMD code paths on AVX-512 and AVX2 CPUs), and nothing a
    model sees depends on those bits (XGBoost and scikit-learn's trees train on float32; full-pool
    fits on features from two such machines predicted bit for bit the same).  Each column is rounded
    to multiples of ``2**-20`` times the power of two above its largest magnitude, so a last-bit
    difference changes the checksum only when it straddles a grid point (about 2**-29 per value),
    while any real change of the data does.  NaN is hashed as a value of its own; 1-d arrays are one
    column.
    """
    digest = hashlib.sha256()
    for array in arrays:
        values = np.asarray(array, dtype=np.float64)
        columns = values.reshape(len(values), -1)  # a 1-d array is one column
        finite = np.isfinite(columns)
        magnitude = np.where(finite, np.abs(columns), 0.0).max(axis=0, initial=0.0)
        exponent = np.frexp(np.where(magnitude > 0, magnitude, 1.0))[1]
        scaled = np.ldexp(np.where(finite, columns, 0.0), NUMERIC_CHECKSUM_BITS - exponent)
        grid = np.rint(scaled).astype(np.int64)
        grid[~finite] = np.iinfo(np.int64).min  # NaN/inf: its own value, never a grid point
        digest.update(f"{columns.shape}".encode())
        digest.update(np.ascontiguousarray(grid).astype("<i8").tobytes())
    return digest.hexdigest()


@contextlib.contextmanager
def file_lock(path: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing) for the duration of the block."""
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def read_csv(path: str | os.PathLike, **kwargs: Any) -> pd.DataFrame:
    """``pd.read_csv`` of a results-folder table; a damaged file is named in a :class:`LessdataError`."""
    try:
        return pd.read_csv(path, **kwargs)
    except ValueError as error:  # pandas' ParserError, EmptyDataError, UnicodeDecodeError
        detail = " ".join(str(error).split())  # pandas ends some messages with a newline
        raise LessdataError(f"{path} is not a readable results table ({type(error).__name__}: {detail}); "
                            "restore it, rerun the script that wrote it or use another --out folder"
                            ) from error


def read_results_csv(path: str | os.PathLike, columns: list[str]) -> pd.DataFrame:
    """Read a results table; empty cells stay NaN except ``selector``, where empty means "none"."""
    if not Path(path).exists():
        return pd.DataFrame(columns=columns)
    frame = read_csv(path, keep_default_na=False, na_values=[""], dtype={"selector": str})
    return frame.fillna({"selector": ""})


def upsert_csv(path: str | os.PathLike, new_rows: list[dict[str, Any]], *,
               keys: Callable[[pd.DataFrame], pd.Series], columns: list[str],
               sort_by: list[str], clean: Callable[[pd.DataFrame], pd.DataFrame] | None = None) -> None:
    """Add rows to a shared results CSV, replacing rows with the same key; sorted, atomic, locked.

    Writers in other processes (parallel campaigns, a second script on the same folder) take the same
    lock, re-read the table and rewrite it whole, so nobody loses anybody's rows.

    Args:
        path: the CSV.
        new_rows: rows to add.
        keys: maps a frame to one hashable key per row.
        columns: the table's leading columns (others follow in order of appearance).
        sort_by: columns the rewritten table is sorted by (stable), so reruns give identical files.
        clean: the rows of the current table to keep (the scores store drops damaged rows, so that
            their refit replaces them); applied under the lock, to what is rewritten.
    """
    if not new_rows:
        return
    path = Path(path)
    new = pd.DataFrame(new_rows)
    with file_lock(path.parent / f".{path.name}.lock"):
        current = read_results_csv(path, columns)
        if clean is not None and len(current):
            current = clean(current)
        if len(current):
            current = current[~keys(current).isin(set(keys(new)))]
        merged = pd.concat([current, new], ignore_index=True) if len(current) else new
        ordered = columns + [c for c in merged.columns if c not in columns]
        merged = merged.reindex(columns=ordered).sort_values(sort_by, kind="stable").reset_index(drop=True)
        write_csv(path, merged)
