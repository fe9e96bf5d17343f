"""Where computed features are kept: one cache file per input set, and for structures a checkpointed
store of parts keyed by each structure's content, so an interrupted run resumes where it stopped.

Cache files record the matminer and pymatgen versions and a schema number; a mismatch recomputes the
cache, while the structure store reuses its parts with a warning (hours of work on 31k crystals).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import time
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lessdata.files import atomic_path

#: Bumped whenever this module changes what ends up in a cache file, so old files are not reused.
_CACHE_SCHEMA = 1

logger = logging.getLogger(__name__)



#: Column of the cache file holding the per-row failure reason (empty string when the row succeeded).
_ERROR_COLUMN = "__featurize_error__"



#: Column of a checkpoint file holding the structure hash its row belongs to.
_KEY_COLUMN = "__structure_hash__"



# --------------------------------------------------------------------------------------------------
# Cache
# --------------------------------------------------------------------------------------------------
def _package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"



def cache_file(
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



def read_cached(
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



def write_cached(path: Path | None, features: pd.DataFrame, errors: Sequence[str | None]) -> None:
    if path is None:
        return
    table = features.copy()
    table[_ERROR_COLUMN] = [error or "" for error in errors]
    with atomic_path(path) as tmp:
        table.to_parquet(tmp, index=False)
    logger.info("cached features in %s", path)



class StructureFeatureStore:
    """Structural features checkpointed per structure hash, in parquet files of one chunk each.

    The folder ``<cache_dir>/structure_parts/`` holds ``part-<time>-<n>.parquet`` files (column
    ``__structure_hash__``, the 128 feature columns, the error text) and ``store.json`` with the
    labels, the schema and the matminer/pymatgen versions that computed them.  Parts are only ever
    added, each written atomically, so a run killed at any moment loses at most the chunks in flight,
    and any later batch containing the same structures reads them instead of recomputing.

    A store computed by other library versions is still read (so a committed feature table is
    usable on a fresh machine) but the difference is logged and kept in :attr:`versions_differ`.
    """

    def __init__(self, cache_dir: Path) -> None:
        self.folder = Path(cache_dir) / "structure_parts"
        self.versions_differ: dict[str, tuple[str, str]] = {}
        self._written = 0

    @staticmethod
    def installed_versions() -> dict[str, str]:
        return {name: _package_version(name) for name in ("matminer", "pymatgen", "pymatgen-core")}

    def _header(self, labels: list[str]) -> dict[str, Any]:
        return {"schema": _CACHE_SCHEMA, "labels": labels, "versions": self.installed_versions()}

    def read(self, labels: list[str]) -> dict[str, tuple[np.ndarray, str | None]]:
        """Every structure hash held, with its features and error; empty when there is no store."""
        header_path = self.folder / "store.json"
        if not header_path.exists():
            return {}
        header = json.loads(header_path.read_text())
        if header.get("schema") != _CACHE_SCHEMA or header.get("labels") != labels:
            logger.warning("ignoring %s: written for other feature labels or schema", self.folder)
            return {}
        installed = self.installed_versions()
        self.versions_differ = {name: (version, installed.get(name, "not installed"))
                                for name, version in header.get("versions", {}).items()
                                if installed.get(name) != version}
        if self.versions_differ:
            logger.warning("%s was computed with %s; installed: %s", self.folder,
                           {name: pair[0] for name, pair in self.versions_differ.items()},
                           {name: pair[1] for name, pair in self.versions_differ.items()})
        known: dict[str, tuple[np.ndarray, str | None]] = {}
        for part in sorted(self.folder.glob("part-*.parquet")):
            try:
                table = pd.read_parquet(part)
            except Exception as exc:  # a damaged part is recomputed, never trusted
                logger.warning("ignoring unreadable checkpoint %s: %s", part, exc)
                continue
            if list(table.columns) != [_KEY_COLUMN, *labels, _ERROR_COLUMN]:
                logger.warning("ignoring checkpoint %s: its columns do not match", part)
                continue
            values = table[labels].to_numpy(dtype=np.float64)
            for key, row, error in zip(table[_KEY_COLUMN], values, table[_ERROR_COLUMN], strict=True):
                known[str(key)] = (row, error or None)
        return known

    def write(self, keys: Sequence[Hashable], values: np.ndarray, errors: Sequence[str | None],
              labels: list[str]) -> Path:
        """Add one chunk as a new part file (atomically); returns its path."""
        self.folder.mkdir(parents=True, exist_ok=True)
        header_path = self.folder / "store.json"
        if not header_path.exists():
            with atomic_path(header_path) as tmp:
                tmp.write_text(json.dumps(self._header(labels), indent=1))
        table = pd.DataFrame(np.asarray(values, dtype=np.float64), columns=labels)
        table.insert(0, _KEY_COLUMN, [str(key) for key in keys])
        table[_ERROR_COLUMN] = [error or "" for error in errors]
        stamp = time.strftime("%Y%m%dT%H%M%S")
        while True:  # two stores of one process may write within the same second: never overwrite a part
            self._written += 1
            path = self.folder / f"part-{stamp}-{os.getpid()}-{self._written:05d}.parquet"
            if not path.exists():
                break
        with atomic_path(path) as tmp:
            table.to_parquet(tmp, index=False, compression="zstd")
        return path
