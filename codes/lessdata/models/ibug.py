"""Instance-based uncertainty for gradient-boosted trees (IBUG), with a fast exact neighbour search.

:class:`IBUGRegressor` gives a fitted XGBoost regressor Gaussian predictive distributions (Brophy & Lowd,
NeurIPS 2022) whose scale comes from the targets of each row's ``k`` highest-affinity training rows.
The method, its tuning and the bitset search: ``docs/decisions.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import NotFittedError
from xgboost import XGBRegressor

from lessdata.errors import LessdataError
from lessdata.evaluation.validation import features_for, target_vector

#: Neighbour counts searched on the validation set: dense at small k, up to 701.
DEFAULT_K_GRID: tuple[int, ...] = (3, 5, 7, 9, 11, 15, 31, 61, 91, 121, 151, 201, 301, 401, 501, 601, 701)

#: Working bytes per (query row x training row) of the fast path, rounded up: bit planes (~3), the
#: decoding buffers (~3), counts (2-4), the ranking key (4-8) and argpartition's int64 output (8).
_BYTES_PER_AFFINITY_ENTRY = 32
#: Working bytes per (query row x tree): xgboost's float32 leaf ids and their int32/int64 copies.
_BYTES_PER_LEAF_ENTRY = 40

#: Chunks are also capped so that one bit plane (rows x training words) stays cache-sized.
_CACHE_WORDS = 2**14
_MIN_CHUNK_ROWS = 8
#: Largest dense (tree, leaf id) -> column lookup table (int32 entries) kept after fit.
_MAX_LOOKUP_ENTRIES = 2**24

#: _SPREAD_BITS[s][v]: a uint64 whose byte j is ``((v >> j) & 1) << s`` (in memory order, so it is
#: endian-safe): decodes one byte of bit plane ``s`` into the count bytes of 8 training rows.
_SPREAD_BITS = [np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1, bitorder="little")
                .view(np.uint64)[:, 0] << np.uint64(shift) for shift in range(8)]

_LOG_2PI = math.log(2.0 * math.pi)


# --------------------------------------------------------------------------------------------------
# Small helpers shared by both paths.
# --------------------------------------------------------------------------------------------------
def _check_estimator(estimator: Any) -> XGBRegressor:
    """Return ``estimator`` if it is a fitted ``XGBRegressor``; raise a clear error otherwise."""
    if not isinstance(estimator, XGBRegressor):
        raise TypeError(
            f"IBUG needs a fitted xgboost.XGBRegressor, got {type(estimator).__name__}; build one with "
            "lessdata.models.factory.make_model('xgb_ibug', ...) and fit it first"
        )
    if not estimator.__sklearn_is_fitted__():
        raise NotFittedError(
            "the XGBRegressor given to IBUG is not fitted; call estimator.fit(X, y) first "
            "(IBUG never refits the model)"
        )
    return estimator


def _n_rows(X: Any) -> int:
    return int(X.shape[0])


def _take_rows(X: Any, rows: slice | np.ndarray) -> Any:
    """Rows of ``X`` whatever its container (pandas keeps its column names for xgboost)."""
    if hasattr(X, "iloc"):
        return X.iloc[rows]
    if sp.issparse(X):
        return X.tocsr()[rows]
    return np.asarray(X)[rows]


def _repeated_rows(X: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """``(unique rows, inverse)`` of a dense array with byte-identical rows, else None.

    Composition-only tables repeat a feature row for every polymorph of a formula (a quarter of
    mp18_comp's pool), and identical inputs reach identical leaves, so the neighbour search runs once
    per distinct row and is copied back: the same result for fewer rows.  Rows are compared as bytes
    (``0.0`` and ``-0.0`` stay apart), so no two rows that a tree could tell apart are merged.
    """
    if hasattr(X, "iloc") or sp.issparse(X):
        return None
    rows = np.ascontiguousarray(X)
    if rows.ndim != 2 or len(rows) < 2 or rows.dtype.kind not in "biuf":
        return None
    as_bytes = rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()
    _, first, inverse = np.unique(as_bytes, return_index=True, return_inverse=True)
    if first.size == len(rows):
        return None
    return rows[first], inverse.reshape(-1)


def _predict(estimator: XGBRegressor, X: Any) -> np.ndarray:
    """The estimator's point predictions, checked to be one target per row."""
    prediction = np.asarray(estimator.predict(X), dtype=float)
    if prediction.ndim != 1:
        raise LessdataError("IBUG supports single-target regressors; predict returned shape "
                            f"{prediction.shape}")
    return prediction


def leaf_indices(estimator: XGBRegressor, X: Any) -> np.ndarray:
    """Leaf reached by every row of ``X`` in every tree of a fitted XGBoost regressor.

    Uses ``estimator.apply``, which honours early stopping (``best_iteration``) exactly like
    ``estimator.predict``, so the trees that define the neighbours are the trees that make the
    prediction.

    Args:
        estimator: a fitted ``xgboost.XGBRegressor``.
        X: feature matrix with the estimator's columns.

    Returns:
        ``int32`` array of shape ``(n_rows, n_trees)``; entry ``[i, t]`` is the node id of the leaf of
        tree ``t`` that row ``i`` falls into (ids are unique within a tree, not across trees).

    Raises:
        TypeError: ``estimator`` is not an ``XGBRegressor``.
        NotFittedError: ``estimator`` is not fitted.
        ValueError: ``X`` is not 2-D or has the wrong number of features.
    """
    _check_estimator(estimator)
    features_for(estimator, X)
    leaves = np.asarray(estimator.apply(X))
    if leaves.ndim == 1:  # a single tree
        leaves = leaves[:, None]
    return leaves.astype(np.int32, copy=False)


def gaussian_nll(y: Any, loc: Any, scale: Any) -> float:
    """Mean Gaussian negative log-likelihood of ``y`` under ``N(loc, scale**2)``.

    This is the score IBUG tunes ``k`` and the calibration with: unlike interval coverage it rewards
    scales that are small where the model is right and large where it is wrong.

    Args:
        y: observed targets, shape ``(n,)``.
        loc: predicted means, shape ``(n,)``.
        scale: predicted standard deviations, shape ``(n,)``, all > 0.

    Returns:
        ``mean(0.5 log(2 pi) + log(scale) + 0.5 ((y - loc) / scale)**2)``.

    Raises:
        ValueError: mismatched shapes, empty input or a non-positive scale.
    """
    y_arr, loc_arr, scale_arr = (np.asarray(a, dtype=float) for a in (y, loc, scale))
    if not (y_arr.shape == loc_arr.shape == scale_arr.shape):
        raise LessdataError(f"y, loc and scale must have one shape; got {y_arr.shape}, {loc_arr.shape}, "
                            f"{scale_arr.shape}")
    if y_arr.size == 0:
        raise LessdataError("gaussian_nll of an empty array is undefined")
    if not np.all(scale_arr > 0):
        raise LessdataError("every scale must be > 0 (floor it, e.g. with IBUGRegressor's min_scale)")
    z = (y_arr - loc_arr) / scale_arr
    return float(np.mean(0.5 * _LOG_2PI + np.log(scale_arr) + 0.5 * z * z))


# --------------------------------------------------------------------------------------------------
# Brute-force reference.
# --------------------------------------------------------------------------------------------------
def _brute_force_topk(query_leaves: np.ndarray, train_leaves: np.ndarray, k: int
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Reference top-``k`` neighbours, one query row at a time.

    For every query row, compare its leaf vector with every training row's, count the matching trees and
    sort by (affinity descending, training index ascending).  ``O(n_train x n_trees)`` per query row:
    this is the definition the fast path must reproduce exactly, kept plain on purpose.

    Args:
        query_leaves: ``(n_query, n_trees)`` leaf ids from :func:`leaf_indices`.
        train_leaves: ``(n_train, n_trees)`` leaf ids of the training rows.
        k: neighbours per query, ``1 <= k <= n_train``.

    Returns:
        ``(indices, affinities)``, both ``(n_query, k)``: training row indices, best first, and their
        affinities.
    """
    n_train = train_leaves.shape[0]
    if not 1 <= k <= n_train:
        raise ValueError(f"k must be in [1, {n_train}], got {k}")
    training_index = np.arange(n_train)
    indices = np.empty((query_leaves.shape[0], k), dtype=np.int64)
    affinities = np.empty((query_leaves.shape[0], k), dtype=np.int64)
    for row, query in enumerate(query_leaves):
        affinity = np.count_nonzero(train_leaves == query, axis=1)
        order = np.lexsort((training_index, -affinity))[:k]  # last key is primary
        indices[row] = order
        affinities[row] = affinity[order]
    return indices, affinities


def _brute_force_scale(query_leaves: np.ndarray, train_leaves: np.ndarray, y_train: np.ndarray, k: int,
                       min_scale: float = 1e-6) -> np.ndarray:
    """Uncalibrated IBUG scale by the reference path: std of the ``k`` nearest targets, floored."""
    indices, _ = _brute_force_topk(query_leaves, train_leaves, k)
    return np.maximum(np.std(y_train[indices], axis=1), min_scale)


# --------------------------------------------------------------------------------------------------
# Fast path.
# --------------------------------------------------------------------------------------------------
class _LeafColumns:
    """Numbers the (tree, leaf) pairs reached by training rows: the columns of the leaf incidence matrix.

    Columns are sorted by tree, then leaf id, so the columns of tree ``t`` are the contiguous range
    ``tree_column_start[t]:tree_column_start[t + 1]``.  A query that lands in a leaf no training row
    reaches shares that tree with nobody; it gets the sentinel column ``n_columns`` (an empty leaf).
    """

    def __init__(self, train_leaves: np.ndarray):
        self.n_trees = int(train_leaves.shape[1])
        # Leaf ids are < 2**(max_depth + 1); one stride per tree turns (tree, leaf) into one int64 key.
        self.stride = int(train_leaves.max()) + 1
        keys, inverse = np.unique(self._keys(train_leaves), return_inverse=True)
        self.sorted_keys = keys
        self.tree_column_start = np.searchsorted(keys // self.stride, np.arange(self.n_trees + 1))
        #: ``(n_train, n_trees)`` columns of the training rows; the caller drops it once packed.
        self.train_columns: np.ndarray | None = inverse.reshape(train_leaves.shape).astype(np.int32)
        # Dense (tree, leaf id) -> column table when small (depth-wise trees: stride <= 2**(depth+1)),
        # ~10x faster than a binary search over the keys for every query entry.
        self.lookup: np.ndarray | None = None
        if self.n_trees * self.stride <= _MAX_LOOKUP_ENTRIES:
            self.lookup = np.full(self.n_trees * self.stride, self.n_columns, dtype=np.int32)
            self.lookup[keys] = np.arange(self.n_columns, dtype=np.int32)

    @property
    def n_columns(self) -> int:
        return int(self.sorted_keys.size)

    def _keys(self, leaves: np.ndarray) -> np.ndarray:
        return np.arange(self.n_trees, dtype=np.int64) * self.stride + leaves.astype(np.int64)

    def columns(self, leaves: np.ndarray) -> np.ndarray:
        """``(n_rows, n_trees)`` column of every (row, tree); ``n_columns`` where no training row is."""
        if leaves.shape[1] != self.n_trees:
            raise ValueError(f"leaf matrix has {leaves.shape[1]} trees, expected {self.n_trees}")
        keys = self._keys(leaves)
        if self.lookup is not None:
            keys[leaves >= self.stride] = 0  # never reached by training rows: no neighbour here
            columns = self.lookup[keys]
            columns[leaves >= self.stride] = self.n_columns
            return columns
        position = np.searchsorted(self.sorted_keys, keys)
        np.minimum(position, self.n_columns - 1, out=position)
        known = (self.sorted_keys[position] == keys) & (leaves < self.stride)
        return np.where(known, position, self.n_columns).astype(np.int32)

    def incidence(self, columns: np.ndarray) -> sp.csr_array:
        """One-hot CSR ``(n_rows, n_columns)`` of the rows' (tree, leaf) memberships."""
        known = columns < self.n_columns
        indptr = np.zeros(columns.shape[0] + 1, dtype=np.int64)
        np.cumsum(known.sum(axis=1), out=indptr[1:])
        indices = columns[known]  # row-major: already grouped by row
        data = np.ones(indices.size, dtype=np.int32)
        return sp.csr_array((data, indices, indptr), shape=(columns.shape[0], self.n_columns))


def _pack_leaf_bitsets(train_columns: np.ndarray, n_columns: int, tree_column_start: np.ndarray,
                       block_bytes: float = 64e6) -> np.ndarray:
    """Transposed leaf incidence, bit-packed: row ``c`` is the set of training rows in column ``c``.

    Returns a ``(n_columns + 1, ceil(n_train / 64))`` ``uint64`` array; bit ``i % 64`` of word ``i // 64``
    is set when training row ``i`` sits in that (tree, leaf).  The extra last row is empty (the sentinel
    column of leaves without training rows).  Built a block of trees at a time so that the temporary
    boolean matrix stays below ``block_bytes``.
    """
    n_train, n_trees = train_columns.shape
    n_words = -(-n_train // 64)
    n_bits = 64 * n_words
    bitsets = np.zeros((n_columns + 1, n_words), dtype=np.uint64)
    widest_tree = int(np.diff(tree_column_start).max())
    trees_per_block = max(1, int(block_bytes // (widest_tree * n_bits)))
    training_row = np.arange(n_train)[:, None]
    for first_tree in range(0, n_trees, trees_per_block):
        last_tree = min(first_tree + trees_per_block, n_trees)
        first_column, end_column = tree_column_start[first_tree], tree_column_start[last_tree]
        members = np.zeros((end_column - first_column, n_bits), dtype=bool)
        members[train_columns[:, first_tree:last_tree] - first_column, training_row] = True
        bitsets[first_column:end_column] = np.packbits(members, axis=1, bitorder="little").view(np.uint64)
    return bitsets


def _bitset_affinity(query_columns: np.ndarray, leaf_bitsets: np.ndarray, n_train: int) -> np.ndarray:
    """Affinity of every query row to every training row: ``A = Q @ T.T`` on bit-packed leaf sets.

    Row ``q`` of ``A`` is the sum, over trees, of the bitset of the leaf the query reaches.  The sum is
    kept as a *vertical counter* (bit plane ``b`` holds bit ``b`` of every training row's count) and
    updated with carry-save adders (``a + b + c = (a ^ b ^ c) + 2 * majority(a, b, c)``): adding one tree
    costs about six word operations per 64 training rows, whatever the size of the leaf.  This matters
    because boosted trees put most rows in a few large leaves (on our materials data a query's leaf
    holds ~30 % of the training rows on average), which makes a scipy sparse product barely faster
    than the brute force.

    Args:
        query_columns: ``(n_query, n_trees)`` leaf columns of the queries (``_LeafColumns.columns``).
        leaf_bitsets: output of :func:`_pack_leaf_bitsets`.
        n_train: number of training rows (bits in use per bitset).

    Returns:
        ``(n_query, n_train)`` unsigned integer affinities (``uint16`` below 65,536 trees).
    """
    n_query, n_trees = query_columns.shape
    n_words = leaf_bitsets.shape[1]
    columns_by_tree = np.ascontiguousarray(query_columns.T, dtype=np.intp)  # intp: take's fast path
    planes: list[np.ndarray] = []  # planes[b]: bit b of the count (weight 2**b)
    pending: list[np.ndarray | None] = []  # a second plane of weight 2**b waiting for a third
    spare: list[np.ndarray] = []

    def buffer() -> np.ndarray:
        return spare.pop() if spare else np.empty((n_query, n_words), dtype=np.uint64)

    for tree in range(n_trees):
        incoming = buffer()
        # mode="clip": numpy buffers `out` under the default mode="raise" (columns are valid anyway).
        np.take(leaf_bitsets, columns_by_tree[tree], axis=0, out=incoming, mode="clip")
        level = 0
        while True:  # carry-save addition of `incoming` (weight 2**level)
            if level == len(planes):
                planes.append(incoming)
                pending.append(None)
                break
            waiting = pending[level]
            if waiting is None:
                pending[level] = incoming
                break
            pending[level] = None
            plane, scratch = planes[level], buffer()
            np.bitwise_xor(plane, waiting, out=scratch)
            np.bitwise_and(plane, waiting, out=waiting)
            np.bitwise_xor(scratch, incoming, out=plane)  # sum bit
            np.bitwise_and(scratch, incoming, out=scratch)
            np.bitwise_or(waiting, scratch, out=incoming)  # carry bit, goes one level up
            spare.extend((waiting, scratch))
            level += 1

    for level in range(len(planes)):  # ripple the pending planes in: one plane per bit
        carry = pending[level]
        pending[level] = None
        upper = level
        while carry is not None:
            if upper == len(planes):
                planes.append(carry)
                pending.append(None)
                break
            next_carry = buffer()
            np.bitwise_and(planes[upper], carry, out=next_carry)
            np.bitwise_xor(planes[upper], carry, out=planes[upper])
            spare.append(carry)
            if next_carry.any():
                carry = next_carry
            else:
                spare.append(next_carry)
                carry = None
            upper += 1

    # Decode the planes 8 at a time into bytes: a 256-entry table spreads the 8 bits of a plane byte
    # (8 training rows) over 8 output bytes, ~2x faster than np.unpackbits + shift per plane.
    count_dtype = np.uint16 if n_trees < 2**16 else np.uint32
    counts = np.zeros((n_query, n_train), dtype=count_dtype)
    byte_planes = np.empty((n_query, 8 * n_words), dtype=np.uint64)
    spread = np.empty_like(byte_planes)
    for first_level in range(0, len(planes), 8):
        byte_planes.fill(0)
        for level in range(first_level, min(first_level + 8, len(planes))):
            plane_bytes = planes[level].view(np.uint8).astype(np.intp)
            np.take(_SPREAD_BITS[level - first_level], plane_bytes, out=spread, mode="clip")
            np.bitwise_or(byte_planes, spread, out=byte_planes)
        count_byte = byte_planes.view(np.uint8)[:, :n_train]
        if first_level == 0:
            counts[...] = count_byte
        else:
            counts += count_byte.astype(count_dtype) << first_level
    return counts


def _sparse_affinity(query_incidence: sp.csr_array, leaf_members: sp.csr_array) -> np.ndarray:
    """The same affinity as a scipy sparse product ``Q @ T.T`` (kept to compare speed; see above)."""
    return (query_incidence @ leaf_members).toarray()


def _topk_from_affinity(affinity: np.ndarray, k: int, n_trees: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` columns of each affinity row, best first, ties to the lower column index.

    One integer key per entry, ``(n_trees - affinity) * n_train + index``, is unique and orders exactly as
    (affinity descending, index ascending); ``argpartition`` on it and a sort of the ``k`` survivors'
    keys reproduce the brute-force order, and the index and affinity are read back from the key.
    """
    n_query, n_train = affinity.shape
    key_dtype = np.int32 if (n_trees + 1) * n_train < 2**31 else np.int64
    key = np.subtract(n_trees, affinity, dtype=key_dtype)
    key *= n_train
    key += np.arange(n_train, dtype=key_dtype)
    if k < n_train:
        candidates = np.argpartition(key, k - 1, axis=1)[:, :k]
        best_keys = np.take_along_axis(key, candidates, axis=1)
    else:
        best_keys = key
    best_keys = np.sort(best_keys, axis=1).astype(np.int64)
    return best_keys % n_train, n_trees - best_keys // n_train


def _calibrate(y_val: np.ndarray, loc_val: np.ndarray, raw_scale: np.ndarray, min_scale: float
               ) -> tuple[float, float, float]:
    """Fit ``scale' = max(gamma * raw_scale + delta, min_scale)`` to the validation NLL.

    A log-spaced grid over ``gamma`` (1e-2..1e2) and ``delta`` (0 and 1e-4..1 times the spread of the
    validation targets) finds the basin; L-BFGS-B (``log gamma`` and ``delta >= 0``) then refines it.
    ``delta`` matters for IBUG because neighbour sets whose targets coincide (e.g. elements, whose
    formation energy is exactly 0) give a raw scale of ~0 that no multiplicative factor can repair.
    The identity ``(1, 0)`` is one of the candidates, so calibration can never raise the validation NLL.

    Returns:
        ``(gamma, delta, nll)`` of the best candidate.
    """
    def nll(gamma: float, delta: float) -> float:
        return gaussian_nll(y_val, loc_val, np.maximum(gamma * raw_scale + delta, min_scale))

    target_spread = float(np.std(y_val)) or float(np.mean(np.abs(y_val - loc_val))) or 1.0
    gamma_grid = np.logspace(-2, 2, 33)
    delta_grid = np.concatenate([[0.0], target_spread * np.logspace(-4, 0, 17)])
    candidates = [(1.0, 0.0, nll(1.0, 0.0))]
    grid_scores = [(g, d, nll(g, d)) for g in gamma_grid for d in delta_grid]
    candidates.append(min(grid_scores, key=lambda c: c[2]))
    start_gamma, start_delta, _ = candidates[-1]
    result = minimize(lambda p: nll(math.exp(p[0]), p[1]), x0=np.array([math.log(start_gamma), start_delta]),
                      method="L-BFGS-B", bounds=[(math.log(1e-4), math.log(1e4)), (0.0, None)])
    if np.all(np.isfinite(result.x)):
        gamma, delta = math.exp(float(result.x[0])), float(result.x[1])
        candidates.append((gamma, delta, nll(gamma, delta)))
    best = min(candidates, key=lambda c: c[2])  # first wins ties: identity, then grid, then refined
    return float(best[0]), float(best[1]), float(best[2])


def _search_chunks(columns_of: Callable[[slice], np.ndarray], n_query: int, leaf_bitsets: np.ndarray,
                   n_train: int, n_trees: int, k: int, max_memory_gb: float) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` neighbours of ``n_query`` queries, a memory-bounded chunk of queries at a time.

    Args:
        columns_of: returns the ``(rows, n_trees)`` leaf columns of the query rows in a slice.
        n_query, n_train, n_trees: sizes.
        leaf_bitsets: packed training incidence (:func:`_pack_leaf_bitsets`).
        k: neighbours per query.
        max_memory_gb: working-memory bound of one chunk (1e9 bytes).

    Returns:
        ``(indices, affinities)``, both ``(n_query, k)`` ``int64``, as in :func:`_brute_force_topk`.
    """
    n_words = leaf_bitsets.shape[1]
    bytes_per_row = _BYTES_PER_AFFINITY_ENTRY * n_train + _BYTES_PER_LEAF_ENTRY * n_trees + 24 * k
    rows_by_memory = max(1, int(max_memory_gb * 1e9 // bytes_per_row))
    rows_by_cache = max(_MIN_CHUNK_ROWS, _CACHE_WORDS // n_words)
    rows_per_chunk = min(rows_by_memory, rows_by_cache)
    indices = np.empty((n_query, k), dtype=np.int64)
    affinities = np.empty((n_query, k), dtype=np.int64)
    for start in range(0, n_query, rows_per_chunk):
        rows = slice(start, min(start + rows_per_chunk, n_query))
        affinity = _bitset_affinity(columns_of(rows), leaf_bitsets, n_train)
        indices[rows], affinities[rows] = _topk_from_affinity(affinity, k, n_trees)
    return indices, affinities


class IBUGRegressor(RegressorMixin, BaseEstimator):
    """Gaussian predictive distributions for a fitted XGBoost regressor (IBUG, Brophy & Lowd 2022).

    ``__init__`` only stores parameters; :meth:`fit` records which training rows share each leaf, tunes
    ``k`` (and the calibration) on validation data and never refits the wrapped model, because in our
    active-learning loop the model has just been trained on exactly these rows.

    Args:
        estimator: an already-fitted ``xgboost.XGBRegressor`` (e.g. ``make_model("xgb_ibug", ...)``).
        k_grid: neighbour counts to try; values above the number of training rows are capped to it.
        calibrate: fit ``scale' = gamma * scale + delta`` on the validation set after choosing ``k``.
        min_scale: floor of every scale, so that identical neighbour targets do not give a zero variance.
        max_memory_gb: bound (in 1e9 bytes) on the working memory of one chunk of queries; the fitted
            state (about ``n_leaves x n_train / 8`` bytes of leaf bitsets) comes on top.
        val_fraction: share of ``(X, y)`` held out for tuning when :meth:`fit` gets no validation set.
            ``0`` skips tuning altogether (allowed only with a single ``k`` and ``calibrate=False``,
            when there is nothing to tune): ``k_`` is that ``k`` capped at the number of training rows.
        random_state: seed of that hold-out split.

    Attributes:
        k_: chosen number of neighbours.
        gamma_, delta_: variance calibration (1 and 0 without calibration).
        k_grid_: the grid actually searched (capped at the size of the neighbour pool used for tuning).
        val_nll_by_k_: validation NLL of each ``k`` of ``k_grid_`` (uncalibrated; empty when nothing
            was tuned, see ``val_fraction``).
        val_nll_: validation NLL of the final model (calibrated when ``calibrate``; NaN when nothing
            was tuned).
        leaf_bitsets_: ``(n_leaf_columns + 1, ceil(n_train / 64))`` ``uint64``: the transposed leaf
            incidence, bit-packed (which training rows sit in each (tree, leaf)); last row empty.
        leaf_incidence_: the same as a scipy CSR ``(n_train, n_leaf_columns)`` one-hot matrix, built on
            access (for inspection; it needs 8 bytes per training row and tree).
        y_train_: training targets.  n_trees_: trees used.  n_features_in_: feature count.
    """

    def __init__(self, estimator: XGBRegressor, *, k_grid: Sequence[int] = DEFAULT_K_GRID,
                 calibrate: bool = True, min_scale: float = 1e-6, max_memory_gb: float = 4.0,
                 val_fraction: float = 0.2, random_state: int = 0):
        self.estimator = estimator
        self.k_grid = k_grid
        self.calibrate = calibrate
        self.min_scale = min_scale
        self.max_memory_gb = max_memory_gb
        self.val_fraction = val_fraction
        self.random_state = random_state

    # ---------------------------------------------------------------------------------------- fit
    def _check_params(self) -> list[int]:
        try:
            grid = sorted({int(k) for k in self.k_grid})
        except (TypeError, ValueError) as error:
            raise LessdataError(f"k_grid must be a sequence of positive integers, got {self.k_grid!r}"
                                ) from error
        if not grid or grid[0] < 1:
            raise LessdataError(f"k_grid must hold positive integers, got {list(self.k_grid)!r}")
        if not self.min_scale > 0:
            raise LessdataError(f"min_scale must be > 0, got {self.min_scale}")
        if not self.max_memory_gb > 0:
            raise LessdataError(f"max_memory_gb must be > 0, got {self.max_memory_gb}")
        if not 0 <= self.val_fraction < 1:
            raise LessdataError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        return grid

    def _tunes_without_holdout(self, grid: list[int]) -> bool:
        """True for ``val_fraction=0``: nothing to tune, so no hold-out and no validation NLL.

        Raises:
            ValueError: ``val_fraction=0`` with a k grid or calibration, which need validation rows.
        """
        if self.val_fraction != 0:
            return False
        if len(grid) > 1 or self.calibrate:
            raise LessdataError("val_fraction=0 holds no rows out, so there is nothing to choose k or "
                                f"calibrate on; pass a single k (k_grid={grid[:1]}) and calibrate=False, "
                                "or a val_fraction in (0, 1)")
        return True

    def fit(self, X: Any, y: Any, X_val: Any = None, y_val: Any = None) -> IBUGRegressor:
        """Record the training rows' leaves and tune ``k`` (and the calibration) on validation data.

        Args:
            X: the estimator's training features.
            y: the estimator's training targets.
            X_val, y_val: validation data for tuning.  Without them, ``val_fraction`` of ``(X, y)`` is
                held out (seeded by ``random_state``) for tuning only: the held-out rows' neighbours are
                searched among the other rows, and the fitted state then uses all of ``(X, y)``.  Those
                rows were in the model's training set, so their residuals are in-sample (optimistic);
                pass a true validation set when one exists.  With ``val_fraction=0`` (single ``k``, no
                calibration) they are not needed: nothing is tuned and ``k_ = min(k, len(y))``.

        Returns:
            ``self``.

        Raises:
            TypeError, NotFittedError: ``estimator`` is not a fitted ``XGBRegressor``.
            ValueError: inconsistent shapes, non-finite targets, too few rows, or bad parameters.
        """
        grid = self._check_params()
        estimator = _check_estimator(self.estimator)
        features_for(estimator, X)
        n_rows = _n_rows(X)
        y_all = target_vector(y, n_rows, finite=True)
        if (X_val is None) != (y_val is None):
            raise LessdataError("pass both X_val and y_val, or neither (then a hold-out of X is used)")
        untuned = X_val is None and self._tunes_without_holdout(grid)
        min_rows = 2 if X_val is None and not untuned else 1  # a hold-out needs one row on each side
        if n_rows < min_rows:
            raise LessdataError(f"need at least {min_rows} training rows, got {n_rows}")

        leaf_columns = _LeafColumns(leaf_indices(estimator, X))
        train_columns = leaf_columns.train_columns
        leaf_columns.train_columns = None
        n_trees = leaf_columns.n_trees
        all_bitsets = _pack_leaf_bitsets(train_columns, leaf_columns.n_columns,
                                         leaf_columns.tree_column_start)
        if untuned:  # the authors' call (fixed k, uncalibrated): every row is a neighbour, none held out
            del train_columns
            self._set_fitted(leaf_columns, all_bitsets, y_all, n_trees, [min(grid[0], n_rows)], {},
                             min(grid[0], n_rows), 1.0, 0.0, math.nan)
            return self

        if X_val is None:
            n_holdout = min(n_rows - 1, max(1, round(self.val_fraction * n_rows)))
            permutation = np.random.default_rng(self.random_state).permutation(n_rows)
            holdout_rows, tuning_rows = np.sort(permutation[:n_holdout]), np.sort(permutation[n_holdout:])
            tune_bitsets = _pack_leaf_bitsets(train_columns[tuning_rows], leaf_columns.n_columns,
                                              leaf_columns.tree_column_start)
            y_tune, val_targets = y_all[tuning_rows], y_all[holdout_rows]
            holdout_columns = train_columns[holdout_rows]
            val_loc = _predict(estimator, _take_rows(X, holdout_rows))

            def val_columns_of(rows: slice) -> np.ndarray:
                return holdout_columns[rows]
        else:
            features_for(estimator, X_val, "X_val")
            val_targets = target_vector(y_val, _n_rows(X_val), "y_val", finite=True)
            if val_targets.size == 0:
                raise LessdataError("X_val has no rows")
            tune_bitsets, y_tune = all_bitsets, y_all
            val_loc = _predict(estimator, X_val)

            def val_columns_of(rows: slice) -> np.ndarray:
                return leaf_columns.columns(leaf_indices(estimator, _take_rows(X_val, rows)))
        del train_columns

        k_grid = sorted({min(k, y_tune.size) for k in grid})
        neighbours, _ = _search_chunks(val_columns_of, val_targets.size, tune_bitsets, y_tune.size, n_trees,
                                       k_grid[-1], self.max_memory_gb)
        neighbour_targets = y_tune[neighbours]  # best first: the prefixes serve every smaller k
        raw_scale_by_k = {k: np.maximum(np.std(neighbour_targets[:, :k], axis=1), self.min_scale)
                          for k in k_grid}
        nll_by_k = {k: gaussian_nll(val_targets, val_loc, raw_scale_by_k[k]) for k in k_grid}
        best_k = min(k_grid, key=lambda k: (nll_by_k[k], k))

        gamma, delta, val_nll = 1.0, 0.0, nll_by_k[best_k]
        if self.calibrate:
            gamma, delta, val_nll = _calibrate(val_targets, val_loc, raw_scale_by_k[best_k], self.min_scale)

        self._set_fitted(leaf_columns, all_bitsets, y_all, n_trees, k_grid, nll_by_k, best_k, gamma, delta,
                         val_nll)
        return self

    def _set_fitted(self, leaf_columns: _LeafColumns, leaf_bitsets: np.ndarray, y_train: np.ndarray,
                    n_trees: int, k_grid: list[int], nll_by_k: dict[int, float], k: int, gamma: float,
                    delta: float, val_nll: float) -> None:
        """Store the fitted state (one place, whether or not ``k`` was tuned)."""
        self.leaf_columns_ = leaf_columns
        self.leaf_bitsets_ = leaf_bitsets
        self.y_train_ = y_train
        self.n_trees_ = n_trees
        self.n_features_in_ = int(_check_estimator(self.estimator).n_features_in_)
        self.k_grid_ = k_grid
        self.val_nll_by_k_ = nll_by_k
        self.k_ = k
        self.gamma_ = gamma
        self.delta_ = delta
        self.val_nll_ = val_nll

    @property
    def leaf_incidence_(self) -> sp.csr_array:
        """One-hot ``(n_train, n_leaf_columns)`` CSR leaf incidence of the training rows (built on access)."""
        self._check_fitted()
        n_train, n_columns = self.y_train_.size, self.leaf_columns_.n_columns
        columns_per_block = max(1, int(64e6 // max(1, n_train)))
        rows, columns = [], []
        for first in range(0, n_columns, columns_per_block):
            block = self.leaf_bitsets_[first:min(first + columns_per_block, n_columns)]
            members = np.unpackbits(block.view(np.uint8), axis=1, count=n_train, bitorder="little")
            column, row = np.nonzero(members)
            rows.append(row)
            columns.append(column + first)
        row, column = np.concatenate(rows), np.concatenate(columns)
        data = np.ones(row.size, dtype=np.int32)
        return sp.csr_array((data, (row, column)), shape=(n_train, n_columns))

    # ------------------------------------------------------------------------------------ predict
    def _check_fitted(self) -> None:
        if not hasattr(self, "leaf_bitsets_"):
            raise NotFittedError("this IBUGRegressor is not fitted; call fit(X_train, y_train) first")

    def _check_query(self, X: Any) -> XGBRegressor:
        self._check_fitted()
        estimator = _check_estimator(self.estimator)
        features_for(estimator, X)
        return estimator

    def kneighbors(self, X: Any, k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` (default ``k_``) highest-affinity training rows of every row of ``X``.

        Returns:
            ``(indices, affinities)``, both ``(n_rows, k)``, best first (ties: lower training index).
        """
        estimator = self._check_query(X)
        n_train = self.y_train_.size
        k = self.k_ if k is None else int(k)
        if not 1 <= k <= n_train:
            raise LessdataError(f"k must be in [1, {n_train}], got {k}")
        repeated = _repeated_rows(X)
        inverse = None
        if repeated is not None:  # byte-identical rows reach the same leaves: search each once
            X, inverse = repeated

        def columns_of(rows: slice) -> np.ndarray:
            leaves = leaf_indices(estimator, _take_rows(X, rows))
            if leaves.shape[1] != self.n_trees_:
                raise LessdataError(f"the estimator now has {leaves.shape[1]} trees, IBUG was fitted with "
                                    f"{self.n_trees_}; refit IBUG after refitting the model")
            return self.leaf_columns_.columns(leaves)

        indices, affinities = _search_chunks(columns_of, _n_rows(X), self.leaf_bitsets_, n_train,
                                             self.n_trees_, k, self.max_memory_gb)
        return (indices, affinities) if inverse is None else (indices[inverse], affinities[inverse])

    def predict(self, X: Any) -> np.ndarray:
        """Location of the predictive distribution: the wrapped model's own prediction."""
        estimator = self._check_query(X)
        return _predict(estimator, X)

    def pred_dist(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """Gaussian predictive distribution ``(location, scale)`` of every row of ``X``.

        ``scale = max(gamma_ * s + delta_, min_scale)`` with ``s = max(std(y of the k_ nearest
        training rows, ddof=0), min_scale)``.
        """
        location = self.predict(X)
        indices, _ = self.kneighbors(X, self.k_)
        raw_scale = np.maximum(np.std(self.y_train_[indices], axis=1), self.min_scale)
        scale = np.maximum(self.gamma_ * raw_scale + self.delta_, self.min_scale)
        return location, scale
