"""Paired hierarchical bootstrap intervals for learning curves scored on held-out ID test sets.

:class:`PairedBootstrap` re-scores every cell on the same resamples of the test entries (whole formula
groups where the caller gives them: polymorphs share features and their errors move together), draws
each curve's training seeds with replacement (training randomness), and combines splits -- by
resampling them when there are enough, else with a t interval over the per-split values -- so two
curves can be compared by the interval and p-value of their difference.  :func:`holm` and
:func:`benjamini_hochberg` adjust a family of such p-values.  Why: ``docs/decisions.md``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

from lessdata.errors import LessdataError

METRICS = ("rmse", "mae")
FULL_DATA = 1.0 - 1e-9  # train_frac at or above this is "the whole pool"
FRACTION_DECIMALS = 6  # train fractions are grouped after rounding to this many decimals
DEFAULT_BLOCK_BYTES = 64 * 2**20  # bound on each temporary block in resampled_metrics
#: Fewer splits than this are not resampled: with k splits the split draw has few distinct outcomes and
#: understates the between-split variance by (k - 1) / k.  Each split is then bootstrapped on its own
#: and the splits are combined with a t interval on k - 1 degrees of freedom.
MIN_SPLITS_TO_RESAMPLE = 5


class Estimate(NamedTuple):
    """A point estimate with its interval, the splits behind it and the p-value of "it is zero".

    ``method`` says how the interval was made: ``bootstrap`` (percentile of the hierarchical
    resamples) or ``t`` (t interval over per-split values when 2 <= splits < MIN_SPLITS_TO_RESAMPLE).
    ``p_value`` is two-sided; it only means something for differences.  ``per_split`` holds the point
    value on each split of the bootstrap, in its split order (NaN where a split adds nothing), so that
    few splits can be shown one by one beside their combination.
    """

    point: float
    lo: float
    hi: float
    n_splits: int
    p_value: float = float("nan")
    method: str = "bootstrap"
    per_split: tuple[float, ...] = ()


class WithinEstimate(NamedTuple):
    """Smallest subset fraction within tolerance of the full-data reference, with its interval.

    ``share_not_reached`` is the share of resamples in which no evaluated subset came within the
    tolerance.  Those resamples rank above every fraction, so a bound that lands among them is ``inf``
    ("beyond the largest evaluated subset").
    """

    point: float
    lo: float
    hi: float
    share_not_reached: float
    n_splits: int
    method: str = "bootstrap"
    per_split: tuple[float, ...] = ()


def censored_share_limit(n_resamples: int, level: float = 0.95) -> float:
    """Share of unreached resamples from which an upper bound reads "> largest evaluated fraction".

    The upper percentile bound is undefined once more than (1 - level) / 2 of the resamples never
    get within; a share just below that is indistinguishable from it at this many resamples, so the
    limit is the tail share less two Monte Carlo standard errors.
    """
    tail = (1.0 - level) / 2.0
    return tail - 2.0 * float(np.sqrt(tail * (1.0 - tail) / max(n_resamples, 1)))


def grouped_bootstrap_counts(groups: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Resample whole groups of test entries: each entry counts as often as its group was drawn.

    Entries of one group (e.g. polymorphs of one formula, whose composition features are identical)
    make correlated errors; drawing them together keeps that correlation inside each resample, as
    the cluster bootstrap does.  Resample sizes vary around the number of entries.

    Args:
        groups: Group label per test entry, shape (n,).
        n_boot: Number of resamples.
        rng: Source of randomness.

    Returns:
        Integer array (n_boot, n).
    """
    _, inverse = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    n_groups = int(inverse.max()) + 1 if inverse.size else 0
    if n_groups < 1 or n_boot < 1:
        raise ValueError(f"need at least one group and n_boot >= 1, got {n_groups} groups, n_boot={n_boot}")
    drawn = rng.multinomial(n_groups, np.full(n_groups, 1.0 / n_groups), size=n_boot)
    return drawn[:, inverse]


def bootstrap_p_value(point: float, samples: np.ndarray) -> float:
    """Two-sided p-value of "the quantity is zero" from its bootstrap standard error (a Wald test).

    The tail-count p-value of the resamples cannot go below 2 / (B + 1), which no Holm-adjusted
    family of a hundred comparisons can use, and it jumps by 1 / B from one bootstrap seed to the
    next.  The standard error's Monte Carlo error is only about 1 / sqrt(2 B) of it, so this p-value
    is smooth in the data and stable across bootstrap seeds (Efron & Tibshirani 1993, ch. 16).
    """
    values = np.asarray(samples, dtype=np.float64).ravel()
    values = values[~np.isnan(values)]
    if values.size < 2 or not np.isfinite(point):
        return float("nan")
    spread = float(values.std(ddof=1))
    if spread == 0.0:
        return 1.0 if point == 0.0 else 0.0
    return float(2.0 * stats.norm.sf(abs(point) / spread))


def t_estimate(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float, float]:
    """Mean of a few per-split values with its t interval (k - 1 degrees of freedom) and p-value.

    Returns:
        ``(mean, lo, hi, p)``; with no spread the interval is the mean and p is 0 (or 1 at zero).
    """
    values = np.asarray(values, dtype=np.float64)
    mean = float(values.mean())
    k = values.size
    spread = float(values.std(ddof=1)) if k > 1 else float("nan")
    if k < 2 or not np.isfinite(spread):
        return mean, float("nan"), float("nan"), float("nan")
    if spread == 0.0:
        return mean, mean, mean, 1.0 if mean == 0.0 else 0.0
    se = spread / np.sqrt(k)
    half = float(stats.t.ppf(0.5 + level / 2.0, k - 1)) * se
    p = float(2.0 * stats.t.sf(abs(mean) / se, k - 1))
    return mean, mean - half, mean + half, p


def _adjusted(p_values: np.ndarray, adjust: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Apply ``adjust`` to the ascending non-NaN p-values and put the results back in place (NaN stays).

    (scipy has Benjamini-Hochberg, :func:`benjamini_hochberg` uses it, but no Holm.)"""
    p = np.asarray(p_values, dtype=np.float64)
    adjusted = np.full(p.shape, np.nan)
    known = np.flatnonzero(~np.isnan(p))
    if known.size:
        order = known[np.argsort(p[known], kind="stable")]
        adjusted[order] = np.minimum(1.0, adjust(p[order]))
    return adjusted


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment: controls the family-wise error rate under any dependence.

    NaN p-values are left NaN and do not count towards the family size.
    """
    return _adjusted(p_values, lambda ascending: np.maximum.accumulate(
        (ascending.size - np.arange(ascending.size)) * ascending))


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values): controls the false discovery rate.

    Valid for independent or positively dependent tests; NaN p-values are left NaN.
    """
    p = np.asarray(p_values, dtype=np.float64)
    adjusted = np.full(p.shape, np.nan)
    known = ~np.isnan(p)
    if known.any():  # scipy's own step-up procedure
        adjusted[known] = stats.false_discovery_control(p[known], method="bh")
    return adjusted


def bootstrap_counts(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Draw how often each of ``n`` test entries appears in each of ``n_boot`` resamples.

    Counts (rather than index lists) turn every resampled mean into one matrix product, and the same
    count vector can be applied to every cell scored on that test set, which is what pairs them.

    Args:
        n: Number of test entries.
        n_boot: Number of resamples.
        rng: Source of randomness (the caller seeds it).

    Returns:
        Integer array (n_boot, n) whose rows each sum to ``n``.
    """
    if n < 1 or n_boot < 1:
        raise ValueError(f"need n >= 1 and n_boot >= 1, got n={n}, n_boot={n_boot}")
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot)


def resampled_metrics(
    y_true: np.ndarray,
    predictions: np.ndarray,
    counts: np.ndarray,
    max_bytes: int = DEFAULT_BLOCK_BYTES,
) -> dict[str, np.ndarray]:
    """Score every prediction row on every resampled test set.

    Each resample weights the test entries by their counts, so MSE and MAE are weighted means.  One
    matrix product (counts @ errors.T) gives them for all cells at once.  The work is done in blocks
    of resamples and of cells, which bounds the temporary memory even for large test sets.

    Args:
        y_true: True targets, shape (n,).
        predictions: Predictions of m cells, shape (m, n) (a single row (n,) is accepted).
        counts: Resample counts, shape (B, n), e.g. from :func:`bootstrap_counts`.
        max_bytes: Rough bound on each temporary float64 block.

    Returns:
        ``{"rmse": (B, m), "mae": (B, m)}`` in float64.
    """
    truth = np.asarray(y_true, dtype=np.float64).ravel()
    predicted = np.atleast_2d(np.asarray(predictions, dtype=np.float64))
    counts = np.atleast_2d(np.asarray(counts))
    n = truth.size
    if predicted.shape[1] != n or counts.shape[1] != n:
        raise ValueError(
            f"shapes do not match: y_true ({n},), predictions {predicted.shape}, counts {counts.shape}"
        )
    totals = counts.sum(axis=1)
    if np.any(totals <= 0):
        raise ValueError("every resample needs at least one test entry")
    n_boot, n_cells = counts.shape[0], predicted.shape[0]
    mse = np.empty((n_boot, n_cells))
    mae = np.empty((n_boot, n_cells))
    resamples_per_block = max(1, max_bytes // (8 * n))
    cells_per_block = max(1, max_bytes // (16 * n))
    for b0 in range(0, n_boot, resamples_per_block):
        b1 = min(n_boot, b0 + resamples_per_block)
        weights = counts[b0:b1].astype(np.float64) / totals[b0:b1, None]
        for c0 in range(0, n_cells, cells_per_block):
            c1 = min(n_cells, c0 + cells_per_block)
            errors = predicted[c0:c1] - truth
            mse[b0:b1, c0:c1] = weights @ np.square(errors).T
            mae[b0:b1, c0:c1] = weights @ np.abs(errors).T
    return {"rmse": np.sqrt(mse), "mae": mae}


def percentile_interval(
    samples: np.ndarray, level: float = 0.95, method: str = "linear"
) -> tuple[float, float]:
    """Central percentile interval of bootstrap samples, ignoring NaN.

    Args:
        samples: Resampled values, any shape.
        level: Coverage of the interval (0.95 gives the 2.5 % and 97.5 % quantiles).
        method: Quantile method passed to numpy.  A step method such as ``"inverted_cdf"`` returns
            actual samples, which keeps ``inf`` values meaningful.

    Returns:
        ``(lo, hi)``, or ``(nan, nan)`` when no sample is a number.
    """
    values = np.asarray(samples, dtype=np.float64).ravel()
    values = values[~np.isnan(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(values, [tail, 1.0 - tail], method=method)
    return float(lo), float(hi)


def full_data_rows(frame: pd.DataFrame, curve_column: str = "method",
                   reference: str = "random") -> pd.DataFrame:
    """The rows that define a model's full-data error: its whole-pool fits, the ``reference`` curve's
    (the random baseline's seeds) when there are any, else every whole-pool fit (e.g. pruning's).

    The one rule behind the summary, the figures' bands, the report and the bootstrap reference; pass the
    rows of one (dataset, target, split, model).
    """
    full = frame[frame["train_frac"] >= FULL_DATA]
    preferred = full[full[curve_column] == reference]
    return preferred if len(preferred) else full


def smallest_fraction_within(
    fractions: np.ndarray, values: np.ndarray, reference: np.ndarray, tolerance: float,
    interpolate: bool = True,
) -> np.ndarray:
    """Smallest training fraction at which the error comes down to ``(1 + tolerance)`` x the reference.

    With ``interpolate`` (the default) the crossing is placed by linear interpolation between the
    last evaluated fraction above the threshold and the first at or below it.  The plain grid rule
    (first evaluated fraction at or below) moves by a whole grid step for an error change far below
    any interval: on mp18_comp two random-subset curves 0.0002 eV/atom apart at 60 % read 60 % and
    70 % (``benchmarks/bench_fidelity.py``).  Fractions >= 1 are left out: the full-data point is within
    by definition, so "within" should mean a real subset.  The result is NaN when no subset
    qualifies, so that "never within" stays distinguishable from any fraction.

    Args:
        fractions: Evaluated fractions, shape (k,), any order.
        values: Error at each fraction, shape (..., k), e.g. one row per resample.
        reference: Full-data error, shape (...) (broadcast against ``values[..., 0]``).
        tolerance: Relative tolerance, e.g. 0.10 for "within 10 %".
        interpolate: Interpolate the crossing (True) or return the first qualifying grid fraction.

    Returns:
        Float array of shape (...) (a 0-d array for 1-d ``values``).
    """
    fractions = np.asarray(fractions, dtype=np.float64).ravel()
    values = np.asarray(values, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    if values.shape[-1] != fractions.size:
        raise ValueError(f"values {values.shape} do not end in {fractions.size} fractions")
    order = np.argsort(fractions, kind="stable")
    fractions, values = fractions[order], values[..., order]
    threshold = (1.0 + tolerance) * reference[..., None]
    qualifies = (values <= threshold) & (fractions < FULL_DATA)
    first = np.argmax(qualifies, axis=-1)
    found = qualifies.any(axis=-1)
    result = fractions[first]
    if interpolate and fractions.size > 1:
        before = np.maximum(first - 1, 0)
        v_before = np.take_along_axis(values, before[..., None], axis=-1)[..., 0]
        v_first = np.take_along_axis(values, first[..., None], axis=-1)[..., 0]
        limit = threshold[..., 0]
        # v_before > limit >= v_first wherever first > 0, so the step is positive.
        step = np.where(first > 0, v_before - v_first, 1.0)
        share = np.clip(np.where(first > 0, (v_before - limit) / step, 1.0), 0.0, 1.0)
        result = fractions[before] + share * (fractions[first] - fractions[before])
    return np.where(found, result, np.nan)


def nearest_fraction(evaluated: np.ndarray, requested: float, tolerance: float = 0.02) -> float:
    """The evaluated fraction nearest to ``requested``, or NaN when none is within ``tolerance``.

    Pruning rounds land on slightly different sizes in different splits.  Matching to the nearest
    evaluated fraction lets them be compared at one nominal fraction, and the absolute tolerance
    keeps a distant point from standing in for it.

    Args:
        evaluated: Fractions evaluated for one curve on one split.
        requested: Nominal fraction.
        tolerance: Largest accepted ``|evaluated - requested|``.

    Returns:
        The matched fraction (ties go to the smaller one), or NaN.
    """
    candidates = np.sort(np.asarray(evaluated, dtype=np.float64).ravel())
    if candidates.size == 0:
        return float("nan")
    distance = np.abs(candidates - requested)
    best = int(np.argmin(distance))
    return float(candidates[best]) if distance[best] <= tolerance + 1e-12 else float("nan")


def align_seed_fractions(cells: pd.DataFrame, keys: list[str], *, relative: float | None = None,
                         absolute: float = 0.02, eligible: pd.Series | None = None) -> pd.DataFrame:
    """Give the seeds of one curve common training fractions where their evaluated sizes differ slightly.

    Independent pruning runs stop their rounds at slightly different retained sizes (30.2 % in one run,
    29.7 % in another), so their cells never share a ``train_frac``.  Within each curve (``keys``), the
    grid is the fractions of the seed evaluated at the fewest of them; every other seed's nearest
    evaluated fraction within the tolerance (``relative`` x the fraction when given, else ``absolute``)
    stands for each grid point, and the matched cells are all labelled with the mean of their fractions
    (the runs' average share there).  A seed's fraction stands for at most one grid point.  Curves whose
    seeds already share their fractions come back unchanged, and only ``eligible`` rows (default all)
    are considered: random subsets have exact sizes, so a missing point there is missing, not near.
    """
    out = cells.copy()
    column = out["train_frac"].astype(float).round(FRACTION_DECIMALS)
    out["train_frac"] = column
    candidates = out if eligible is None else out[eligible.to_numpy()]
    for _, group in candidates.groupby(keys, sort=False):
        by_seed = {int(seed): part for seed, part in group.groupby("seed")}
        if len(by_seed) < 2:
            continue
        grids = {seed: np.unique(part["train_frac"].to_numpy()) for seed, part in by_seed.items()}
        anchor = min(grids, key=lambda seed: (grids[seed].size, seed))
        matched: dict[float, list[tuple[int, float]]] = {}  # grid point -> (seed, its fraction there)
        for seed, own in grids.items():
            free = own if seed == anchor else np.setdiff1d(own, grids[anchor])
            for fraction in grids[anchor]:
                if fraction in own:
                    matched.setdefault(fraction, []).append((seed, fraction))
                    continue
                if free.size == 0:
                    continue
                tolerance = absolute if relative is None else relative * fraction
                nearest = free[np.argmin(np.abs(free - fraction))]
                if abs(nearest - fraction) <= tolerance:
                    matched.setdefault(fraction, []).append((seed, nearest))
                    free = free[free != nearest]
        for pairs in matched.values():
            if all(own == pairs[0][1] for _, own in pairs):
                continue  # evaluated at the same fraction by every seed: nothing to align
            label = round(float(np.mean([own for _, own in pairs])), FRACTION_DECIMALS)
            for seed, own in pairs:
                part = by_seed[seed]
                out.loc[part.index[part["train_frac"].to_numpy() == own], "train_frac"] = label
    return out


def complete_seed_rows(cells: pd.DataFrame, keys: list[str]) -> pd.Series:
    """Rows at fractions evaluated with the curve's whole seed set (one seed set per curve).

    A curve's seed set is the largest set of seeds evaluated at any one of its fractions (the most
    frequent among equals); fractions where any of them is missing are left out, so a curve never mixes
    10 seeds at one point with 2 at the next.
    """
    keep = pd.Series(False, index=cells.index)
    for _, group in cells.groupby(keys, sort=False):
        seed_sets = group.groupby("train_frac")["seed"].agg(lambda seeds: frozenset(seeds.astype(int)))
        largest = max(len(seeds) for seeds in seed_sets)
        chosen = Counter(seeds for seeds in seed_sets if len(seeds) == largest).most_common(1)[0][0]
        complete = seed_sets.index[[chosen <= seeds for seeds in seed_sets]]
        keep[group.index[group["train_frac"].isin(complete)]] = True
    return keep


def verdict(lo: float, hi: float) -> str:
    """Read a difference interval (curve_a - curve_b; negative means curve_a has the lower error).

    Returns:
        ``"A better"`` if the whole interval is below 0, ``"B better"`` if it is above 0, otherwise
        ``"not resolved"`` (NaN bounds included).
    """
    if hi < 0:
        return "A better"
    if lo > 0:
        return "B better"
    return "not resolved"


class PairedBootstrap:
    """Hierarchical paired bootstrap over splits, test entries and training seeds for a table of cells.

    At construction every cell is scored once on the original test sets and on ``n_boot`` resamples.
    In resample b each split gets one count vector over its test entries (whole ``groups`` drawn with
    replacement when given, else single entries), shared by all of that split's cells, and each curve
    (split, model, curve) gets one draw of its seeds with replacement, shared by all its fractions (a
    seed's curve is one training path; curves with the same seed set on a split share the draw).  All
    later queries reuse these, so any two quantities are paired: the same test resample, and the same
    seed draw wherever they rest on the same seeds.

    Aggregation: a curve's value at a fraction on one split is the mean over its seeds (weighted by the
    seed draw in a resample).  A curve uses one seed set at every fraction: the largest set evaluated,
    and only the fractions where all of it was (others are listed in :attr:`dropped`), so a curve never
    mixes, e.g., ten baseline seeds on the grid with two active-learning seeds between grid points.
    Across splits: with at least ``min_splits_to_resample`` splits they are drawn with replacement
    too and averaged; with fewer, every split enters every resample and intervals over several splits
    are t intervals on the per-split values (k - 1 degrees of freedom).  The point estimate uses the
    original test sets, every seed once and every split once.  A split with no evaluated fraction
    within ``match_tolerance`` of the requested one adds nothing to that point.

    Args:
        truth: Split label -> true targets of its ID test set, shape (n_split,).
        predictions: Split label -> predictions, shape (m_split, n_split), one row per cell.
        cells: One row per cell with columns split, curve, model, seed, train_frac, row.
        n_boot: Number of resamples.
        seed: Seed of ``np.random.default_rng``; every result is a function of it.
        reference_curve: Curve whose full-data cells define a model's reference (falls back to every
            full-data cell of that model and split when the curve has none).
        match_tolerance: Absolute tolerance of nearest-fraction matching.
        match_relative: When given, the tolerance is this share of the requested fraction instead
            (pruned sets land up to a round below a share; a round is a few % of it).
        level: Coverage of every interval.
        max_bytes: Bound on temporary blocks (see :func:`resampled_metrics`).
        groups: Split label -> group label per test entry (e.g. the formula); None resamples entries.
        resample_seeds: Draw each curve's seeds with replacement (training randomness in the interval).
        min_splits_to_resample: See above.
    """

    verdict = staticmethod(verdict)

    def __init__(
        self,
        truth: dict[str, np.ndarray],
        predictions: dict[str, np.ndarray],
        cells: pd.DataFrame,
        n_boot: int = 1000,
        seed: int = 0,
        reference_curve: str = "random",
        match_tolerance: float = 0.02,
        level: float = 0.95,
        max_bytes: int = DEFAULT_BLOCK_BYTES,
        match_relative: float | None = None,
        groups: dict[str, np.ndarray] | None = None,
        resample_seeds: bool = True,
        min_splits_to_resample: int = MIN_SPLITS_TO_RESAMPLE,
    ) -> None:
        missing = {"split", "curve", "model", "seed", "train_frac", "row"} - set(cells.columns)
        if missing:
            raise ValueError(f"cells lack columns {sorted(missing)}")
        unknown = set(cells["split"]) - set(truth)
        if unknown:
            raise ValueError(f"cells name splits without truth: {sorted(unknown)}")
        self.n_boot = n_boot
        self.reference_curve = reference_curve
        self.match_tolerance = match_tolerance
        self.match_relative = match_relative  # when set: tolerance = match_relative x requested fraction
        self.level = level
        self.groups = groups or {}
        self.resample_seeds = resample_seeds
        cells = cells.reset_index(drop=True)
        self.cells = align_seed_fractions(cells, ["split", "model", "curve"], relative=match_relative,
                                          absolute=match_tolerance,
                                          eligible=cells["curve"].astype(str).str.startswith("prune"))
        used = set(self.cells["split"])
        self.splits = [split for split in truth if split in used]
        self.few_splits = len(self.splits) < min_splits_to_resample
        rng = np.random.default_rng(seed)
        self._split_weights = self._draw_splits(len(self.splits), rng)
        self._points: dict[str, dict[str, np.ndarray]] = {}
        self._samples: dict[str, dict[str, np.ndarray]] = {}
        for split in self.splits:
            self._score_split(split, truth[split], predictions[split], rng, max_bytes)
        self._curves: dict[tuple[str, str, str], tuple[np.ndarray, list[np.ndarray], np.ndarray]] = {}
        dropped = []
        #: (split, model, curve) -> the seeds behind every point of that curve (its one seed set).
        self.curve_seeds: dict[tuple[str, str, str], np.ndarray] = {}
        seed_draws: dict[tuple[str, tuple[int, ...]], np.ndarray] = {}
        for (split, model, curve), group in self.cells.groupby(["split", "model", "curve"], sort=True):
            fractions, rows, seeds, left_out = self._one_seed_set(group)
            # Curves with the same seeds on a split share one draw: seed s is the same random subset (or
            # initial set) for every model and method that used it, so comparisons stay paired.
            key = (split, tuple(seeds.tolist()))
            if key not in seed_draws:
                uniform = np.full(seeds.size, 1.0 / seeds.size)
                seed_draws[key] = (rng.multinomial(seeds.size, uniform, size=n_boot).astype(np.float64)
                                   if resample_seeds and seeds.size > 1 else np.ones((n_boot, seeds.size)))
            self._curves[(split, model, curve)] = (fractions, rows, seed_draws[key])
            self.curve_seeds[(split, model, curve)] = seeds
            dropped += [{"split": split, "model": model, "curve": curve, "train_frac": fraction,
                         "n_seeds": n, "curve_seeds": seeds.size} for fraction, n in left_out]
        #: Fractions left out of a curve because not all of its seed set was evaluated there.
        self.dropped = pd.DataFrame(dropped, columns=["split", "model", "curve", "train_frac", "n_seeds",
                                                      "curve_seeds"])

    def curve_fractions(self, model: str, curve: str) -> np.ndarray:
        """The fractions a curve is scored at, over every split: those of its one seed set only."""
        found = [self._curves[key][0] for key in self._curves if key[1] == model and key[2] == curve]
        return np.unique(np.concatenate(found)) if found else np.empty(0)

    @staticmethod
    def _one_seed_set(group: pd.DataFrame) -> tuple[np.ndarray, list[np.ndarray], np.ndarray, list]:
        """A curve's fractions, cell rows per fraction (one per seed, in seed order) and its seed set.

        The seed set is the largest one evaluated at any fraction (the most frequent among equals);
        fractions missing any of its seeds are left out, and extra seeds at a fraction are ignored.
        """
        by_fraction = {fraction: part for fraction, part in group.groupby("train_frac", sort=True)}
        seed_sets = {fraction: frozenset(part["seed"].astype(int)) for fraction, part in by_fraction.items()}
        largest = max(len(seeds) for seeds in seed_sets.values())
        chosen = Counter(seeds for seeds in seed_sets.values() if len(seeds) == largest).most_common(1)[0][0]
        seeds = np.array(sorted(chosen), dtype=np.int64)
        fractions, rows, left_out = [], [], []
        for fraction, part in by_fraction.items():
            if not chosen <= seed_sets[fraction]:
                left_out.append((float(fraction), len(seed_sets[fraction])))
                continue
            first = part.drop_duplicates("seed").set_index(part.drop_duplicates("seed")["seed"].astype(int))
            fractions.append(float(fraction))
            rows.append(first.loc[seeds, "row"].to_numpy(dtype=np.int64))
        return np.array(fractions, dtype=np.float64), rows, seeds, left_out

    def _draw_splits(self, n_splits: int, rng: np.random.Generator) -> np.ndarray:
        """How often each split is drawn in each resample, shape (B, k); all ones for few splits."""
        if n_splits <= 1 or self.few_splits:
            return np.ones((self.n_boot, n_splits))
        draws = rng.integers(0, n_splits, size=(self.n_boot, n_splits))
        offsets = np.arange(self.n_boot)[:, None] * n_splits
        return (
            np.bincount((draws + offsets).ravel(), minlength=self.n_boot * n_splits)
            .reshape(self.n_boot, n_splits)
            .astype(np.float64)
        )

    def _score_split(
        self, split: str, y_true: np.ndarray, predicted: np.ndarray, rng: np.random.Generator, max_bytes: int
    ) -> None:
        """Score the split's cells on its original test set and on ``n_boot`` resamples of it."""
        y_true = np.asarray(y_true, dtype=np.float64).ravel()
        predicted = np.atleast_2d(np.asarray(predicted, dtype=np.float64))
        rows = self.cells.loc[self.cells["split"] == split, "row"].to_numpy()
        if predicted.shape[1] != y_true.size:
            raise ValueError(f"split {split!r}: predictions {predicted.shape} vs {y_true.size} targets")
        if rows.min() < 0 or rows.max() >= predicted.shape[0]:
            raise ValueError(f"split {split!r}: cell rows outside 0..{predicted.shape[0] - 1}")
        groups = self.groups.get(split)
        if groups is not None and len(groups) != y_true.size:
            raise ValueError(f"split {split!r}: {len(groups)} group labels for {y_true.size} test entries")
        n = y_true.size
        cells_per_block = max(1, max_bytes // (8 * n))
        rmse, mae = np.empty(len(predicted)), np.empty(len(predicted))
        for c0 in range(0, len(predicted), cells_per_block):
            errors = predicted[c0 : c0 + cells_per_block] - y_true
            rmse[c0 : c0 + cells_per_block] = np.sqrt(np.mean(np.square(errors), axis=1))
            mae[c0 : c0 + cells_per_block] = np.mean(np.abs(errors), axis=1)
        self._points[split] = {"rmse": rmse, "mae": mae}
        block = max(1, max_bytes // (8 * n))

        def counts(size: int) -> np.ndarray:
            if groups is None:
                return bootstrap_counts(n, size, rng)
            return grouped_bootstrap_counts(groups, size, rng)

        parts = [resampled_metrics(y_true, predicted, counts(min(block, self.n_boot - b0)), max_bytes)
                 for b0 in range(0, self.n_boot, block)]
        self._samples[split] = {metric: np.concatenate([p[metric] for p in parts]) for metric in METRICS}

    # ----------------------------------------------------------------------------------------------
    # per-split building blocks

    def _check_metric(self, metric: str) -> None:
        if metric not in METRICS:
            raise LessdataError(f"metric must be one of {METRICS}, got {metric!r}")

    def _mean_of_rows(self, split: str, rows: np.ndarray, metric: str,
                      weights: np.ndarray | None = None) -> tuple[float, np.ndarray]:
        """Seed mean of some cells of one split: original value and one value per resample.

        ``weights`` (B, len(rows)) is the curve's seed draw; None weighs every cell once.
        """
        point = float(self._points[split][metric][rows].mean())
        samples = self._samples[split][metric][:, rows]
        if weights is None:
            return point, samples.mean(axis=1)
        return point, (samples * weights).sum(axis=1) / weights.sum(axis=1)

    def _curve_on_split(
        self, split: str, model: str, curve: str, fraction: float, metric: str
    ) -> tuple[float, np.ndarray, int] | None:
        """A curve at the evaluated fraction nearest to ``fraction`` on one split, or None if unmatched."""
        entry = self._curves.get((split, model, curve))
        if entry is None:
            return None
        fractions, rows, weights = entry
        tolerance = self.match_tolerance if self.match_relative is None else self.match_relative * fraction
        matched = nearest_fraction(fractions, fraction, tolerance)
        if np.isnan(matched):
            return None
        cell_rows = rows[int(np.flatnonzero(fractions == matched)[0])]
        point, samples = self._mean_of_rows(split, cell_rows, metric, weights)
        return point, samples, cell_rows.size

    def _reference_on_split(self, split: str, model: str, metric: str) -> tuple[float, np.ndarray] | None:
        """Full-data reference of a model on one split (see the class docstring), or None if absent.

        The reference curve's full-pool cells carry that curve's seed draw, so a curve compared with
        its own full-data point (e.g. random subsets within 10 % of random at 100 %) stays paired.
        """
        entry = self._curves.get((split, model, self.reference_curve))
        if entry is not None:
            fractions, rows, weights = entry
            full = np.flatnonzero(fractions >= FULL_DATA)
            if full.size:
                return self._mean_of_rows(split, rows[int(full[0])], metric, weights)
        of_model = self.cells[(self.cells["split"] == split) & (self.cells["model"] == model)]
        chosen = full_data_rows(of_model, "curve", self.reference_curve)
        if chosen.empty:
            return None
        return self._mean_of_rows(split, chosen["row"].to_numpy(dtype=np.int64), metric)

    def _combine(
        self, points: np.ndarray, samples: np.ndarray, contributing: np.ndarray
    ) -> tuple[float, np.ndarray, np.ndarray]:
        """Average per-split values over the splits drawn in each resample.

        Args:
            points: Original value per split (k,).
            samples: Resampled value per split (B, k); NaN inside a contributing split means "no value
                in this resample" and makes the whole resample NaN (it is not skipped).
            contributing: Which splits take part at all (k,); the others carry no weight.

        Returns:
            ``(point, combined (B,), valid (B,))``; ``valid`` is False where a resample drew none of
            the contributing splits.
        """
        weights = self._split_weights * contributing[None, :]
        total = weights.sum(axis=1)
        drawn = weights > 0
        known = ~np.isnan(samples)
        summed = np.where(drawn & known, weights * np.where(known, samples, 0.0), 0.0).sum(axis=1)
        valid = total > 0
        combined = np.full(self.n_boot, np.nan)
        combined[valid] = summed[valid] / total[valid]
        combined[(drawn & ~known).any(axis=1)] = np.nan
        point = float(np.mean(points[contributing])) if contributing.any() else float("nan")
        return point, combined, valid

    def _stack(self, per_split: list[tuple[float, np.ndarray] | None]) -> tuple[np.ndarray, ...]:
        """Per-split (point, samples) or None -> points (k,), samples (B, k), contributing (k,)."""
        points = np.full(len(per_split), np.nan)
        samples = np.full((self.n_boot, len(per_split)), np.nan)
        contributing = np.zeros(len(per_split), dtype=bool)
        for i, entry in enumerate(per_split):
            if entry is not None:
                points[i], samples[:, i], contributing[i] = entry[0], entry[1], True
        return points, samples, contributing

    def _estimate(self, per_split: list[tuple[float, np.ndarray] | None]) -> Estimate:
        points, samples, contributing = self._stack(per_split)
        n_splits = int(contributing.sum())
        by_split = tuple(float(v) for v in points)
        if self.few_splits and n_splits >= 2:
            mean, lo, hi, p = t_estimate(points[contributing], self.level)
            return Estimate(mean, lo, hi, n_splits, p, "t", by_split)
        point, combined, _ = self._combine(points, samples, contributing)
        lo, hi = percentile_interval(combined, self.level)
        return Estimate(point, lo, hi, n_splits, bootstrap_p_value(point, combined), "bootstrap", by_split)

    # ----------------------------------------------------------------------------------------------
    # public queries

    def curve(self, model: str, curve: str, fraction: float, metric: str = "rmse") -> Estimate:
        """A curve's error at a fraction (seed mean, nearest matching per split) with its interval."""
        self._check_metric(metric)
        per_split = [self._curve_on_split(s, model, curve, fraction, metric) for s in self.splits]
        return self._estimate([None if e is None else e[:2] for e in per_split])

    def reference(self, model: str, metric: str = "rmse") -> Estimate:
        """Full-data reference of a model: mean of its full-pool cells, averaged over the splits."""
        self._check_metric(metric)
        return self._estimate([self._reference_on_split(s, model, metric) for s in self.splits])

    def curve_table(self, metric: str = "rmse", fractions: list[float] | None = None) -> pd.DataFrame:
        """Point estimate and interval of every (model, curve) at each fraction.

        Without ``fractions``, the grid of a (model, curve) is the set of fractions it was evaluated at
        on the first split that has it.  With a single split this is exactly its evaluated fractions;
        with several, the other splits are matched to that grid by nearest fraction (``n_splits`` says
        how many matched).  Pass ``fractions`` to use one nominal grid for every curve.

        Args:
            metric: ``"rmse"`` or ``"mae"``.
            fractions: Nominal fractions to report, or None (see above).

        Returns:
            DataFrame with columns model, curve, train_frac, metric, point, lo, hi, n_seeds (the most
            seeds at the matched fraction on any split), n_splits.
        """
        self._check_metric(metric)
        records = []
        pairs = self.cells[["model", "curve"]].drop_duplicates().sort_values(["model", "curve"])
        for model, curve in pairs.itertuples(index=False):
            if fractions is None:
                anchor = next(s for s in self.splits if (s, model, curve) in self._curves)
                grid = self._curves[(anchor, model, curve)][0]
            else:
                grid = np.asarray(fractions, dtype=np.float64)
            for fraction in grid:
                per_split = [self._curve_on_split(s, model, curve, fraction, metric) for s in self.splits]
                estimate = self._estimate([None if e is None else e[:2] for e in per_split])
                seeds = [e[2] for e in per_split if e is not None]
                records.append(
                    {
                        "model": model,
                        "curve": curve,
                        "train_frac": float(fraction),
                        "metric": metric,
                        "point": estimate.point,
                        "lo": estimate.lo,
                        "hi": estimate.hi,
                        "n_seeds": max(seeds, default=0),
                        "n_splits": estimate.n_splits,
                    }
                )
        columns = ["model", "curve", "train_frac", "metric", "point", "lo", "hi", "n_seeds", "n_splits"]
        return pd.DataFrame.from_records(records, columns=columns)

    def within(self, model: str, curve: str, metric: str = "rmse", tolerance: float = 0.10) -> WithinEstimate:
        """Smallest subset fraction at which a curve comes within ``tolerance`` of the full-data reference.

        On each split the curve's own evaluated fractions are searched, against that split's reference
        resampled with the same counts (paired), and the crossing is interpolated between evaluated
        fractions (:func:`smallest_fraction_within`).  The result is then averaged over the drawn splits.  A
        resample in which some drawn split never gets within has no value: it counts towards
        ``share_not_reached`` and ranks above every fraction in the interval.

        Args:
            model: Evaluation model.
            curve: Curve to search.
            metric: ``"rmse"`` or ``"mae"``.
            tolerance: Relative tolerance (0.10 = within 10 % of the reference).

        Returns:
            :class:`WithinEstimate`; ``point`` is NaN when the original test sets never get within on
            some split, and ``hi`` (or ``lo``) is ``inf`` when that bound falls among unreached resamples.
        """
        self._check_metric(metric)
        per_split: list[tuple[float, np.ndarray] | None] = []
        largest = float("inf")  # the largest fraction evaluated on every contributing split
        for split in self.splits:
            entry = self._curves.get((split, model, curve))
            reference = self._reference_on_split(split, model, metric)
            if entry is None or reference is None:
                per_split.append(None)
                continue
            fractions, rows, weights = entry
            means = [self._mean_of_rows(split, cell_rows, metric, weights) for cell_rows in rows]
            point_values = np.array([m[0] for m in means])
            sample_values = np.column_stack([m[1] for m in means])
            point = float(
                smallest_fraction_within(fractions, point_values, np.asarray(reference[0]), tolerance)
            )
            samples = smallest_fraction_within(fractions, sample_values, reference[1], tolerance)
            per_split.append((point, samples))
            largest = min(largest, float(fractions.max()))
        points, samples, contributing = self._stack(per_split)
        n_splits = int(contributing.sum())
        by_split = tuple(float(v) for v in points)
        if not n_splits:
            return WithinEstimate(float("nan"), float("nan"), float("nan"), float("nan"), 0)
        if self.few_splits and n_splits >= 2:
            share = float(np.mean(np.isnan(samples[:, contributing])))
            if np.isnan(points[contributing]).any():  # some split never gets within on its own test set
                return WithinEstimate(float("nan"), float("nan"), float("inf"), share, n_splits, "t",
                                      by_split)
            mean, lo, hi, _ = t_estimate(points[contributing], self.level)
            # A share lies in [0, largest evaluated fraction]: a t bound outside says "beyond what was
            # measured", not a share below zero or above the largest subset.
            lo = max(lo, 0.0)
            hi = float("inf") if hi > largest else hi
            return WithinEstimate(mean, lo, hi, share, n_splits, "t", by_split)
        point = float(np.mean(points[contributing]))  # NaN if any split never gets within
        _, combined, valid = self._combine(points, samples, contributing)
        combined = combined[valid]
        share_not_reached = float(np.mean(np.isnan(combined)))
        lo, hi = percentile_interval(
            np.where(np.isnan(combined), np.inf, combined), self.level, "inverted_cdf"
        )
        if share_not_reached >= censored_share_limit(combined.size, self.level):
            hi = float("inf")  # the bound sits among (or within Monte Carlo error of) unreached resamples
        return WithinEstimate(point, lo, hi, share_not_reached, n_splits, per_split=by_split)

    def _paired_on_splits(
        self, model: str, curve_a: str, curve_b: str, fraction: float, metric: str
    ) -> list[tuple[tuple[float, np.ndarray], tuple[float, np.ndarray]] | None]:
        """Both curves at a fraction per split; a split takes part only where both sides match."""
        self._check_metric(metric)
        paired = []
        for split in self.splits:
            a = self._curve_on_split(split, model, curve_a, fraction, metric)
            b = self._curve_on_split(split, model, curve_b, fraction, metric)
            paired.append(None if a is None or b is None else (a[:2], b[:2]))
        return paired

    def difference(
        self, model: str, curve_a: str, curve_b: str, fraction: float, metric: str = "rmse"
    ) -> Estimate:
        """Paired difference curve_a - curve_b at a fraction; negative means curve_a has the lower error.

        Both sides are scored on the same resampled test sets and split draws, so shared outliers cancel.
        Read the interval with :func:`verdict`.
        """
        paired = self._paired_on_splits(model, curve_a, curve_b, fraction, metric)
        return self._estimate([None if p is None else (p[0][0] - p[1][0], p[0][1] - p[1][1]) for p in paired])

    def ratio(
        self, model: str, curve_a: str, curve_b: str, fraction: float, metric: str = "rmse"
    ) -> Estimate:
        """Paired ratio curve_a / curve_b at a fraction (below 1 means curve_a has the lower error).

        This is the ratio of the split-averaged errors (not the mean of per-split ratios), so it reads as
        "curve_a's error is this share of curve_b's".
        """
        paired = self._paired_on_splits(model, curve_a, curve_b, fraction, metric)
        points_a, samples_a, contributing = self._stack([None if p is None else p[0] for p in paired])
        points_b, samples_b, _ = self._stack([None if p is None else p[1] for p in paired])
        point_a, combined_a, _ = self._combine(points_a, samples_a, contributing)
        point_b, combined_b, _ = self._combine(points_b, samples_b, contributing)
        with np.errstate(divide="ignore", invalid="ignore"):
            point = point_a / point_b if contributing.any() else float("nan")
            lo, hi = percentile_interval(combined_a / combined_b, self.level)
        return Estimate(float(point), lo, hi, int(contributing.sum()))
