"""Checks of the arrays users hand to lessdata: one place for every X / y entry point.

The array API (:mod:`lessdata.api`), the pruning algorithm and IBUG accept NumPy arrays, DataFrames and
Series; each turns them into plain arrays here, so a bad input gets the same clear message wherever it
enters.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lessdata.errors import LessdataError


def feature_matrix(X: Any, name: str = "X", columns: pd.Index | None = None) -> np.ndarray:
    """``X`` as a 2-D numeric NumPy array; a DataFrame must have the reference ``columns`` in that order.

    Raises:
        LessdataError: for another shape, a non-numeric dtype or other columns.
    """
    if isinstance(X, pd.DataFrame) and columns is not None and not X.columns.equals(columns):
        raise LessdataError(f"{name} has other columns than X (or in another order); pass the same feature "
                            f"columns, e.g. {name}[X.columns]")
    array = np.asarray(X)
    if array.ndim != 2:
        raise LessdataError(f"{name} must be 2-D (entries x features), got shape {array.shape}")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise LessdataError(f"{name} must be numeric, got dtype {array.dtype}; drop or encode non-numeric "
                            "columns (ids, formulas) first")
    return array


def target_vector(y: Any, n_rows: int, name: str = "y", *, column: bool = True,
                  finite: bool = False) -> np.ndarray:
    """``y`` as a 1-D float array with one value per row of its feature matrix.

    Args:
        column: accept an N x 1 column too (a one-target DataFrame or 2-D array).
        finite: refuse NaN and infinite values (naming the first row), for fits that cannot skip them.

    Raises:
        LessdataError: for another shape or length, or a non-finite value when ``finite``.
    """
    values = np.asarray(y, dtype=np.float64)
    if column and values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1 or values.size != n_rows:
        raise LessdataError(f"{name} must be 1-D with one value per row of its features ({n_rows}), got "
                            f"shape {values.shape}")
    if finite:
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise LessdataError(f"{name} has {bad.size} non-finite values (first at row {bad[0]}); drop "
                                "those rows before fitting")
    return values


def held_out_set(X_test: Any, y_test: Any, X: Any, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """A held-out set as arrays, checked against the pool ``X``'s feature columns."""
    if X_test is None or y_test is None:
        raise LessdataError("pass both X_test and y_test (the held-out set)")
    columns = X.columns if isinstance(X, pd.DataFrame) else None
    X_array = feature_matrix(X_test, "X_test", columns)
    if X_array.shape[1] != n_features:
        raise LessdataError(f"X_test has {X_array.shape[1]} features, X has {n_features}")
    return X_array, target_vector(y_test, X_array.shape[0], "y_test")


def features_for(estimator: Any, X: Any, name: str = "X") -> None:
    """Refuse an ``X`` that is not 2-D with the fitted ``estimator``'s number of features.

    Works on anything with a ``.shape`` (NumPy, pandas, SciPy sparse), without copying it.
    """
    shape = getattr(X, "shape", None)
    if shape is None:
        raise TypeError(f"{name} must be an array-like with a .shape (numpy, pandas or scipy.sparse), "
                        f"got {type(X).__name__}")
    if len(shape) != 2:
        raise LessdataError(f"{name} must be 2-D (rows x features), got shape {tuple(shape)}")
    expected = estimator.n_features_in_
    if shape[1] != expected:
        raise LessdataError(f"{name} has {shape[1]} features but the estimator was fitted on {expected}; "
                            "pass the same feature columns the model was trained on")
