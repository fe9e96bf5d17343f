"""The pruning algorithm of Li et al. (2023) and the analysis of where the redundant data lies.

:func:`prune` ranks a pool from most redundant to most informative, in rounds guided by a model and the
threshold of :func:`pruning_threshold`, into a :class:`PruningResult`; :func:`redundancy_composition`
describes what was removed.  The rounds, removal rules and our choices: ``docs/decisions.md``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import mean_absolute_error
from sklearn.model_selection import KFold, cross_val_predict
from tqdm import tqdm

from lessdata import config
from lessdata.errors import LessdataError
from lessdata.evaluation.validation import feature_matrix, target_vector
from lessdata.files import atomic_path, numeric_sha256

logger = logging.getLogger(__name__)

#: Version of the checkpoint / saved-result layout; bump when the layout changes.
CHECKPOINT_FORMAT = 1

#: Estimator parameters that change speed but not results; ignored when matching a checkpoint so a
#: resumed run may use a different thread count.
_RESULT_NEUTRAL_PARAMS = frozenset({"n_jobs", "nthread", "verbose", "verbosity", "n_threads"})

#: Stop reasons recorded in :attr:`PruningResult.stop_reason`.
STOP_MIN_RETAINED = "min_retained"
STOP_MAX_ROUNDS = "max_rounds"

#: How each round chose its removals (:attr:`PruningResult.round_rule`).
RULE_THRESHOLD = "threshold"  # every entry of the 20 % below the threshold
RULE_MINIMUM = "minimum"  # too few below the threshold: the smallest-error quota (or the whole 20 %)
RULE_CAPPED = "capped"  # threshold removal capped so that exactly ``min_retained`` remain (last round)


# --------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RoundInfo:
    """What one finished round did; passed to the ``callback`` of :func:`prune`.

    Attributes:
        round: round index (0-based).
        size_before: retained entries before the round.
        n_removed: entries removed in the round.
        n_below_threshold: entries of the 20 % split whose error was below the threshold.
        rule: ``threshold``, ``minimum`` or ``capped`` (see docs/decisions.md, "Pruning").
        seconds: wall time of the whole round (split, fit, predict, select, checkpoint).
        fit_seconds: wall time of the guiding model's fit alone.
    """

    round: int
    size_before: int
    n_removed: int
    n_below_threshold: int
    rule: str
    seconds: float
    fit_seconds: float


@dataclass
class PruningResult:
    """Outcome of :func:`prune`: when each pool entry left and the removal order it implies.

    Positions refer to rows of the ``X``/``y`` passed to :func:`prune` (the pool).

    Attributes:
        removal_round: ``int64[N]``; the round in which each entry was removed, ``-1`` if it was still
            retained when pruning stopped.
        removal_error: ``float64[N]``; the absolute error that got each entry removed (NaN if retained).
            Kept because it defines the order inside a round.
        round_sizes: ``int64[n_rounds + 1]``; retained size before each round, then the final size.
        threshold: absolute-error threshold used by every round.
        round_seconds: ``float64[n_rounds]``; wall time per round.
        fit_seconds: ``float64[n_rounds]``; guiding-model fit time per round.
        predict_seconds: ``float64[n_rounds]``; prediction time on the 20 % split per round.
        round_below_threshold: ``int64[n_rounds]``; entries of each 20 % split below the threshold.
        round_rule: rule that chose each round's removals (``threshold``/``minimum``/``capped``).
        stop_reason: ``min_retained`` or ``max_rounds``; ``None`` while pruning is still in progress
            (only seen in checkpoints and callbacks).
        params: the pruning parameters (``test_fraction``, ``min_remove_frac``, ``min_retained``,
            ``max_rounds``, ``random_state``) for provenance.
        order: ``int64[N]`` (derived, not an argument); pool positions from most redundant (removed
            first) to most informative.  Rounds ascend; within a round entries are sorted by ascending
            absolute error (ties by position); the final retained set comes last in ascending pool
            position, because pruning never ranked it.
    """

    removal_round: np.ndarray
    removal_error: np.ndarray
    round_sizes: np.ndarray
    threshold: float
    round_seconds: np.ndarray
    fit_seconds: np.ndarray
    predict_seconds: np.ndarray
    round_below_threshold: np.ndarray
    round_rule: list[str]
    stop_reason: str | None
    params: dict[str, Any]
    order: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.removal_round = np.asarray(self.removal_round, dtype=np.int64)
        self.removal_error = np.asarray(self.removal_error, dtype=np.float64)
        self.round_sizes = np.asarray(self.round_sizes, dtype=np.int64)
        self.round_seconds = np.asarray(self.round_seconds, dtype=np.float64)
        self.fit_seconds = np.asarray(self.fit_seconds, dtype=np.float64)
        self.predict_seconds = np.asarray(self.predict_seconds, dtype=np.float64)
        self.round_below_threshold = np.asarray(self.round_below_threshold, dtype=np.int64)
        self.round_rule = [str(rule) for rule in self.round_rule]
        self.threshold = float(self.threshold)
        self.order = _removal_order(self.removal_round, self.removal_error)

    # ---- sizes ----------------------------------------------------------------------------------
    @property
    def n_pool(self) -> int:
        """Number of entries in the pool (N)."""
        return int(self.removal_round.size)

    @property
    def n_rounds(self) -> int:
        """Number of finished rounds."""
        return int(self.round_sizes.size - 1)

    @property
    def fractions(self) -> np.ndarray:
        """Retained size before each round and the final size, as fractions of the pool."""
        return self.round_sizes / self.n_pool

    @property
    def final_fraction(self) -> float:
        """Smallest retained fraction pruning reached."""
        return float(self.round_sizes[-1] / self.n_pool)

    # ---- selections -----------------------------------------------------------------------------
    def retained_at_round(self, round_index: int) -> np.ndarray:
        """Pool positions retained *before* round ``round_index`` (``n_rounds`` gives the final set).

        Returns:
            Sorted ``int64`` positions; their count is ``round_sizes[round_index]``.

        Raises:
            ValueError: if ``round_index`` is outside ``0..n_rounds``.
        """
        if not 0 <= round_index <= self.n_rounds:
            raise LessdataError(f"round_index {round_index} outside 0..{self.n_rounds}")
        return np.flatnonzero(retained_before(self.removal_round, round_index))

    def round_at(self, fraction: float) -> int:
        """First round whose retained set has at most ``fraction * N`` entries (the paper's definition).

        Raises:
            ValueError: if ``fraction`` is not in (0, 1] or pruning stopped above it.
        """
        reached = first_round_within(self.round_sizes, fraction, self.n_pool)
        if reached is None:
            raise LessdataError(
                f"pruning stopped at {self.round_sizes[-1]} retained entries "
                f"({self.final_fraction:.4g} of the pool, stop reason {self.stop_reason}); it never reached "
                f"fraction {fraction} (<= {fraction_limit(fraction, self.n_pool)} entries). Lower "
                f"min_retained or raise max_rounds, or ask for a fraction >= {self.final_fraction:.4g}"
            )
        return reached

    def retained_at(self, fraction: float) -> np.ndarray:
        """The retained set at the round where it first reached ``<= fraction * N`` entries.

        This is the paper's pruned training set of fraction ``p``: an actual state of the algorithm.  Its
        size is ``round_sizes[round_at(p)]``, which is at most ``floor(p * N)`` and usually smaller,
        since rounds remove entries in chunks.  Compare :meth:`top_fraction`, which has exactly
        ``ceil(p * N)`` entries: ``top_fraction(p)`` = ``retained_at(p)`` plus the highest-error entries
        removed in the preceding round.  The two coincide exactly when ``ceil(p * N)`` is a round size.

        Returns:
            Sorted ``int64`` pool positions.

        Raises:
            ValueError: if ``fraction`` is not in (0, 1] or pruning stopped above it.
        """
        return self.retained_at_round(self.round_at(fraction))

    def top_fraction(self, fraction: float) -> np.ndarray:
        """The last ``ceil(fraction * N)`` entries of :attr:`order` (the most informative ones).

        This is the "first p·N of the reversed removal order" reading: exactly sized, but it may cut
        through a round (keeping that round's highest-error removals).  See :meth:`retained_at`.

        Returns:
            ``int64`` pool positions in removal order (most informative last).

        Raises:
            ValueError: if ``fraction`` is not in (0, 1], or the requested count is smaller than the final
                retained set, which pruning never ranked (its order is only positional).
        """
        if not 0 < fraction <= 1:
            raise LessdataError(f"fraction must be in (0, 1], got {fraction}")
        count = min(self.n_pool, math.ceil(round(fraction * self.n_pool, 9)))
        if count < self.round_sizes[-1]:
            raise LessdataError(
                f"top_fraction({fraction}) asks for {count} entries but pruning stopped with "
                f"{self.round_sizes[-1]} unranked retained entries; ask for a fraction >= "
                f"{self.final_fraction:.4g}"
            )
        return self.order[self.n_pool - count:]

    # ---- tables ---------------------------------------------------------------------------------
    def rounds_frame(self) -> pd.DataFrame:
        """One row per round: size before, fraction, removals, rule and timings (tidy, for CSV)."""
        sizes = self.round_sizes[:-1]
        return pd.DataFrame({
            "round": np.arange(self.n_rounds, dtype=np.int64),
            "size_before": sizes,
            "fraction_before": sizes / self.n_pool,
            "n_removed": sizes - self.round_sizes[1:],
            "n_below_threshold": self.round_below_threshold,
            "rule": self.round_rule,
            "seconds": self.round_seconds,
            "fit_seconds": self.fit_seconds,
            "predict_seconds": self.predict_seconds,
        })

    def entries_frame(self) -> pd.DataFrame:
        """One row per pool position: removal round, removal error and rank in :attr:`order`."""
        rank = np.empty(self.n_pool, dtype=np.int64)
        rank[self.order] = np.arange(self.n_pool)
        return pd.DataFrame({
            "position": np.arange(self.n_pool, dtype=np.int64),
            "removal_round": self.removal_round,
            "removal_error": self.removal_error,
            "order_rank": rank,
        })

    # ---- persistence ----------------------------------------------------------------------------
    def save(self, path: str | Path, *, extra_meta: dict[str, Any] | None = None) -> Path:
        """Write the result atomically as ``.npz`` (arrays plus a JSON metadata string).

        Args:
            path: destination file.
            extra_meta: additional JSON-serialisable metadata (checkpoints store their fingerprint here).
        """
        meta = {
            "format": CHECKPOINT_FORMAT,
            "threshold": self.threshold,
            "stop_reason": self.stop_reason,
            "params": self.params,
            **(extra_meta or {}),
        }
        arrays = {
            "removal_round": self.removal_round,
            "removal_error": self.removal_error,
            "round_sizes": self.round_sizes,
            "round_seconds": self.round_seconds,
            "fit_seconds": self.fit_seconds,
            "predict_seconds": self.predict_seconds,
            "round_below_threshold": self.round_below_threshold,
            "round_rule": np.asarray(self.round_rule, dtype=str),
            "meta": np.asarray(json.dumps(meta, sort_keys=True)),
        }
        target = Path(path)
        with atomic_path(target) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, **arrays)  # a handle, so numpy does not append ".npz" to the temp name
        return target

    @classmethod
    def load(cls, path: str | Path) -> PruningResult:
        """Read a result written by :meth:`save` (or a checkpoint of :func:`prune`)."""
        result, _ = _load_with_meta(Path(path))
        return result


def _load_with_meta(path: Path) -> tuple[PruningResult, dict[str, Any]]:
    """Read a saved result and its metadata dict; clear error if the file is not one of ours."""
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            arrays = {key: data[key] for key in data.files if key != "meta"}
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as error:
        raise LessdataError(f"{path} is not a readable lessdata pruning file ({error}); delete it to start "
                            f"afresh") from error
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise LessdataError(f"{path} has pruning-file format {meta.get('format')}, this version reads "
                            f"{CHECKPOINT_FORMAT}; delete it to start afresh")
    try:
        result = PruningResult(
            removal_round=arrays["removal_round"],
            removal_error=arrays["removal_error"],
            round_sizes=arrays["round_sizes"],
            threshold=meta["threshold"],
            round_seconds=arrays["round_seconds"],
            fit_seconds=arrays["fit_seconds"],
            predict_seconds=arrays["predict_seconds"],
            round_below_threshold=arrays["round_below_threshold"],
            round_rule=list(arrays["round_rule"]),
            stop_reason=meta["stop_reason"],
            params=meta["params"],
        )
    except KeyError as error:  # a damaged file of the right format
        raise LessdataError(f"{path} lacks the entry {error} of a pruning file; delete it to start "
                            "afresh") from error
    return result, meta


def _removal_order(removal_round: np.ndarray, removal_error: np.ndarray) -> np.ndarray:
    """Order pool positions by (round, error, position), the final retained set last by position."""
    positions = np.arange(removal_round.size, dtype=np.int64)
    # Retained entries (-1) sort after every round and carry no error, so ties fall to position.
    round_key = np.where(removal_round < 0, np.iinfo(np.int64).max, removal_round)
    error_key = np.where(removal_round < 0, 0.0, removal_error)
    return np.lexsort((positions, error_key, round_key)).astype(np.int64)


def fraction_limit(fraction: float, n_pool: int) -> int:
    """Largest retained size that counts as "reached ``fraction``" (floor, robust to float noise)."""
    if not 0 < fraction <= 1:
        raise LessdataError(f"fraction must be in (0, 1], got {fraction}")
    return math.floor(round(fraction * n_pool, 9))


def threshold_source(profile_name: str) -> str:
    """Where a profile's pruning threshold comes from: ``test``, unless ``prune.threshold`` says ``oof``.

    Set through ``LESSDATA_PROFILE_PATCH`` (e.g. ``{"paper": {"prune": {"threshold": "oof"}}}``); the
    key is absent from the profiles so that their settings hash, and every results folder, stay valid.
    """
    return str(config.profile(profile_name)["prune"].get("threshold", "test"))


def settings_from_profile(profile_name: str) -> tuple[float, dict[str, Any]]:
    """Pruning settings of a run profile in the form the functions here take them.

    Returns:
        ``(kappa, prune_kwargs)``: ``kappa`` for :func:`pruning_threshold` and the keyword arguments
        ``min_remove_frac``, ``min_retained`` and ``max_rounds`` for :func:`prune`.
    """
    settings = config.profile(profile_name)["prune"]
    return float(settings["kappa"]), {key: settings[key] for key in ("min_remove_frac", "min_retained",
                                                                     "max_rounds")}


# --------------------------------------------------------------------------------------------------
# Threshold
# --------------------------------------------------------------------------------------------------
#: Where the pruning threshold's MAE comes from: the ID test set (the paper's rule) or the pool's own
#: out-of-fold predictions (test-free, so the test set that scores the pruned sets never sets them).
THRESHOLD_SOURCES = ("test", "oof")
#: Folds of the out-of-fold MAE.
OOF_FOLDS = 5


def pruning_threshold(estimator: Any, X_pool: Any, y_pool: Any, X_test: Any, y_test: Any,
                      kappa: float = config.PRUNE_RULES["kappa"], source: str = "test") -> tuple[float, Any]:
    """Fit the guiding model on the full pool and return ``kappa`` × its MAE as the threshold.

    The paper sets the threshold to half the full-data MAE on the ID test set: an entry predicted from
    the others better than that carries little new information.  That test set then also scores the
    pruned sets, so ``source="oof"`` offers a test-free alternative: the MAE of 5-fold out-of-fold
    predictions on the pool (scikit-learn's ``cross_val_predict``, shuffled folds with seed 0), at the
    cost of five more fits.  The full-pool model is also the 100 % point of every pruning curve, so it
    is returned for the caller to evaluate instead of fitting it a second time.

    Args:
        estimator: unfitted template (scikit-learn API); a clone is fitted, the template is untouched.
        X_pool, y_pool: the whole training pool.
        X_test, y_test: the ID hold-out test set (unused with ``source="oof"``).
        kappa: multiplier of the MAE (0.5 in the paper).
        source: ``test`` (the paper's rule) or ``oof``.

    Returns:
        ``(threshold, fitted_model)``.

    Raises:
        LessdataError: for a non-positive ``kappa``, an unknown ``source`` or a non-finite threshold.
    """
    if not kappa > 0:
        raise LessdataError(f"kappa must be > 0, got {kappa}")
    if source not in THRESHOLD_SOURCES:
        raise LessdataError(f"threshold source must be one of {THRESHOLD_SOURCES}, got {source!r}")
    y_pool = np.asarray(y_pool, dtype=np.float64)
    model = clone(estimator)
    model.fit(X_pool, y_pool)
    if source == "test":
        mae = mean_absolute_error(np.asarray(y_test, dtype=np.float64), model.predict(X_test))
    else:
        folds = KFold(n_splits=OOF_FOLDS, shuffle=True, random_state=0)
        mae = mean_absolute_error(y_pool, cross_val_predict(clone(estimator), X_pool, y_pool, cv=folds))
    threshold = float(kappa * mae)
    if not np.isfinite(threshold):
        raise LessdataError(f"pruning threshold is not finite ({source} MAE {mae}); check the targets")
    return threshold, model


# --------------------------------------------------------------------------------------------------
# Pruning loop
# --------------------------------------------------------------------------------------------------
def split_retained(retained: np.ndarray, round_seed: int, test_fraction: float) -> tuple[np.ndarray,
                                                                                       np.ndarray]:
    """Split retained positions into (fit, held-out) parts for one round.

    Reproduces ``train_test_split(retained, test_size=test_fraction, random_state=round_seed)`` of
    scikit-learn (ceil-sized test part taken from the front of a ``RandomState`` permutation) without
    depending on its internals.

    Returns:
        ``(train_positions, test_positions)``.
    """
    n_samples = retained.size
    n_test = math.ceil(test_fraction * n_samples)
    permutation = np.random.RandomState(round_seed).permutation(n_samples)
    return retained[permutation[n_test:]], retained[permutation[:n_test]]


def _min_removal(n_retained: int, min_remove: int, test_fraction: float) -> int:
    """Fewest entries a round can remove: the quota, or the whole held-out split if that is smaller."""
    return min(min_remove, math.ceil(test_fraction * n_retained))


def _select_removals(test_positions: np.ndarray, abs_error: np.ndarray, threshold: float, min_remove: int,
                     max_remove: int) -> tuple[np.ndarray, np.ndarray, int, str]:
    """Choose which held-out entries leave in this round.

    Returns:
        ``(positions, errors, n_below_threshold, rule)`` with positions sorted by (error, position).
    """
    ranked = np.lexsort((test_positions, abs_error))  # ascending error, ties by pool position
    n_below = int(np.count_nonzero(abs_error < threshold))
    if n_below >= min_remove:
        count, rule = n_below, RULE_THRESHOLD  # the n_below smallest errors are exactly those below
    else:
        count, rule = min(min_remove, ranked.size), RULE_MINIMUM
    if count > max_remove:
        count, rule = max_remove, RULE_CAPPED
    chosen = ranked[:count]
    return test_positions[chosen], abs_error[chosen], n_below, rule


def _stable_repr(value: Any) -> str:
    """A repr without memory addresses, so estimator fingerprints are reproducible across processes."""
    text = repr(value)
    return type(value).__qualname__ if " at 0x" in text else text


def _estimator_signature(estimator: Any) -> str:
    """Class and result-relevant hyperparameters of the guiding model (thread counts excluded)."""
    params = estimator.get_params(deep=False) if hasattr(estimator, "get_params") else {}
    items = sorted((key, _stable_repr(value)) for key, value in params.items()
                   if key not in _RESULT_NEUTRAL_PARAMS)
    return f"{type(estimator).__module__}.{type(estimator).__qualname__}{items}"


@dataclass
class _PruningState:
    """Mutable bookkeeping of a pruning run (becomes a :class:`PruningResult`)."""

    removal_round: np.ndarray
    removal_error: np.ndarray
    round_sizes: list[int]
    round_seconds: list[float] = field(default_factory=list)
    fit_seconds: list[float] = field(default_factory=list)
    predict_seconds: list[float] = field(default_factory=list)
    round_below_threshold: list[int] = field(default_factory=list)
    round_rule: list[str] = field(default_factory=list)

    @classmethod
    def fresh(cls, n_pool: int) -> _PruningState:
        return cls(removal_round=np.full(n_pool, -1, dtype=np.int64),
                   removal_error=np.full(n_pool, np.nan), round_sizes=[n_pool])

    @classmethod
    def from_result(cls, result: PruningResult) -> _PruningState:
        return cls(removal_round=result.removal_round.copy(), removal_error=result.removal_error.copy(),
                   round_sizes=[int(v) for v in result.round_sizes],
                   round_seconds=[float(v) for v in result.round_seconds],
                   fit_seconds=[float(v) for v in result.fit_seconds],
                   predict_seconds=[float(v) for v in result.predict_seconds],
                   round_below_threshold=[int(v) for v in result.round_below_threshold],
                   round_rule=list(result.round_rule))

    @property
    def n_rounds(self) -> int:
        return len(self.round_sizes) - 1

    def truncate(self, n_rounds: int) -> None:
        """Forget rounds ``n_rounds`` and later (as if ``max_rounds`` had been ``n_rounds``)."""
        undone = self.removal_round >= n_rounds
        self.removal_round[undone] = -1
        self.removal_error[undone] = np.nan
        del self.round_sizes[n_rounds + 1:]
        for per_round in (self.round_seconds, self.fit_seconds, self.predict_seconds,
                          self.round_below_threshold, self.round_rule):
            del per_round[n_rounds:]

    def to_result(self, threshold: float, stop_reason: str | None, params: dict[str, Any]) -> PruningResult:
        return PruningResult(
            removal_round=self.removal_round.copy(), removal_error=self.removal_error.copy(),
            round_sizes=np.asarray(self.round_sizes), threshold=threshold,
            round_seconds=np.asarray(self.round_seconds), fit_seconds=np.asarray(self.fit_seconds),
            predict_seconds=np.asarray(self.predict_seconds),
            round_below_threshold=np.asarray(self.round_below_threshold, dtype=np.int64),
            round_rule=list(self.round_rule), stop_reason=stop_reason, params=dict(params))


def _validate_prune_inputs(X: Any, y: Any, threshold: float, test_fraction: float, min_remove_frac: float,
                           min_retained: int, max_rounds: int) -> tuple[np.ndarray, np.ndarray]:
    """Check shapes and parameters at the boundary; return X and y as arrays."""
    X_array = feature_matrix(X)
    y_array = target_vector(y, X_array.shape[0])
    bad = np.flatnonzero(~np.isfinite(y_array))
    if bad.size:
        raise LessdataError(f"y has {bad.size} non-finite values (first at position {bad[0]}); drop those "
                            f"entries from the pool before pruning")
    if not (np.isfinite(threshold) and threshold >= 0):
        raise LessdataError(f"threshold must be finite and >= 0, got {threshold}")
    if not 0 < test_fraction < 1:
        raise LessdataError(f"test_fraction must be in (0, 1), got {test_fraction}")
    if not 0 < min_remove_frac < 1:
        raise LessdataError(f"min_remove_frac must be in (0, 1), got {min_remove_frac}")
    if min_retained < 1:
        raise LessdataError(f"min_retained must be >= 1, got {min_retained}")
    if max_rounds < 0:
        raise LessdataError(f"max_rounds must be >= 0, got {max_rounds}")
    if X_array.shape[0] <= min_retained:
        raise LessdataError(f"the pool has {X_array.shape[0]} entries, not more than min_retained="
                            f"{min_retained}; nothing can be pruned")
    return X_array, y_array


def _resume_state(checkpoint: Path, fingerprint: dict[str, Any]) -> tuple[_PruningState, str | None] | None:
    """Load a checkpoint if present, refusing one written for other data, threshold or settings."""
    if not checkpoint.exists():
        return None
    result, meta = _load_with_meta(checkpoint)
    stored = meta.get("fingerprint", {})
    if "data_checksum" not in stored and "data_sha256" in stored:  # an older lessdata's byte checksum
        logger.warning("checkpoint %s records only a machine-dependent data checksum; data not checked",
                       checkpoint)
        fingerprint = {key: value for key, value in fingerprint.items() if key != "data_checksum"}
    for key, expected in fingerprint.items():
        if stored.get(key) != expected:
            raise LessdataError(
                f"checkpoint {checkpoint} was written for a different {key} (stored {stored.get(key)!r}, "
                f"now {expected!r}); pass another checkpoint path or delete this file to start afresh")
    return _PruningState.from_result(result), result.stop_reason


def prune(estimator: Any, X: Any, y: Any, threshold: float, *,
          test_fraction: float = config.PRUNE_ROUND_TEST_FRACTION,
          min_remove_frac: float = config.PRUNE_RULES["min_remove_frac"],
          min_retained: int = config.PRUNE_RULES["min_retained"],
          max_rounds: int = config.PRUNE_RULES["max_rounds"],
          random_state: int = 0, checkpoint: str | Path | None = None, progress: bool = True,
          callback: Callable[[RoundInfo], None] | None = None) -> PruningResult:
    """Run the pruning rounds on a pool and return the removal order.

    The sequential path fits only the guiding model, once per round, each time a fresh
    ``sklearn.base.clone`` of ``estimator`` so every round uses the same hyperparameters and
    ``random_state``; given deterministic model fits the whole run is deterministic.

    Args:
        estimator: unfitted guiding model (scikit-learn API), e.g. ``make_model("xgb", ...)``.
        X: pool features (N x F array-like; converted once to a NumPy array).
        y: pool targets (N).
        threshold: absolute-error threshold, usually from :func:`pruning_threshold`.
        test_fraction: held-out share of the retained set per round (0.2 in the paper).
        min_remove_frac: minimum removal per round as a fraction of the *original* pool (0.01 in the
            paper); applied when too few entries fall below the threshold.
        min_retained: never retain fewer entries than this (300 in the paper).
        max_rounds: hard limit on rounds (2000 in the paper).
        random_state: round ``r`` splits with seed ``random_state + r``.
        checkpoint: optional ``.npz`` path.  After every round the state is written atomically (temp
            file + ``os.replace``); a rerun with the same path continues after the last finished round
            and ends with the same order as an uninterrupted run.  A checkpoint written for other data,
            threshold, estimator hyperparameters or pruning parameters is refused with ``ValueError``.
            ``max_rounds`` may differ: a larger value continues, a smaller one truncates.
        progress: show a tqdm bar (entries removed out of ``N - min_retained``; round and size shown).
        callback: called with a :class:`RoundInfo` after each round, after its checkpoint is written
            (an exception raised there interrupts the run cleanly; used by tests and UIs).

    Returns:
        The :class:`PruningResult`.

    Raises:
        ValueError: for invalid inputs or a mismatching checkpoint.
    """
    X_array, y_array = _validate_prune_inputs(X, y, threshold, test_fraction, min_remove_frac, min_retained,
                                              max_rounds)
    n_pool = int(y_array.size)
    min_remove = max(1, math.ceil(round(min_remove_frac * n_pool, 9)))
    params = {"test_fraction": test_fraction, "min_remove_frac": min_remove_frac,
              "min_retained": int(min_retained), "max_rounds": int(max_rounds),
              "random_state": int(random_state), "min_remove": min_remove}
    checkpoint_path = Path(checkpoint) if checkpoint is not None else None
    fingerprint: dict[str, Any] = {}
    state, stop_reason = _PruningState.fresh(n_pool), None

    if checkpoint_path is not None:
        fingerprint = {
            # Not the bytes: features rebuilt on another CPU differ in the last bits (lessdata.files).
            "data_checksum": numeric_sha256(X_array, y_array),
            "threshold": repr(float(threshold)),
            "estimator": _estimator_signature(estimator),
            "test_fraction": test_fraction, "min_remove_frac": min_remove_frac,
            "min_retained": int(min_retained), "random_state": int(random_state),
        }
        resumed = _resume_state(checkpoint_path, fingerprint)
        if resumed is not None:
            state, stop_reason = resumed
            logger.info("resuming pruning from %s after %d rounds", checkpoint_path, state.n_rounds)
            if state.n_rounds > max_rounds:
                state.truncate(max_rounds)
                stop_reason = STOP_MAX_ROUNDS
            elif stop_reason == STOP_MAX_ROUNDS and state.n_rounds < max_rounds:
                stop_reason = None  # a larger max_rounds: carry on

    def save_checkpoint() -> None:
        if checkpoint_path is not None:
            state.to_result(threshold, stop_reason, params).save(
                checkpoint_path, extra_meta={"fingerprint": fingerprint})

    bar = tqdm(total=n_pool - min_retained, initial=n_pool - state.round_sizes[-1], unit="entry",
               desc="pruning", disable=not progress, dynamic_ncols=True)
    try:
        while stop_reason is None:
            round_index = state.n_rounds
            n_retained = state.round_sizes[-1]
            if round_index >= max_rounds:
                stop_reason = STOP_MAX_ROUNDS
            elif n_retained - _min_removal(n_retained, min_remove, test_fraction) < min_retained:
                stop_reason = STOP_MIN_RETAINED
            if stop_reason is not None:
                save_checkpoint()
                break
            round_start = time.perf_counter()
            info = _run_round(estimator, X_array, y_array, state, round_index, threshold, test_fraction,
                              min_remove, min_retained, random_state)
            save_checkpoint()
            # The checkpoint write is part of the round's cost (the file keeps the time without it).
            state.round_seconds[-1] = time.perf_counter() - round_start
            info = dataclasses.replace(info, seconds=state.round_seconds[-1])
            bar.update(info.n_removed)
            bar.set_postfix({"round": round_index, "retained": state.round_sizes[-1], "rule": info.rule})
            logger.debug("pruning round %d: %d -> %d (%s, %d below threshold, fit %.2fs)", round_index,
                         info.size_before, state.round_sizes[-1], info.rule, info.n_below_threshold,
                         info.fit_seconds)
            if callback is not None:
                callback(info)
    finally:
        bar.close()
    return state.to_result(threshold, stop_reason, params)


def _run_round(estimator: Any, X: np.ndarray, y: np.ndarray, state: _PruningState, round_index: int,
               threshold: float, test_fraction: float, min_remove: int, min_retained: int,
               random_state: int) -> RoundInfo:
    """Run one round, updating ``state`` in place.

    Returns:
        The round's :class:`RoundInfo` (``seconds`` without the checkpoint write).
    """
    start = time.perf_counter()
    retained = np.flatnonzero(state.removal_round == -1)  # ascending: the split depends only on the set
    train, held_out = split_retained(retained, random_state + round_index, test_fraction)

    model = clone(estimator)
    fit_start = time.perf_counter()
    model.fit(X[train], y[train])
    fit_seconds = time.perf_counter() - fit_start

    predict_start = time.perf_counter()
    abs_error = np.abs(np.asarray(model.predict(X[held_out]), dtype=np.float64).ravel() - y[held_out])
    predict_seconds = time.perf_counter() - predict_start
    if not np.all(np.isfinite(abs_error)):
        raise LessdataError(f"pruning round {round_index}: the guiding model predicted non-finite values for "
                            f"{np.count_nonzero(~np.isfinite(abs_error))} entries; check the features")

    removed, errors, n_below, rule = _select_removals(
        held_out, abs_error, threshold, min(min_remove, held_out.size), retained.size - min_retained)
    state.removal_round[removed] = round_index
    state.removal_error[removed] = errors
    state.round_sizes.append(int(retained.size - removed.size))
    state.round_seconds.append(time.perf_counter() - start)
    state.fit_seconds.append(fit_seconds)
    state.predict_seconds.append(predict_seconds)
    state.round_below_threshold.append(n_below)
    state.round_rule.append(rule)
    return RoundInfo(round_index, int(retained.size), int(removed.size), n_below, rule,
                     state.round_seconds[-1], fit_seconds)


def first_round_within(round_sizes: np.ndarray, fraction: float, n_pool: int) -> int | None:
    """First round whose retained set has at most ``fraction * N`` entries (None: never reached).

    The one definition of "the pruned set at a fraction" (the paper's), behind
    :meth:`PruningResult.round_at` and :func:`retained_mask`.
    """
    reached = np.flatnonzero(np.asarray(round_sizes) <= fraction_limit(fraction, n_pool))
    return int(reached[0]) if reached.size else None



def retained_before(removal_round: np.ndarray, round_index: int) -> np.ndarray:
    """Mask of the entries still retained before round ``round_index``."""
    return (removal_round == -1) | (removal_round >= round_index)
