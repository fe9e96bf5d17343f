"""The study's error measures, defined once: MAE, RMSE and R² of a model's predictions.

scikit-learn's definitions; every score row of a results table, the array API and the active-learning
loop report these.  (The bootstrap in :mod:`lessdata.analysis.intervals` recomputes RMSE and MAE on resampled
test sets in bulk, with the same definitions.)
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

#: The measures a score row carries, in column order.
METRIC_NAMES = ("mae", "rmse", "r2")


def metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """MAE, RMSE and R² (R² is NaN for a single entry, where it is undefined)."""
    return {"mae": float(mean_absolute_error(y_true, y_pred)),
            "rmse": float(np.sqrt(mean_squared_error(y_true, y_pred))),
            "r2": float(r2_score(y_true, y_pred)) if len(y_true) > 1 else float("nan")}
