"""The documented way in for notebooks: prune or subsample *your own* table with any scikit-learn regressor.

:func:`prune` (the pruning algorithm) and :func:`random_subsets` (the random baseline) take NumPy arrays
or pandas tables and call the same engine as the scripts in ``codes/``; pool positions in their results
are rows of ``X`` in the order given.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from lessdata import config
from lessdata import pruning as _pruning
from lessdata.errors import LessdataError
from lessdata.evaluate import metrics
from lessdata.pruning import PruningResult
from lessdata.runner import pool_permutation, size_of

__all__ = ["prune", "random_subsets"]

#: The paper's pruning settings (kappa 0.5, 1 % removal floor, 300 retained, 2000 rounds), read from the
#: profile table rather than restated.
_PAPER = config.PROFILES["paper"]["prune"]
#: Held-out share of the retained set in every round: the paper's 80/20 split.
_ROUND_TEST_FRACTION = 0.2

#: Columns of :func:`random_subsets`' table, in order.
RANDOM_SUBSET_COLUMNS = ["seed", "fraction", "train_size", "rmse", "mae", "r2", "fit_seconds"]


def _as_features(X: Any, name: str, columns: pd.Index | None = None) -> np.ndarray:
    """``X`` as a 2-D NumPy array; a DataFrame must have the reference ``columns`` in the same order."""
    if isinstance(X, pd.DataFrame) and columns is not None and not X.columns.equals(columns):
        raise LessdataError(f"{name} has other columns than X (or in another order); pass the same feature "
                            f"columns, e.g. {name}[X.columns]")
    return _pruning.feature_matrix(X, name)


def _as_target(y: Any, n_rows: int, name: str) -> np.ndarray:
    """``y`` as a 1-D float array with one value per row of its feature matrix (an N x 1 column too)."""
    values = np.asarray(y, dtype=np.float64)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    return _pruning.target_vector(values, n_rows, name)


def _test_set(X_test: Any, y_test: Any, X: Any, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """The held-out set as arrays, checked against the pool's feature columns."""
    if X_test is None or y_test is None:
        raise LessdataError("pass both X_test and y_test (the held-out set)")
    columns = X.columns if isinstance(X, pd.DataFrame) else None
    X_array = _as_features(X_test, "X_test", columns)
    if X_array.shape[1] != n_features:
        raise LessdataError(f"X_test has {X_array.shape[1]} features, X has {n_features}")
    return X_array, _as_target(y_test, X_array.shape[0], "y_test")


def prune(estimator: Any, X: Any, y: Any, *, X_test: Any = None, y_test: Any = None,
          threshold: float | None = None, kappa: float = _PAPER["kappa"],
          test_fraction: float = _ROUND_TEST_FRACTION, min_remove_frac: float = _PAPER["min_remove_frac"],
          min_retained: int = _PAPER["min_retained"], max_rounds: int = _PAPER["max_rounds"],
          random_state: int = 0, checkpoint: str | Path | None = None,
          progress: bool = False) -> PruningResult:
    """Rank the rows of a pool from most redundant to most informative (Li et al. 2023).

    Every round fits a fresh clone of ``estimator`` on 80 % of the retained rows and removes the rows of
    the other 20 % it predicts better than ``threshold`` (at least ``min_remove_frac`` of the pool per
    round), until ``min_retained`` rows are left; see :mod:`lessdata.pruning` for the exact rules.

    The threshold needs data the pool does not contain: as in the study it is ``kappa`` x the MAE on a
    held-out test set (``X_test``, ``y_test``) of the estimator fitted on the whole pool
    (:func:`lessdata.pruning.pruning_threshold`).  Nothing is held out for you: pass a test set split off
    your table before pruning (the study holds out 10 %), or pass ``threshold`` yourself.  Exactly one of
    the two is required, so a threshold is never measured on rows that are then pruned.

    Args:
        estimator: unfitted scikit-learn regressor (``XGBRegressor``, ``RandomForestRegressor`` ...);
            it is cloned for every fit and never fitted itself.
        X: pool features, N x F (NumPy array or numeric DataFrame).
        y: pool targets, N (array or Series).
        X_test, y_test: held-out set that sets the threshold; a DataFrame ``X_test`` must have ``X``'s
            columns.
        threshold: absolute-error threshold to use instead (e.g. from an earlier run).
        kappa: threshold = ``kappa`` x test MAE (0.5 in the paper).
        test_fraction: held-out share of the retained rows in each round (0.2 in the paper).
        min_remove_frac: fewest rows a round removes, as a share of the original pool (0.01 in the
            paper); keeps pruning moving once few rows pass the threshold.
        min_retained: stop before fewer rows than this would remain (300 in the paper).
        max_rounds: hard limit on rounds (2000 in the paper).
        random_state: round ``r`` splits with seed ``random_state + r``.  The estimator's own seed is
            left as you set it.
        checkpoint: optional ``.npz`` path written after every round; rerunning with it resumes.
        progress: show a progress bar.

    Returns:
        A :class:`lessdata.pruning.PruningResult`: ``order`` (positions, most redundant first),
        ``removal_round`` per row, ``round_sizes``, ``threshold``, ``rounds_frame()`` (one row per round)
        and ``retained_at(fraction)`` (the pruned set of a fraction of the pool, as positions of ``X``).

    Raises:
        ValueError: when neither or both of ``threshold`` and the test set are given, for misaligned or
            non-numeric inputs, or a pool of at most ``min_retained`` rows.

    Example:
        >>> from sklearn.datasets import make_regression
        >>> from sklearn.model_selection import train_test_split
        >>> from sklearn.tree import DecisionTreeRegressor
        >>> import lessdata
        >>> X, y = make_regression(n_samples=400, n_features=5, noise=5.0, random_state=0)
        >>> X_pool, X_test, y_pool, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
        >>> result = lessdata.prune(DecisionTreeRegressor(max_depth=6, random_state=0), X_pool, y_pool,
        ...                         X_test=X_test, y_test=y_test, min_retained=50)
        >>> result.n_pool, result.stop_reason, bool(50 <= result.round_sizes[-1] < 53)
        (300, 'min_retained', True)
        >>> sorted(result.order) == list(range(300))   # every row ranked, most redundant first
        True
        >>> len(result.retained_at(0.5)) <= 150        # the pruned set at half the pool
        True
        >>> rounds = result.rounds_frame()                # one row per round
        >>> len(rounds) == result.n_rounds, int(rounds["n_removed"].sum() + result.round_sizes[-1])
        (True, 300)
    """
    X_pool = _as_features(X, "X")
    y_pool = _as_target(y, X_pool.shape[0], "y")
    has_test = X_test is not None or y_test is not None
    if threshold is None:
        if not has_test:
            raise LessdataError("the pruning threshold is kappa x the MAE on a held-out test set: pass "
                                "X_test and y_test (rows not in X, e.g. a 10 % split of your table), or "
                                "threshold=")
        X_held, y_held = _test_set(X_test, y_test, X, X_pool.shape[1])
        threshold, _ = _pruning.pruning_threshold(estimator, X_pool, y_pool, X_held, y_held, kappa=kappa)
    elif has_test:
        raise LessdataError("pass either threshold= or the test set (X_test, y_test) that sets it, not both")
    return _pruning.prune(estimator, X_pool, y_pool, float(threshold), test_fraction=test_fraction,
                          min_remove_frac=min_remove_frac, min_retained=min_retained, max_rounds=max_rounds,
                          random_state=random_state, checkpoint=checkpoint, progress=progress)


def random_subsets(estimator: Any, X: Any, y: Any, X_test: Any, y_test: Any, *, fractions: Sequence[float],
                   seeds: Sequence[int] = (0,)) -> pd.DataFrame:
    """Test-set scores of models trained on random subsets of the pool: the baseline pruning must beat.

    For each seed the subsets are prefixes of one seeded permutation of the pool
    (:func:`lessdata.runner.pool_permutation`), so they are nested (the 10 % subset is inside the 20 %
    one) and identical to the study's random baseline and random active learning at the same seed; sizes
    are ``max(1, round(fraction * N))`` (:func:`lessdata.runner.size_of`).  Every fit uses a fresh clone
    of ``estimator`` whose ``random_state`` (when it has one) is set to the seed, as in the study.

    Args:
        estimator: unfitted scikit-learn regressor.
        X, y: the pool (arrays or DataFrame/Series).
        X_test, y_test: the held-out set every model is scored on.
        fractions: training-set sizes as fractions of the pool, each in (0, 1].
        seeds: one permutation (and model seed) per value.

    Returns:
        One row per (seed, fraction), seeds outer, fractions in the given order, with columns
        ``seed``, ``fraction``, ``train_size``, ``rmse``, ``mae``, ``r2`` (on the test set) and
        ``fit_seconds``.

    Raises:
        ValueError: for a fraction outside (0, 1], no fractions or seeds, or misaligned inputs.

    Example:
        >>> from sklearn.datasets import make_regression
        >>> from sklearn.model_selection import train_test_split
        >>> from sklearn.tree import DecisionTreeRegressor
        >>> import lessdata
        >>> X, y = make_regression(n_samples=400, n_features=5, noise=5.0, random_state=0)
        >>> X_pool, X_test, y_pool, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
        >>> table = lessdata.random_subsets(DecisionTreeRegressor(max_depth=6), X_pool, y_pool, X_test,
        ...                                 y_test, fractions=[0.1, 0.5, 1.0], seeds=(0, 1))
        >>> table.shape
        (6, 7)
        >>> table.loc[table["seed"] == 1, "train_size"].tolist()
        [30, 150, 300]
        >>> bool((table["rmse"] >= table["mae"]).all())
        True
    """
    fractions = [float(fraction) for fraction in fractions]
    seeds = [int(seed) for seed in seeds]
    if not fractions or not seeds:
        raise LessdataError("give at least one fraction and one seed")
    bad = [fraction for fraction in fractions if not 0 < fraction <= 1]
    if bad:
        raise LessdataError(f"fractions must be in (0, 1], got {bad}")
    X_pool = _as_features(X, "X")
    y_pool = _as_target(y, X_pool.shape[0], "y")
    X_held, y_held = _test_set(X_test, y_test, X, X_pool.shape[1])
    n_pool = X_pool.shape[0]
    seeded = "random_state" in estimator.get_params()
    rows = []
    for seed in seeds:
        order = pool_permutation(seed, n_pool)
        for fraction in fractions:
            train = order[: size_of(fraction, n_pool)]
            model = clone(estimator)
            if seeded:
                model.set_params(random_state=seed)
            started = time.perf_counter()
            model.fit(X_pool[train], y_pool[train])
            fit_seconds = time.perf_counter() - started
            scores = metrics(y_held, np.asarray(model.predict(X_held), dtype=np.float64).ravel())
            rows.append({"seed": seed, "fraction": fraction, "train_size": int(train.size), **scores,
                         "fit_seconds": fit_seconds})
    return pd.DataFrame(rows, columns=RANDOM_SUBSET_COLUMNS)
