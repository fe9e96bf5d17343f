"""Active-learning query strategies as plain functions, and the measures they rank by.

A strategy is ``strategy(models, X_unlabelled, n, rng) -> (indices, scores)`` (modAL's shape: Danka &
Horvath, arXiv:1805.00979): ``models`` are the step's fitted models by name, scores are "higher = more
wanted" for every candidate.  Registering one in :mod:`lessdata.selection.registry` is all it takes to run it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.stats import norm

from lessdata.errors import LessdataError

#: Signature shared by every query strategy.
QueryStrategy = Callable[[dict[str, Any], np.ndarray, int, np.random.Generator],
                         tuple[np.ndarray, np.ndarray]]

#: Half-width, in sigmas, of the central 90 % interval of a normal (the 95th percentile, ≈ 1.645): turns
#: a 5-95 % width into a sigma, and a sigma into the 90 % interval that coverage is checked against.
Z90_HALF_WIDTH = float(norm.ppf(0.95))
#: Scales below this are floored when a spread is read as a Gaussian standard deviation.
MIN_SCALE = 1e-6


# --------------------------------------------------------------------------------------------------
# Building blocks shared by strategies and diagnostics.
# --------------------------------------------------------------------------------------------------
def top_n(scores: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``n`` highest scores; ties (and NaNs, ranked last) keep the candidates' order.

    The stable order matters: the loop lists candidates in the campaign's seeded random order, so ties
    are broken at random yet reproducibly.
    """
    scores = np.asarray(scores, dtype=float)
    if not 0 <= n <= scores.size:
        raise ValueError(f"cannot choose {n} of {scores.size} candidates")
    ranked = np.where(np.isnan(scores), -np.inf, scores)
    return np.argsort(-ranked, kind="stable")[:n]


def nearest_per_group(labels: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """Position of the smallest ``distance`` within each label, in ascending label order."""
    by_group = np.lexsort((distance, labels))
    return by_group[np.r_[0, np.flatnonzero(np.diff(labels[by_group])) + 1]]


def tree_predictions(forest: Any, X: np.ndarray) -> np.ndarray:
    """Per-tree predictions of a fitted random forest, shape ``(n_trees, n_rows)``.

    The input is converted to the trees' float32 layout once and each tree predicts every row in one
    call (``check_input=False`` skips the per-tree validation), so the cost is that of
    ``forest.predict`` itself; the forest is never refitted.
    """
    rows = np.ascontiguousarray(X, dtype=np.float32)
    trees = forest.estimators_
    stacked = np.empty((len(trees), rows.shape[0]), dtype=float)
    for position, tree in enumerate(trees):
        stacked[position] = tree.predict(rows, check_input=False)
    return stacked


def tree_spread(per_tree: np.ndarray, kind: str = "percentile") -> np.ndarray:
    """Spread of per-tree predictions (axis 0): 5-95 % percentile width (paper) or standard deviation."""
    if kind == "percentile":
        # numpy's "linear" percentile from one sort along the trees (np.percentile along axis 0 of a
        # (trees x rows) array is ~4x slower: it partitions twice, across the memory layout).
        ordered = np.sort(per_tree, axis=0)
        position = np.array([0.05, 0.95]) * (ordered.shape[0] - 1)
        below = np.floor(position).astype(int)
        above = np.minimum(below + 1, ordered.shape[0] - 1)
        weight = (position - below)[:, None]
        low, high = ordered[below] * (1 - weight) + ordered[above] * weight
        return high - low
    if kind == "std":
        return per_tree.std(axis=0)
    raise LessdataError(f"unknown spread {kind!r}; choose percentile or std")


def forest_distribution(forest: Any, X: np.ndarray, kind: str = "percentile"
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian reading of a forest's trees: (mean of the trees, spread as a standard deviation).

    A 5-95 % width is divided by ``2 x 1.645`` so that both spreads are on the scale of a sigma; the
    floor keeps unanimous trees from giving a zero variance (an infinite NLL).
    """
    per_tree = tree_predictions(forest, X)
    spread = tree_spread(per_tree, kind)
    scale = spread / (2.0 * Z90_HALF_WIDTH) if kind == "percentile" else spread
    return per_tree.mean(axis=0), np.maximum(scale, MIN_SCALE)


#: The query-by-committee committee: two models every step trains anyway for its evaluation, so a
#: committee query costs two predictions and no fit.  In this order they are the ``selector`` of the rows
#: of QBC and diverse QBC (``xgb+rf``).
COMMITTEE: tuple[str, str] = ("xgb", "rf")


def committee_disagreement(models: dict[str, Any], X: np.ndarray) -> np.ndarray:
    """Absolute difference of the two :data:`COMMITTEE` models' predictions, per row of ``X``.

    The one measure of both QBC strategies, so plain and diverse QBC rank by exactly the same numbers
    (|a - b| does not depend on the order of the pair).
    """
    first, second = (np.asarray(models[name].predict(X), float) for name in COMMITTEE)
    return np.abs(first - second)


def _check_request(X: np.ndarray, n: int) -> None:
    if not 0 <= n <= len(X):
        raise ValueError(f"cannot query {n} of {len(X)} unlabelled rows")


# --------------------------------------------------------------------------------------------------
# Query strategies: strategy(models, X_unlabelled, n, rng) -> (indices, scores).
# --------------------------------------------------------------------------------------------------
def random_query(models: dict[str, Any], X_unlabelled: np.ndarray, n: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` candidates: a uniform draw, because candidates arrive in a seeded random order.

    Taking the prefix of the campaign's permutation (rather than drawing from ``rng``) is what makes
    random AL reproduce the random baseline's nested subsets row for row.  The score is the reverse
    position, so the diagnostics give the "no information" reference (Spearman rho ~ 0).
    """
    _check_request(X_unlabelled, n)
    return np.arange(n), -np.arange(len(X_unlabelled), dtype=float)


def qbc_query(models: dict[str, Any], X_unlabelled: np.ndarray, n: int,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Query by committee: the rows on which the step's RF and XGB disagree most.

    The committee is the two models the step already trained for evaluation (:data:`COMMITTEE`), so
    QBC costs two predictions on the pool and no fit.
    """
    _check_request(X_unlabelled, n)
    disagreement = committee_disagreement(models, X_unlabelled)
    return top_n(disagreement, n), disagreement


def rf_uncertainty_query(models: dict[str, Any], X_unlabelled: np.ndarray, n: int,
                         rng: np.random.Generator, *, spread: str = "percentile"
                         ) -> tuple[np.ndarray, np.ndarray]:
    """RF-U: the rows whose per-tree predictions of the evaluated forest spread the widest.

    ``spread="percentile"`` is the paper's 5-95 % interval width; ``"std"`` the standard deviation
    (registered as ``rf_u_std``).  The forest is the one the step evaluated: no refit.
    """
    _check_request(X_unlabelled, n)
    width = tree_spread(tree_predictions(models["rf"], X_unlabelled), spread)
    return top_n(width, n), width


def rf_std_query(models: dict[str, Any], X_unlabelled: np.ndarray, n: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """RF-U with the standard deviation of the trees instead of the 5-95 % width."""
    return rf_uncertainty_query(models, X_unlabelled, n, rng, spread="std")


def xgb_uncertainty_query(models: dict[str, Any], X_unlabelled: np.ndarray, n: int,
                          rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """XGB-U: the rows with the largest IBUG scale (Brophy & Lowd 2022).

    ``models["xgb_ibug"]`` is a fitted :class:`~lessdata.models.ibug.IBUGRegressor` around an ``xgb_ibug``
    model trained on the selected set; its scale is the spread of the targets of the ``k`` training rows
    that share the most leaves with each candidate (``xgb_u``: k = 100, raw; ``xgb_u_tuned``: tuned k,
    calibrated scale).  Both strategies use this function; they differ in how the model was fitted.
    """
    _check_request(X_unlabelled, n)
    _, scale = models["xgb_ibug"].pred_dist(X_unlabelled)
    scale = np.asarray(scale, dtype=float)
    return top_n(scale, n), scale


def diverse_qbc_query(models: dict[str, Any], X_unlabelled: np.ndarray, n: int,
                      rng: np.random.Generator, *, prefilter: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """QBC with a diverse batch (Zhdanov, arXiv:1901.05954): cluster the most-disputed rows, one per cluster.

    Plain QBC fills a 1 % batch with the top of one ranking, which on small training sets is a crowd
    of near-identical outliers.  Here the ``prefilter x n`` rows of largest RF/XGB disagreement are
    split by k-means (weighted by the disagreement) into ``n`` clusters and the row nearest each centre
    is taken: still uncertain rows, but spread over the candidates.
    """
    from sklearn.cluster import KMeans  # noqa: PLC0415 - only this strategy needs it

    _check_request(X_unlabelled, n)
    disagreement = committee_disagreement(models, X_unlabelled)
    if n == 0:
        return np.arange(0), disagreement
    shortlist = top_n(disagreement, min(len(X_unlabelled), prefilter * n))
    if len(shortlist) == n:
        return shortlist, disagreement
    points = np.asarray(X_unlabelled[shortlist], dtype=np.float64)
    kmeans = KMeans(n_clusters=n, n_init=1, max_iter=100, random_state=int(rng.integers(2**31 - 1)))
    labels = kmeans.fit_predict(points, sample_weight=disagreement[shortlist] + MIN_SCALE)
    distance = ((points - kmeans.cluster_centers_[labels]) ** 2).sum(axis=1)
    chosen = shortlist[nearest_per_group(labels, distance)]
    if len(chosen) < n:  # k-means left a cluster empty: fill with the most disputed rows not yet taken
        rest = shortlist[~np.isin(shortlist, chosen)]
        chosen = np.concatenate([chosen, rest[: n - len(chosen)]])
    return chosen, disagreement
