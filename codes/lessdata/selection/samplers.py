"""Subset samplers: one-shot orderings of the pool that a training set of any size is read from.

A sampler is ``sampler(view, n, rng) -> positions``: the first ``n`` pool positions it would train on,
best first.  The label-free ones read only the features; the pruning-signal one reads the study's
pruning order of the same pool.  :mod:`lessdata.experiments.subsets` stores and evaluates them like random
subsets.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.cluster import Birch
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from lessdata.errors import LessdataError
from lessdata.selection.pruning import PruningResult
from lessdata.selection.strategies import nearest_per_group

#: Share of the feature variance the coverage space keeps, and the most components it may have.
COVERAGE_VARIANCE = 0.95
COVERAGE_MAX_COMPONENTS = 48
#: Rows the PCA of the coverage space is fitted on (a seeded sample; the projection covers every row).
PCA_FIT_ROWS = 50_000


@dataclass(frozen=True)
class PoolView:
    """What a sampler may read about the pool: its standardized features, and the study's pruning of it.

    Attributes:
        X: standardized features of the pool, shape (n_pool, n_features).
        pruning: the guide's pruning result on this pool, for samplers that stratify by it (else None).
    """

    X: np.ndarray
    pruning: PruningResult | None = None


#: Signature shared by every sampler.
Sampler = Callable[[PoolView, int, np.random.Generator], np.ndarray]


def _check_budget(view: PoolView, n: int) -> None:
    if not 0 < n <= len(view.X):
        raise LessdataError(f"cannot select {n} of {len(view.X)} pool entries")


def principal_scores(X: np.ndarray, *, variance: float = COVERAGE_VARIANCE,
                     max_components: int = COVERAGE_MAX_COMPONENTS, seed: int = 0) -> tuple[np.ndarray,
                                                                                             np.ndarray]:
    """PCA scores of the rows (float32) and the explained variance of each kept component.

    Distances between the scores approximate distances in the standardized feature space with a fraction
    of the columns, which is what makes a greedy coverage pass over 10^5-10^6 rows affordable.
    """
    rows = X if len(X) <= PCA_FIT_ROWS else X[np.random.default_rng(seed).choice(len(X), PCA_FIT_ROWS,
                                                                                 replace=False)]
    pca = PCA(n_components=min(max_components, *X.shape), svd_solver="randomized",
              random_state=seed).fit(rows)
    kept = int(np.searchsorted(np.cumsum(pca.explained_variance_ratio_), variance) + 1)
    kept = min(kept, pca.n_components_)
    scores = (X - pca.mean_) @ pca.components_[:kept].T
    return np.ascontiguousarray(scores, dtype=np.float32), pca.explained_variance_[:kept]


def farthest_point_order(points: np.ndarray, n: int, start: int,
                         covered: np.ndarray | None = None) -> np.ndarray:
    """Greedy k-center order (Gonzalez 1985): each next point is the one farthest from all chosen so far.

    Exact copies of a chosen point sit at distance 0, so they come only after every distinct point.
    ``covered`` are points already chosen by someone else: the order continues from them (``start`` is
    then ignored) and never returns them.  Cost: one pass over the rows per point (O(n_rows x n x
    dims)), no pairwise matrix.
    """
    sq_norms = np.einsum("ij,ij->i", points, points)
    nearest = np.full(len(points), np.inf, dtype=np.float32)

    def cover(position: int) -> None:
        # ||x - c||^2 = ||x||^2 - 2 x.c + ||c||^2 as one matrix-vector product over the rows.
        distance = sq_norms - 2.0 * (points @ points[position]) + sq_norms[position]
        np.minimum(nearest, distance, out=nearest)

    for position in () if covered is None else covered:
        cover(int(position))
    if covered is not None and len(covered):
        nearest[np.asarray(covered, dtype=np.int64)] = -np.inf
        start = int(np.argmax(nearest))
    chosen = np.empty(n, dtype=np.int64)
    current = int(start)
    for step in range(n):
        chosen[step] = current
        cover(current)
        nearest[current] = -np.inf  # never again (rounding can leave a chosen point slightly above 0)
        current = int(np.argmax(nearest))
    return chosen


def kcenter_sampler(view: PoolView, n: int, rng: np.random.Generator) -> np.ndarray:
    """k-center coverage (core-set selection, Sener & Savarese, ICLR 2018): farthest-point traversal.

    Runs in the PCA space of the standardized features (95 % of the variance); the first point is a
    seeded random entry, so seeds differ only by where the traversal starts.
    """
    _check_budget(view, n)
    points, _ = principal_scores(view.X)
    return farthest_point_order(points, n, int(rng.integers(len(points))))


def _birch_clusters(points: np.ndarray, n: int) -> np.ndarray:
    """Birch leaf clusters (no global step), the threshold halved until there are at least ``n``."""
    threshold = float(np.sqrt(points.var(axis=0).sum()))  # about one spread of the data: few clusters
    while True:
        labels = Birch(threshold=threshold, n_clusters=None, branching_factor=50,
                       compute_labels=True).fit(points).labels_
        labels = np.unique(labels, return_inverse=True)[1]  # subclusters that got no row are dropped
        if labels.max() + 1 >= n or threshold < 1e-6:
            return labels
        threshold /= 2.0 if labels.max() + 1 < n / 4 else 1.25


def direct_sampler(view: PoolView, n: int, rng: np.random.Generator) -> np.ndarray:
    """lessdata's DIRECT variant (after J. Qi et al., npj Comput Mater 10, 2024): the largest Birch leaves.

    Kept as a named variant; the published method is :func:`direct_maml_sampler`.  Measured on
    mp18_comp e_form (``benchmarks/results/bench_direct_variants.md``), this variant is worse than
    random subsets at 2-10 % of the pool (MAE), where the published method ties them (the largest
    leaves are dense, over-represented regions), and has a lower MAE than random subsets at 50-70 %.

    The principal components with eigenvalue > 1 (Kaiser's rule on standardized features) are weighted
    by their explained variance, Birch's threshold is lowered until the pool falls into at least ``n``
    clusters, and the entry nearest each cluster's centre is taken, largest clusters first, until ``n``
    are chosen; exact copies of a chosen entry are never taken.  ``rng`` shuffles the rows before
    clustering (Birch depends on their order).  Not nested: each budget is clustered anew.
    doi:10.1038/s41524-024-01227-4
    """
    _check_budget(view, n)
    points, variance = principal_scores(view.X, variance=1.0, max_components=view.X.shape[1])
    keep = max(1, int((variance > 1.0).sum()))
    weighted = points[:, :keep] * (variance[:keep] / variance[:keep].sum()).astype(np.float32)
    shuffle = rng.permutation(len(weighted))
    labels = np.empty(len(weighted), dtype=np.int64)
    labels[shuffle] = _birch_clusters(weighted[shuffle], n)
    n_clusters = int(labels.max() + 1)
    sizes = np.bincount(labels, minlength=n_clusters)
    centres = np.zeros((n_clusters, keep), dtype=np.float64)
    np.add.at(centres, labels, weighted)
    centres /= sizes[:, None]
    distance = ((weighted - centres[labels]) ** 2).sum(axis=1)
    # Per cluster its entries by distance to the centre; the nearest of each, largest clusters first.
    first = nearest_per_group(labels, distance)
    picks = first[np.argsort(-sizes[labels[first]], kind="stable")]
    picks = _without_copies(view.X, picks)
    if len(picks) < n:  # fewer clusters than the budget: continue with a coverage pass from the picks
        fill = farthest_point_order(weighted, n - len(picks), 0, covered=picks)
        picks = np.concatenate([picks, fill])
    return picks[:n]


def direct_maml_sampler(view: PoolView, n: int, rng: np.random.Generator) -> np.ndarray:
    """DIRECT as published (Qi et al., npj Comput Mater 10, 2024), run with maml's own components.

    maml's ``DIRECTSampler`` with the structure encoder off, step by step: standard scaling, PCA with
    the components of eigenvalue > 1 weighted by their explained variance, Birch with its global step
    into exactly ``n`` clusters (maml lowers the threshold until there are at least ``n`` subclusters),
    and the entry nearest each cluster's centre (``SelectKFromClusters(k=1)``).  This differs from
    :func:`direct_sampler`, which takes the ``n`` *largest* Birch leaf clusters and so favours dense,
    over-represented regions.  ``rng`` permutes the rows first (Birch depends on their order), which
    is the only difference between seeds.  Should maml select fewer than ``n`` distinct rows, a
    coverage pass from its picks fills the rest.  doi:10.1038/s41524-024-01227-4
    """
    _check_budget(view, n)
    pca_step, birch_step, select_step = _maml_direct_steps()
    order = rng.permutation(len(view.X))
    features = StandardScaler().fit_transform(view.X[order])
    scores = pca_step(weighting_PCs=True).fit(features).transform(features)
    clusters = birch_step(n=n).fit(scores).transform(scores)
    chosen = select_step(k=1, allow_duplicate=False).fit(clusters).transform(clusters)["selected_indexes"]
    picks = _without_copies(view.X, order[np.asarray(chosen, dtype=np.int64)])
    if len(picks) < n:
        in_pool_order = np.asarray(scores, dtype=np.float32)[np.argsort(order)]
        fill = farthest_point_order(in_pool_order, n - len(picks), 0, covered=picks)
        picks = np.concatenate([picks, fill])
    return picks[:n]


def _maml_direct_steps() -> tuple[type, type, type]:
    """maml's PCA, Birch and stratified-selection steps, imported on first use.

    Imported here rather than at the top because maml's sampling modules call ``logging.basicConfig()``
    and raise their loggers to INFO when imported; the root handler they add is removed again and their
    loggers kept at WARNING, so that using DIRECT does not change how the rest of lessdata logs.
    """
    root = logging.getLogger()
    handlers = list(root.handlers)
    from maml.sampling.clustering import BirchClustering  # noqa: PLC0415 - see the docstring
    from maml.sampling.pca import PrincipalComponentAnalysis  # noqa: PLC0415
    from maml.sampling.stratified_sampling import SelectKFromClusters  # noqa: PLC0415

    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    for name in ("maml.sampling.clustering", "maml.sampling.pca", "maml.sampling.stratified_sampling"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return PrincipalComponentAnalysis, BirchClustering, SelectKFromClusters


def _without_copies(X: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """``positions`` without rows whose features equal an earlier listed row's."""
    rows = np.ascontiguousarray(X[positions])
    keys = rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()
    _, first = np.unique(keys, return_index=True)
    return positions[np.sort(first)]


def pruning_strata(result: PruningResult) -> np.ndarray:
    """Stratum of every pool entry: the round pruning removed it in; survivors form the last stratum."""
    return np.where(result.removal_round < 0, result.n_rounds, result.removal_round)


def stratified_round_robin(strata: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Take entries one stratum at a time, in turn, each stratum in a seeded random order.

    Every prefix allocates its budget evenly over the strata that still have entries, small strata
    being used up first: coverage-centric coreset selection's allocation (Zheng et al., ICLR 2023).
    """
    permuted = rng.permutation(len(strata))
    by_stratum = permuted[np.argsort(strata[permuted], kind="stable")]
    # Rank of each entry inside its stratum (0, 1, 2 ...): the round-robin pass it is taken in.
    starts = np.r_[0, np.flatnonzero(np.diff(strata[by_stratum])) + 1]
    counts = np.diff(np.r_[starts, len(by_stratum)])
    rank = np.arange(len(by_stratum)) - np.repeat(starts, counts)
    # Within a pass the hardest stratum (latest round) goes first.
    order = by_stratum[np.lexsort((-strata[by_stratum], rank))]
    return order[:n]


def pruning_coverage_sampler(view: PoolView, n: int, rng: np.random.Generator) -> np.ndarray:
    """The study's pruning signal read for coverage: stratified over removal rounds, not the last survivors.

    Keeping only the entries pruning removed last (the hardest) loses the easy regions of the data at
    high pruning rates; an even share of every removal round keeps them (Zheng et al., ICLR 2023, on
    image data; arXiv:2507.09001 on electronic-structure data).  Nested: larger sets extend smaller ones.

    Raises:
        LessdataError: the view carries no pruning result.
    """
    _check_budget(view, n)
    if view.pruning is None:
        raise LessdataError("the pruning-coverage sampler needs the guide's pruning order of this pool; "
                            "run prune_data.py on the same --out folder first")
    return stratified_round_robin(pruning_strata(view.pruning), n, rng)
