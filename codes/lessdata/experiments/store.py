"""The results store: one folder per study, whose file layout is defined here and nowhere else.

:class:`StoreLayout` names every file of a study folder; :class:`ResultsStore` (the scores table) and
:class:`PredictionStore` (each cell's test-set predictions) read and write them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import sys
import time
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lessdata import files as lio
from lessdata.errors import LessdataError

KEY_COLUMNS = ["dataset", "target", "split", "method", "selector", "model", "seed", "train_frac",
               "train_size"]
SCORE_COLUMNS = [*KEY_COLUMNS, "eval_set", "n_eval", "mae", "rmse", "r2", "fit_seconds",
                 "predict_seconds", "profile"]
#: Split label of rows written before repeated hold-out splits existed (the seed-0 random hold-out).
DEFAULT_SPLIT = "s0"
#: Key in a score row that carries the evaluation set's predictions from a worker to the store.
PREDICTIONS_FIELD = "_predictions"
#: Fields every score row fills.  ``selector`` may be empty (no selector) and ``split`` absent (rows
#: older than it); ``profile`` is written last, so a row cut short always lacks it.
REQUIRED_TEXT = ("dataset", "target", "method", "model", "eval_set", "profile")
#: Numeric fields every score row fills with a finite whole number.
REQUIRED_WHOLE = ("seed", "train_size", "n_eval")
#: Numeric fields every score row fills with a finite number (``r2`` only where ``n_eval`` > 1: the R²
#: of one value is undefined and written empty).
REQUIRED_NUMBERS = ("train_frac", "mae", "rmse", "r2", "fit_seconds", "predict_seconds")

logger = logging.getLogger(__name__)


class SettingsMismatchError(LessdataError):
    """A results folder already holds rows made with other settings (profile, hyperparameters ...)."""


class StoreLayout:
    """Named paths of every file in a study folder."""

    def __init__(self, out_dir: str | os.PathLike) -> None:
        self.root = Path(out_dir)

    @property
    def scores(self) -> Path:
        return self.root / "scores.csv"

    @property
    def settings(self) -> Path:
        return self.root / "settings.json"

    @property
    def summary(self) -> Path:
        return self.root / "summary.csv"

    @property
    def selections_dir(self) -> Path:
        return self.root / "selections"

    @property
    def predictions_dir(self) -> Path:
        return self.root / "predictions"

    @property
    def manifests_dir(self) -> Path:
        return self.root / "manifests"

    @property
    def al_diagnostics(self) -> Path:
        return self.root / "al_diagnostics.csv"

    @property
    def report(self) -> Path:
        return self.root / "REPORT.md"

    def manifest(self, script: str, stamp: str, pid: int) -> Path:
        return self.manifests_dir / f"{script}_{stamp}_{pid}.json"

    def manifests(self) -> list[Path]:
        """Every run manifest, in file-name order."""
        return sorted(self.manifests_dir.glob("*.json"))

    def split(self, dataset: str, target: str, label: str) -> Path:
        return self.root / f"split_{dataset}_{target}_{label}.json"

    def coverage(self, dataset: str, target: str, label: str) -> Path:
        return self.root / f"coverage_{dataset}_{target}_{label}.csv"

    def coverage_files(self) -> list[Path]:
        """Every split's coverage table (each names its dataset, target and split in its columns)."""
        return sorted(self.root.glob("coverage_*.csv"))

    def truth(self, dataset: str, target: str, label: str) -> Path:
        return self.predictions_dir / f"truth_{dataset}_{target}_{label}.npz"

    def cell_predictions(self, key: tuple) -> Path:
        digest = hashlib.sha1(json.dumps([str(part) for part in key]).encode()).hexdigest()[:20]
        return self.predictions_dir / "cells" / f"{digest}.npz"

    def selection(self, name: str) -> Path:
        return self.selections_dir / f"{name}.json"

    @staticmethod
    def pruning_name(dataset: str, target: str, split: str, guide: str, seed: int = 0) -> str:
        """Name of the stored pruning order of one dataset, target, ID split, guiding model and run seed
        (seed 0, the default run, carries no suffix)."""
        return f"prune_{dataset}_{target}_{split}_{guide}" + (f"_seed{seed}" if seed else "")

    @staticmethod
    def subset_name(dataset: str, target: str, split: str, method: str, selector: str, seed: int,
                    size: int | None = None) -> str:
        """Name of a subset sampler's stored ordering (one per seed; per size too when not nested)."""
        guide = f"_{selector}" if selector else ""
        return f"subset_{method}{guide}_{dataset}_{target}_{split}_seed{seed}" + (
            "" if size is None else f"_n{size}")

    def pruning_threshold(self, name: str) -> Path:
        return self.selections_dir / f"{name}_threshold.json"

    def pruning_checkpoint(self, name: str) -> Path:
        return self.selections_dir / f"{name}.npz"

    def redundancy(self, dataset: str, target: str, split: str, guide: str, table: str) -> Path:
        return self.root / "redundancy" / f"{dataset}_{target}_{split}_{guide}_{table}.csv"

    def prune_rounds(self, dataset: str, target: str, split: str, guide: str, seed: int = 0) -> Path:
        suffix = f"_seed{seed}" if seed else ""
        return self.root / f"prune_rounds_{dataset}_{target}_{split}_{guide}{suffix}.csv"

    def pruned_export(self, dataset: str, target: str, split: str, guide: str, fraction: float) -> Path:
        return self.root / f"pruned_{dataset}_{target}_{split}_{guide}_{fraction:g}.csv"


def key_of(row: dict[str, Any]) -> tuple:
    """Identity of the cell a score row belongs to (the ``KEY_COLUMNS`` values, normalised)."""
    return (str(row["dataset"]), str(row["target"]), str(row.get("split", DEFAULT_SPLIT)),
            str(row["method"]), str(row["selector"] or ""), str(row["model"]), int(row["seed"]),
            round(float(row["train_frac"]), 6), int(row["train_size"]))


def key_frame(frame: pd.DataFrame) -> pd.Series:
    """:func:`key_of` of every row of a scores frame."""
    split = frame["split"] if "split" in frame else pd.Series(DEFAULT_SPLIT, index=frame.index)
    return pd.Series(list(zip(frame["dataset"].astype(str), frame["target"].astype(str),
                              split.fillna(DEFAULT_SPLIT).astype(str), frame["method"].astype(str),
                              frame["selector"].fillna("").astype(str), frame["model"].astype(str),
                              frame["seed"].astype(int), frame["train_frac"].astype(float).round(6),
                              frame["train_size"].astype(int), strict=True)), index=frame.index)


def row_problems(frame: pd.DataFrame) -> dict[Any, str]:
    """What is missing or unparsable in each damaged row of a scores frame (sound rows are absent).

    Only the columns the frame has are checked: a missing column is a matter of the whole file.
    """
    bad: dict[str, pd.Series] = {}
    for column in (c for c in REQUIRED_TEXT if c in frame):
        bad[column] = frame[column].isna() | (frame[column].astype(str).str.strip() == "")
    numbers = {c: pd.to_numeric(frame[c], errors="coerce").astype(float)
               for c in (*REQUIRED_WHOLE, *REQUIRED_NUMBERS) if c in frame}
    for column, values in numbers.items():
        bad[column] = ~np.isfinite(values) | ((values % 1 != 0) if column in REQUIRED_WHOLE else False)
    if "r2" in bad and "n_eval" in numbers:
        bad["r2"] &= numbers["n_eval"] > 1
    found: dict[Any, str] = {}
    rows = pd.DataFrame(bad, index=frame.index)[[c for c in frame.columns if c in bad]]
    for index in frame.index[rows.any(axis=1).to_numpy()]:
        empty, unparsable = [], []
        for column in rows.columns[rows.loc[index].to_numpy()]:
            value = frame.at[index, column]
            if pd.isna(value) or not str(value).strip():
                empty.append(column)
            else:
                unparsable.append(f"{column} {str(value)!r} is not a "
                                  f"{'whole number' if column in REQUIRED_WHOLE else 'number'}")
        found[index] = "; ".join(([f"empty: {', '.join(empty)}"] if empty else []) + unparsable)
    return found


def _cell_key(row: pd.DataFrame) -> tuple | None:
    """:func:`key_frame` of a one-row frame, or None when its key fields do not parse."""
    try:
        return key_frame(row).iloc[0]
    except (ValueError, TypeError, KeyError):
        return None


def sound_rows(frame: pd.DataFrame, path: Path, consequence: str) -> pd.DataFrame:
    """``frame`` without its damaged rows nor the other rows of their cells, each damaged row logged.

    A cell counts as done only with all its rows sound, so the rows of a damaged row's cell go too.  That
    cell is the row's own key's when the row has its ``eval_set`` (written after the key, so the key was
    not cut short); otherwise it may be a neighbour's, as the store writes a cell's rows next to each other.

    Args:
        frame: a scores table as read (one row per line after the header, in file order).
        path: the file it was read from, for the warnings.
        consequence: what happens to a damaged row, for the warnings.
    """
    problems = row_problems(frame)
    if not problems:
        return frame
    damaged = frame.index.isin(list(problems))
    sound = frame[~damaged]
    sound_keys = key_frame(sound) if len(sound) else pd.Series(dtype=object)
    sound_at = np.flatnonzero(~damaged)
    cells: set[tuple] = set()
    for position in np.flatnonzero(damaged):
        index = frame.index[position]
        own = _cell_key(frame.iloc[[position]])
        cells |= {own} if own is not None else set()
        eval_set = frame.at[index, "eval_set"] if "eval_set" in frame else None
        cut = own is None or pd.isna(eval_set) or not str(eval_set).strip()
        if cut:
            after = int(np.searchsorted(sound_at, position))
            cells |= {sound_keys.iloc[i] for i in range(max(after - 1, 0), min(after + 1, len(sound_at)))}
        logger.warning("%s line %d: damaged score row (%s); %s%s", path, position + 2, problems[index],
                       consequence, "; its key may be cut short, so the cells of the rows next to it go too"
                       if cut else "")
    kept = sound[~sound_keys.isin(cells).to_numpy()].reset_index(drop=True)
    # Damage may have left a numeric column as text; the sound rows are numbers again.
    for column in (c for c in (*REQUIRED_WHOLE, *REQUIRED_NUMBERS) if c in kept):
        kept[column] = pd.to_numeric(kept[column])
        if column in REQUIRED_WHOLE:
            kept[column] = kept[column].astype("int64")
    return kept


class PredictionStore:
    """Each cell's predictions on the ID test and OOD sets, and the true targets of each split.

    One small ``.npz`` per cell (written atomically by whoever stores the cell's rows), so parallel
    writers never contend and a rerun overwrites only its own cells.  Predictions are float32: they are
    for intervals on errors, where 7 significant digits are plenty.
    """

    def __init__(self, layout: StoreLayout | str | os.PathLike) -> None:
        self.layout = layout if isinstance(layout, StoreLayout) else StoreLayout(layout)

    def save_truth(self, dataset: str, target: str, label: str, truth: dict[str, np.ndarray],
                   ids: dict[str, np.ndarray]) -> Path:
        arrays = {f"y__{name}": np.asarray(values, dtype=np.float64) for name, values in truth.items()}
        arrays.update({f"ids__{name}": np.asarray(values, dtype=str) for name, values in ids.items()})
        path = self.layout.truth(dataset, target, label)
        return lio.atomic_write(path, lambda tmp: _save_npz(tmp, arrays))

    def truth(self, dataset: str, target: str, label: str) -> dict[str, np.ndarray]:
        """True targets per evaluation set of one split (``{}`` when the split was never prepared here)."""
        path = self.layout.truth(dataset, target, label)
        if not path.exists():
            return {}
        with np.load(path) as content:
            return {name[3:]: content[name] for name in content.files if name.startswith("y__")}

    def save(self, key: tuple, predictions: dict[str, np.ndarray]) -> Path:
        arrays = {f"p__{name}": np.asarray(values, dtype=np.float32) for name, values in predictions.items()}
        arrays["key"] = np.array(json.dumps(list(key)))
        return lio.atomic_write(self.layout.cell_predictions(key), lambda tmp: _save_npz(tmp, arrays))

    def read(self, eval_set: str = "id_test") -> tuple[pd.DataFrame, list[np.ndarray]]:
        """Every stored cell's predictions on ``eval_set``.

        Returns:
            (one row per cell with the ``KEY_COLUMNS``, the prediction vectors in the same order).
        """
        folder = self.layout.predictions_dir / "cells"
        rows, vectors = [], []
        for path in sorted(folder.glob("*.npz")) if folder.exists() else []:
            with np.load(path) as content:
                name = f"p__{eval_set}"
                if name not in content.files:
                    continue
                rows.append(dict(zip(KEY_COLUMNS, json.loads(str(content["key"])), strict=True)))
                vectors.append(content[name])
        return pd.DataFrame(rows, columns=KEY_COLUMNS), vectors


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with open(path, "wb") as handle:
        np.savez_compressed(handle, **arrays)


class ResultsStore:
    """``DIR/scores.csv`` in the long format, plus predictions, selections and manifests beside it.

    Several scripts pointed at one folder share it; writes take a file lock, re-read the table and
    replace it atomically, so concurrent writers never lose each other's rows.
    """

    def __init__(self, out_dir: str | Path) -> None:
        self.layout = StoreLayout(out_dir)
        self.out_dir = self.layout.root
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.scores_path = self.layout.scores
        self.selections_dir = self.layout.selections_dir
        self.predictions = PredictionStore(self.layout)

    def read(self) -> pd.DataFrame:
        """The scores table (empty frame with the columns if none yet) without damaged cells.

        A row with a required field missing or unparsable (a file cut short, a bad edit) is logged with
        its line and left out with its cell's other rows, so the cell is not done and a rerun refits it.
        """
        frame = lio.read_results_csv(self.scores_path, SCORE_COLUMNS)
        frame = sound_rows(frame, self.scores_path,
                           "its cell is not counted as done and is refit on the next run")
        if "split" not in frame:
            frame.insert(KEY_COLUMNS.index("split"), "split", DEFAULT_SPLIT)
        return frame

    def done_keys(self) -> set[tuple]:
        """Keys of cells with (sound) rows in the table."""
        frame = self.read()
        return set(key_frame(frame)) if len(frame) else set()

    def add(self, rows: list[dict[str, Any]]) -> None:
        """Store rows (replacing rows of the same cells): their predictions first, then the table.

        Predictions travel in each row under :data:`PREDICTIONS_FIELD` and are written before the table,
        so a cell that is in ``scores.csv`` always has its predictions.
        """
        by_cell: dict[tuple, dict[str, np.ndarray]] = {}
        plain = []
        for row in rows:
            row = dict(row)
            predicted = row.pop(PREDICTIONS_FIELD, None)
            if predicted is not None:
                by_cell.setdefault(key_of(row), {})[str(row["eval_set"])] = predicted
            plain.append(row)
        for key, predictions in by_cell.items():
            self.predictions.save(key, predictions)
        lio.upsert_csv(self.scores_path, plain, keys=key_frame, columns=SCORE_COLUMNS,
                       sort_by=[*KEY_COLUMNS, "eval_set"], clean=self._drop_damaged)

    def _drop_damaged(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The stored rows to keep when rewriting the table: damaged cells go, so a refit replaces them."""
        return sound_rows(frame, self.scores_path,
                          "removed with its cell's other rows, for the refit to replace")

    def claim(self, settings: dict[str, Any]) -> None:
        """Make sure this folder only ever holds rows of one set of settings.

        The first run writes ``settings.json``; a later run with other settings (another profile, other
        hyperparameters, other OOD sets or ID test ids) is refused, since its rows, selections, pruning
        thresholds and checkpoints would silently mix with the old ones.

        Raises:
            SettingsMismatchError: the folder was made with other settings.
        """
        path = self.layout.settings
        settings = json.loads(json.dumps(settings, sort_keys=True, default=str))
        with lio.file_lock(self.out_dir / ".settings.json.lock"):
            if path.exists():
                saved = lio.read_json(path)
                different = sorted(k for k in set(saved) | set(settings) if saved.get(k) != settings.get(k))
                if different:
                    details = "; ".join(f"{k}: folder {saved.get(k)!r} vs now {settings.get(k)!r}"
                                        for k in different)
                    raise SettingsMismatchError(
                        f"{self.out_dir} holds results made with other settings ({details}); use another "
                        "--out folder for these settings (rows of different settings must not mix)")
                return
            profiles = set(self.read()["profile"].dropna().astype(str))
            if profiles - {str(settings.get("profile"))}:
                raise SettingsMismatchError(
                    f"{self.out_dir} holds rows of profile(s) {', '.join(sorted(profiles))} made before "
                    f"settings were recorded; use another --out folder for {settings.get('profile')!r}")
            lio.write_json(path, settings)

    def save_selection(self, name: str, ids: Iterable[str], **info: Any) -> Path:
        """Store an ordered id list (training set of size n = its first n ids) with metadata."""
        return lio.write_json(self.layout.selection(name), {**info, "ids": [str(i) for i in ids]})

    def load_selection(self, name: str) -> dict[str, Any]:
        """Read a stored selection.

        Raises:
            LessdataError: the file is damaged (not JSON, or no ``ids`` list).
        """
        path = self.layout.selection(name)
        content = lio.read_json(path)
        if not isinstance(content, dict) or not isinstance(content.get("ids"), list):
            raise LessdataError(f"{path} is not a selection lessdata wrote (no list of ids); delete it to "
                                "redo that selection")
        return content

    def write_manifest(self, script: str, config: dict[str, Any], timings: dict[str, Any],
                       data: dict[str, Any] | None = None) -> Path:
        """One JSON per run: configuration, library versions, data hashes, timings."""
        versions = {"python": sys.version.split()[0], "platform": platform.platform()}
        for package in ("numpy", "pandas", "scikit-learn", "xgboost", "xgboost-cpu", "matminer",
                        "pymatgen", "torch", "alignn", "dask", "distributed", "joblib"):
            try:
                versions[package] = metadata.version(package)
            except metadata.PackageNotFoundError:
                continue
        stamp = time.strftime("%Y%m%dT%H%M%S")
        return lio.write_json(self.layout.manifest(script, stamp, os.getpid()),
                              {"script": script, "written": stamp, "config": config, "versions": versions,
                               "data": data or {}, "timings": timings, "cores": len(os.sched_getaffinity(0))})
