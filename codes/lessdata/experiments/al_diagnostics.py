"""What each active-learning step's choice looked like: did the strategy's scores rank the unused pool's
errors, how hard was the chosen batch against the pool, and were uncertainties calibrated?

:func:`step_diagnostics` is called by the campaign loop (:mod:`lessdata.experiments.active`) at every
step; :class:`DiagnosticsTable` stores the rows and :func:`diagnostics_summary` averages them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm, spearmanr

from lessdata import files as lio
from lessdata.evaluation.evaluate import ExperimentData
from lessdata.experiments.store import DEFAULT_SPLIT, StoreLayout
from lessdata.models.ibug import gaussian_nll
from lessdata.selection import registry as selectors
from lessdata.selection.strategies import MIN_SCALE, Z90_HALF_WIDTH

#: Models the evaluator trains at every step (their fits and rows are part of every campaign).


def miscalibration_area(y: np.ndarray, loc: np.ndarray, scale: np.ndarray, n_levels: int = 101) -> float:
    """Area between the observed and the expected coverage of central Gaussian intervals.

    For each expected proportion ``p`` in ``[0, 1]`` the observed proportion is the share of rows whose
    target lies inside the central ``p`` interval of ``N(loc, scale**2)``; the area (trapezoid rule over
    ``p``) is 0 for perfect calibration and approaches 0.5 for wildly over- or under-confident scales.
    It complements the NLL, which mixes calibration with sharpness.
    """
    z = np.sort(np.abs((np.asarray(y, float) - np.asarray(loc, float)) / np.asarray(scale, float)))
    expected = np.linspace(0.0, 1.0, n_levels)
    bounds = norm.ppf(0.5 + expected / 2.0)  # 0 -> 0, 1 -> inf
    observed = np.searchsorted(z, bounds, side="right") / z.size
    gap = np.abs(observed - expected)
    return float(np.sum((gap[1:] + gap[:-1]) / 2.0 * np.diff(expected)))



class DiagnosticsTable:
    """``OUT/al_diagnostics.csv``: one row per (dataset, target, strategy, seed, step).

    Besides the diagnostics each row carries the step's timings (``*_seconds``: fits, evaluator
    predictions, query-only fits, query, diagnostics, storing the scores, and ``step_seconds``, the step's
    wall time up to, not including, writing this row and the checkpoint).
    Written like the scores table: under a file lock, re-read, rows of the same key replaced, rewritten
    atomically, so parallel campaigns never lose each other's rows and a redone step replaces its row.
    """

    KEY = ["dataset", "target", "split", "strategy", "seed", "step"]

    def __init__(self, out_dir: str | Path) -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.path = StoreLayout(self.out_dir).al_diagnostics

    def read(self) -> pd.DataFrame:
        """The whole table (empty frame if none yet)."""
        return lio.read_results_csv(self.path, self.KEY)

    def done_keys(self) -> set[tuple]:
        frame = self.read()
        return set(self._keys(frame)) if len(frame) else set()

    @staticmethod
    def _keys(frame: pd.DataFrame) -> list[tuple]:
        split = frame["split"] if "split" in frame else pd.Series(DEFAULT_SPLIT, index=frame.index)
        return list(zip(frame["dataset"].astype(str), frame["target"].astype(str),
                        split.fillna(DEFAULT_SPLIT).astype(str), frame["strategy"].astype(str),
                        frame["seed"].astype(int), frame["step"].astype(int), strict=True))

    def add(self, rows: list[dict[str, Any]]) -> None:
        """Add rows, replacing rows with the same key, and rewrite the table atomically (sorted)."""
        lio.upsert_csv(self.path, rows, keys=lambda frame: pd.Series(self._keys(frame), index=frame.index),
                       columns=self.KEY, sort_by=self.KEY)



def _spearman(scores: np.ndarray, errors: np.ndarray) -> float:
    """Spearman rho, NaN when either side is constant (e.g. a single candidate)."""
    if scores.size < 2 or np.ptp(scores) == 0 or np.ptp(errors) == 0:
        return float("nan")
    return float(spearmanr(scores, errors).statistic)



#: What :func:`step_diagnostics` returns, column by column.
DIAGNOSTIC_COLUMNS = ("spearman_score_vs_error", "batch_mean_abs_error", "pool_mean_abs_error",
                      "batch_to_pool_error", "id_test_nll", "id_test_miscalibration_area",
                      "id_test_coverage_90")



def step_diagnostics(strategy: str, models: dict[str, Any], data: ExperimentData, candidates: np.ndarray,
                     X_candidates: np.ndarray, chosen: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """Why a strategy works: how its scores relate to the step's true errors, and its calibration.

    Args:
        strategy: strategy name.
        models: the step's fitted models (as given to the strategy).
        data: experiment data.
        candidates: pool positions of the unlabelled rows (in the order given to the strategy).
        X_candidates: their features (the very array given to the strategy).
        chosen: indices into ``candidates`` the strategy picked.
        scores: the strategy's score of every candidate.

    Returns:
        Spearman rho between scores and XGB's absolute errors on the candidates, the mean absolute
        error of the chosen batch and of the whole unlabelled pool and their ratio; for strategies with
        a predictive distribution, its Gaussian NLL, miscalibration area and 90 % interval coverage on
        the ID test set (NaN otherwise).
    """
    errors = np.abs(np.asarray(models["xgb"].predict(X_candidates), float) - data.pool.y[candidates])
    pool_error = float(errors.mean()) if errors.size else float("nan")
    batch_error = float(errors[chosen].mean()) if len(chosen) else float("nan")
    row = dict.fromkeys(DIAGNOSTIC_COLUMNS, float("nan"))
    row.update(spearman_score_vs_error=_spearman(np.asarray(scores, float), errors),
               batch_mean_abs_error=batch_error, pool_mean_abs_error=pool_error,
               batch_to_pool_error=batch_error / pool_error if pool_error > 0 else float("nan"))
    record = selectors.find(strategy)
    distribution = record.distribution if record is not None else None
    if distribution is not None and len(data.test):
        loc, scale = (np.asarray(a, float) for a in distribution(models, data.test.X))
        scale = np.maximum(scale, MIN_SCALE)
        row["id_test_nll"] = gaussian_nll(data.test.y, loc, scale)
        row["id_test_miscalibration_area"] = miscalibration_area(data.test.y, loc, scale)
        row["id_test_coverage_90"] = float(np.mean(np.abs(data.test.y - loc) <= Z90_HALF_WIDTH * scale))
    return row



def diagnostics_summary(diagnostics: pd.DataFrame) -> pd.DataFrame:
    """Per dataset/target/strategy: means over seeds and steps of the diagnostics (steps with a batch)."""
    if diagnostics.empty:
        return pd.DataFrame()
    columns = ["spearman_score_vs_error", "batch_to_pool_error", "id_test_nll",
               "id_test_miscalibration_area", "id_test_coverage_90"]
    with_batch = diagnostics[diagnostics["batch_size"] > 0]
    return with_batch.groupby(["dataset", "target", "strategy"])[columns].mean().reset_index()
