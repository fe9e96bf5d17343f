"""Paired bootstrap intervals: constructed cases whose answers are known in advance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lessdata.analysis.intervals import (
    PairedBootstrap,
    align_seed_fractions,
    benjamini_hochberg,
    bootstrap_counts,
    bootstrap_p_value,
    censored_share_limit,
    complete_seed_rows,
    grouped_bootstrap_counts,
    holm,
    nearest_fraction,
    percentile_interval,
    resampled_metrics,
    smallest_fraction_within,
    verdict,
)


def assemble(
    truth: dict[str, np.ndarray], entries: list[tuple[str, str, str, int, float, np.ndarray]]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], pd.DataFrame]:
    """Build (truth, predictions, cells) from (split, curve, model, seed, train_frac, prediction) entries."""
    rows: list[dict] = []
    stacked: dict[str, list[np.ndarray]] = {split: [] for split in truth}
    for split, curve, model, seed, fraction, predicted in entries:
        rows.append(
            {
                "split": split,
                "curve": curve,
                "model": model,
                "seed": seed,
                "train_frac": fraction,
                "row": len(stacked[split]),
            }
        )
        stacked[split].append(np.asarray(predicted, dtype=float))
    predictions = {split: np.vstack(arrays) for split, arrays in stacked.items() if arrays}
    return truth, predictions, pd.DataFrame(rows)


def test_identical_predictions_give_zero_difference() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(size=120)
    entries = []
    for seed in range(2):
        predicted = y + rng.normal(scale=0.3, size=y.size)
        entries += [("s", "a", "xgb", seed, 0.5, predicted), ("s", "b", "xgb", seed, 0.5, predicted.copy())]
    entries.append(("s", "random", "xgb", 0, 1.0, y + rng.normal(scale=0.2, size=y.size)))
    boot = PairedBootstrap(*assemble({"s": y}, entries), n_boot=300, seed=0)
    for metric in ("rmse", "mae"):
        point, lo, hi, n_splits = boot.difference("xgb", "a", "b", 0.5, metric)[:4]
        assert (point, lo, hi, n_splits) == (0.0, 0.0, 0.0, 1)
    assert verdict(0.0, 0.0) == "not resolved"


def test_constant_shift_gives_exact_difference() -> None:
    y = np.random.default_rng(2).normal(size=200)
    entries = [("s", "a", "xgb", 0, 0.5, y + 0.1), ("s", "b", "xgb", 0, 0.5, y + 0.2)]
    boot = PairedBootstrap(*assemble({"s": y}, entries), n_boot=200, seed=0)
    difference = boot.difference("xgb", "a", "b", 0.5, "mae")
    assert difference.point == pytest.approx(-0.1, abs=1e-12)
    assert difference.lo == pytest.approx(-0.1, abs=1e-12)
    assert difference.hi == pytest.approx(-0.1, abs=1e-12)
    assert boot.verdict(difference.lo, difference.hi) == "A better"
    assert boot.curve("xgb", "a", 0.5, "rmse").point == pytest.approx(np.sqrt(0.01), abs=1e-12)
    assert boot.curve("xgb", "b", 0.5, "rmse").point == pytest.approx(np.sqrt(0.04), abs=1e-12)
    ratio = boot.ratio("xgb", "a", "b", 0.5, "rmse")
    assert (ratio.point, ratio.lo, ratio.hi) == pytest.approx((0.5, 0.5, 0.5), abs=1e-9)


def test_pairing_cancels_a_shared_outlier() -> None:
    rng = np.random.default_rng(3)
    n = 200
    y = rng.normal(size=n)
    noise = rng.normal(scale=0.3, size=n)
    error_a, error_b = noise.copy(), 1.2 * noise
    error_a[0] = error_b[0] = 50.0  # one huge error on the same entry for both curves
    entries = [("s", "a", "xgb", 0, 0.5, y + error_a), ("s", "b", "xgb", 0, 0.5, y + error_b)]
    boot = PairedBootstrap(*assemble({"s": y}, entries), n_boot=1000, seed=0)
    alone_a, alone_b = boot.curve("xgb", "a", 0.5), boot.curve("xgb", "b", 0.5)
    # The outlier dominates each RMSE: the individual intervals are wide and overlap almost entirely.
    assert alone_a.hi - alone_a.lo > 1.0
    assert alone_b.lo < alone_a.hi and alone_a.lo < alone_b.hi
    overlap = min(alone_a.hi, alone_b.hi) - max(alone_a.lo, alone_b.lo)
    assert overlap > 0.9 * (alone_a.hi - alone_a.lo)
    difference = boot.difference("xgb", "a", "b", 0.5)
    assert difference.hi < 0
    assert verdict(difference.lo, difference.hi) == "A better"


def test_resampled_metrics_match_explicit_resamples() -> None:
    rng = np.random.default_rng(4)
    n, m, n_boot = 30, 4, 25
    y = rng.normal(size=n)
    predictions = y + rng.standard_t(df=3, size=(m, n))
    counts = bootstrap_counts(n, n_boot, rng)
    assert counts.shape == (n_boot, n) and np.all(counts.sum(axis=1) == n)
    expected_rmse, expected_mae = np.empty((n_boot, m)), np.empty((n_boot, m))
    for b in range(n_boot):
        drawn = np.repeat(np.arange(n), counts[b])  # the resample as an explicit list of indices
        for cell in range(m):
            errors = predictions[cell, drawn] - y[drawn]
            expected_rmse[b, cell] = np.sqrt(np.mean(errors**2))
            expected_mae[b, cell] = np.mean(np.abs(errors))
    for max_bytes in (64 * 2**20, 1):  # one block, and one resample x one cell per block
        scored = resampled_metrics(y, predictions, counts, max_bytes=max_bytes)
        np.testing.assert_allclose(scored["rmse"], expected_rmse, rtol=1e-12)
        np.testing.assert_allclose(scored["mae"], expected_mae, rtol=1e-12)


def test_rmse_interval_covers_sigma() -> None:
    rng = np.random.default_rng(5)
    sigma, n, covered = 0.7, 300, 0
    for _ in range(40):
        y = rng.normal(size=n)
        predictions = y + rng.normal(scale=sigma, size=n)
        samples = resampled_metrics(y, predictions, bootstrap_counts(n, 400, rng))["rmse"][:, 0]
        lo, hi = percentile_interval(samples)
        covered += lo <= sigma <= hi
    assert covered >= 32


def test_percentile_interval_ignores_nan() -> None:
    assert percentile_interval(np.array([np.nan, 1.0, 2.0, 3.0]), level=1.0) == (1.0, 3.0)
    assert all(np.isnan(percentile_interval(np.array([np.nan, np.nan]))))


def test_smallest_fraction_within() -> None:
    fractions = np.array([0.5, 0.1, 0.2, 1.0])  # any order
    values = np.array([1.05, 2.0, 1.08, 1.0])
    # The crossing is interpolated between the last fraction above and the first within ...
    crossing = 0.1 + 0.1 * 0.9 / 0.92
    assert smallest_fraction_within(fractions, values, np.array(1.0), 0.10) == pytest.approx(crossing)
    assert smallest_fraction_within(fractions, values, np.array(1.0), 0.06) == pytest.approx(0.4)
    # ... unless the first evaluated fraction is already within; or the grid rule is asked for.
    assert smallest_fraction_within(fractions, values, np.array(1.0), 1.5) == 0.1
    assert smallest_fraction_within(fractions, values, np.array(1.0), 0.10, interpolate=False) == 0.2
    assert smallest_fraction_within(fractions, values, np.array(1.0), 0.06, interpolate=False) == 0.5
    # Only the full-data point is within: no real subset qualifies.
    assert np.isnan(smallest_fraction_within(fractions, values, np.array(1.0), 0.01))
    batch = smallest_fraction_within(fractions, np.vstack([values, values * 2]), np.array([1.0, 1.0]), 0.10)
    np.testing.assert_allclose(batch, [crossing, np.nan])


def test_within_reaches_reference_at_point_three() -> None:
    rng = np.random.default_rng(6)
    n = 300
    y = rng.normal(size=n)
    base = rng.normal(scale=0.5, size=n)
    rms = float(np.sqrt(np.mean(base**2)))

    def scaled(ratio: float) -> np.ndarray:
        """Independent noise whose RMSE on the original test set is exactly ``ratio`` x the reference."""
        noise = rng.normal(size=n)
        return y + noise * ratio * rms / np.sqrt(np.mean(noise**2))

    entries = [("s", "random", "xgb", 0, 1.0, y + base)]
    # "same": the reference noise scaled, so every resample keeps the ratios: the crossing of 1.1 x the
    # reference between 1.5 x at 0.2 and 1.05 x at 0.3 lies at 0.2 + 0.1 * 0.4 / 0.45 in every resample.
    for fraction, ratio in [(0.1, 2.0), (0.2, 1.5), (0.3, 1.05), (0.5, 1.02)]:
        entries.append(("s", "same", "xgb", 0, fraction, y + ratio * base))
    # "noisy": independent noise, 1.08 x the reference at 0.3 and 1.12 x at 0.5: resamples disagree.
    for fraction, ratio in [(0.1, 2.0), (0.2, 1.5), (0.3, 1.08), (0.5, 1.12)]:
        entries.append(("s", "noisy", "xgb", 0, fraction, scaled(ratio)))
    boot = PairedBootstrap(*assemble({"s": y}, entries), n_boot=500, seed=0)
    same = boot.within("xgb", "same", "rmse", tolerance=0.10)
    crossing = 0.2 + 0.1 * 0.4 / 0.45
    assert (same.point, same.lo, same.hi) == pytest.approx((crossing, crossing, crossing))
    assert same.share_not_reached == 0.0
    noisy = boot.within("xgb", "noisy", "rmse", tolerance=0.10)
    assert noisy.point == pytest.approx(0.2 + 0.1 * 0.4 / 0.42)
    assert noisy.lo <= noisy.point <= noisy.hi
    assert 0.05 < noisy.share_not_reached < 0.95
    assert noisy.hi == np.inf  # the upper bound lies among resamples that never got within


def test_reference_falls_back_to_full_pool_cells() -> None:
    y = np.random.default_rng(7).normal(size=50)
    entries = [("s", "prune:xgb", "xgb", 0, 1.0, y + 0.3), ("s", "prune:xgb", "xgb", 0, 0.4, y + 0.5)]
    boot = PairedBootstrap(*assemble({"s": y}, entries), n_boot=50, seed=0)
    assert boot.reference("xgb", "mae").point == pytest.approx(0.3, abs=1e-12)
    entries.append(("s", "random", "xgb", 0, 1.0, y + 0.2))
    boot = PairedBootstrap(*assemble({"s": y}, entries), n_boot=50, seed=0)
    assert boot.reference("xgb", "mae").point == pytest.approx(0.2, abs=1e-12)


def test_split_resampling_widens_interval_when_splits_disagree() -> None:
    rng = np.random.default_rng(8)
    n = 200
    y = {"s0": rng.normal(size=n), "s1": rng.normal(size=n)}
    noise = rng.normal(size=n)

    def interval_width(scale_of_second_split: float) -> float:
        entries = [
            ("s0", "random", "xgb", 0, 0.5, y["s0"] + 0.3 * noise),
            ("s1", "random", "xgb", 0, 0.5, y["s1"] + 0.3 * scale_of_second_split * noise),
        ]
        table = PairedBootstrap(*assemble(y, entries), n_boot=500, seed=0).curve_table("rmse")
        assert table["n_splits"].tolist() == [2]
        return float(table["hi"].iloc[0] - table["lo"].iloc[0])

    assert interval_width(3.0) > 4 * interval_width(1.0)


def test_nearest_fraction_matching() -> None:
    assert nearest_fraction(np.array([0.1, 0.298, 0.5]), 0.30, 0.02) == 0.298
    assert np.isnan(nearest_fraction(np.array([0.1, 0.25, 0.5]), 0.30, 0.02))
    rng = np.random.default_rng(9)
    y = {"s0": rng.normal(size=40), "s1": rng.normal(size=40)}
    entries = [
        ("s0", "prune:xgb", "xgb", 0, 0.298, y["s0"] + 0.5),
        ("s0", "random", "xgb", 0, 0.3, y["s0"] + 0.1),
        ("s1", "prune:xgb", "xgb", 0, 0.25, y["s1"] + 0.9),
        ("s1", "random", "xgb", 0, 0.3, y["s1"] + 0.1),
    ]
    boot = PairedBootstrap(*assemble(y, entries), n_boot=100, seed=0)
    difference = boot.difference("xgb", "prune:xgb", "random", 0.30, "mae")
    assert difference.n_splits == 1  # only s0 matches 0.30 within 0.02
    assert difference.point == pytest.approx(0.4, abs=1e-12)
    assert np.isnan(boot.difference("xgb", "prune:xgb", "random", 0.7, "mae").point)


def test_curve_table_and_determinism() -> None:
    rng = np.random.default_rng(10)
    y = rng.normal(size=80)
    entries = [
        ("s", curve, "xgb", seed, fraction, y + rng.normal(scale=scale, size=y.size))
        for curve, scale in [("random", 0.4), ("qbc", 0.3)]
        for seed in range(3)
        for fraction in (0.1, 0.5, 1.0)
    ]
    first = PairedBootstrap(*assemble({"s": y}, entries), n_boot=200, seed=3).curve_table("mae")
    second = PairedBootstrap(*assemble({"s": y}, entries), n_boot=200, seed=3).curve_table("mae")
    pd.testing.assert_frame_equal(first, second)
    assert first[["curve", "train_frac"]].values.tolist() == [
        ["qbc", 0.1],
        ["qbc", 0.5],
        ["qbc", 1.0],
        ["random", 0.1],
        ["random", 0.5],
        ["random", 1.0],
    ]
    assert (first["n_seeds"] == 3).all() and (first["lo"] <= first["point"]).all()
    assert (first["point"] <= first["hi"]).all()
    other = PairedBootstrap(*assemble({"s": y}, entries), n_boot=200, seed=4).curve_table("mae")
    assert not np.allclose(first["lo"], other["lo"])


# --------------------------------------------------------------------------------------------------
# Issue 27: groups, seeds, few splits, p-values and their adjustment.
# --------------------------------------------------------------------------------------------------
def test_grouped_counts_draw_whole_groups() -> None:
    groups = np.array(["A", "A", "B", "C", "C", "C"])
    counts = grouped_bootstrap_counts(groups, 500, np.random.default_rng(0))
    assert counts.shape == (500, 6)
    assert (counts[:, 0] == counts[:, 1]).all() and (counts[:, 3] == counts[:, 5]).all()
    group_draws = counts[:, [0, 2, 3]]
    assert (group_draws.sum(axis=1) == 3).all()  # three groups drawn each time; entries vary
    assert len(set(counts.sum(axis=1))) > 1


def test_one_seed_set_per_curve_drops_fractions_missing_seeds() -> None:
    y = np.random.default_rng(3).normal(size=50)
    entries = [("s", "random", "xgb", seed, fraction, y + 0.1 * seed)
               for fraction in (0.1, 0.2, 1.0) for seed in range(3)]
    entries += [("s", "random", "xgb", 1, 0.15, y + 0.5)]  # an active-learning step with one seed
    boot = PairedBootstrap(*assemble({"s": y}, entries), n_boot=100, seed=0)
    assert boot.dropped[["curve", "train_frac", "n_seeds", "curve_seeds"]].values.tolist() == [
        ["random", 0.15, 1, 3]]
    assert list(boot.curve_table()["train_frac"]) == [0.1, 0.2, 1.0]
    entries += [("s", "qbc", "xgb", seed, fraction, y + 0.2) for fraction in (0.1, 0.2) for seed in range(3)]
    entries += [("s", "qbc", "xgb", 0, 0.5, y + 0.2)]  # one seed went further: not part of the curve
    boot = PairedBootstrap(*assemble({"s": y}, entries), n_boot=100, seed=0)
    assert boot.curve_fractions("xgb", "qbc").tolist() == [0.1, 0.2]


def test_pruning_runs_are_aligned_on_common_fractions() -> None:
    """Two pruning runs stop near, not at, the same shares: run 1's nearest rounds join run 0's grid,
    run 0's extra rounds stay single-seed (left out of the curve), random subsets are never moved."""
    y = np.random.default_rng(4).normal(size=40)
    entries = [("s", "prune:xgb", "xgb", 0, fraction, y + 0.1) for fraction in (0.1, 0.2, 0.25, 0.3, 1.0)]
    entries += [("s", "prune:xgb", "xgb", 1, fraction, y + 0.2) for fraction in (0.097, 0.205, 0.296, 1.0)]
    entries += [("s", "random", "xgb", seed, fraction, y) for seed in (0, 1) for fraction in (0.1, 0.3, 1.0)]
    entries += [("s", "random", "xgb", 0, 0.29, y)]
    truth, predictions, cells = assemble({"s": y}, entries)
    aligned = align_seed_fractions(cells, ["split", "model", "curve"], relative=0.15,
                                   eligible=cells["curve"].str.startswith("prune"))
    moved = aligned["train_frac"] != cells["train_frac"].round(6)
    assert sorted(zip(cells.loc[moved, "train_frac"], aligned.loc[moved, "train_frac"], strict=True)) == [
        (0.097, 0.0985), (0.1, 0.0985), (0.2, 0.2025), (0.205, 0.2025), (0.296, 0.298), (0.3, 0.298)]
    boot = PairedBootstrap(truth, predictions, cells, n_boot=50, seed=0, match_relative=0.15)
    assert boot.curve_seeds[("s", "xgb", "prune:xgb")].tolist() == [0, 1]
    assert boot.dropped.query("curve == 'prune:xgb'")["train_frac"].tolist() == [0.25]
    assert boot.dropped.query("curve == 'random'")["train_frac"].tolist() == [0.29]
    keep = complete_seed_rows(aligned, ["split", "model", "curve"])
    assert sorted(aligned.loc[~keep, "train_frac"]) == [0.25, 0.29]


def test_seed_resampling_covers_training_randomness() -> None:
    """Known answer: seed s scales every test error by (1 + c_s), c_s ~ N(0, tau^2), around errors
    sigma * z_i shared by all seeds (the hard entries are hard for every model), so the mean absolute
    error over seeds and test sets is sigma * sqrt(2 / pi).  Resampling test entries alone misses the
    seed spread; resampling seeds too covers it."""
    rng = np.random.default_rng(11)
    sigma, tau, n_test, n_seeds, repeats = 1.0, 0.3, 200, 10, 120
    truth_mae = sigma * np.sqrt(2 / np.pi)
    covered = {True: 0, False: 0}
    for _ in range(repeats):
        y = rng.normal(size=n_test)
        errors = sigma * rng.normal(size=n_test)
        entries = [("s", "a", "xgb", seed, 0.5, y + (1 + rng.normal(0, tau)) * errors)
                   for seed in range(n_seeds)]
        for resample_seeds in (True, False):
            boot = PairedBootstrap(*assemble({"s": y}, entries), n_boot=300, seed=1,
                                   resample_seeds=resample_seeds)
            estimate = boot.curve("xgb", "a", 0.5, "mae")
            covered[resample_seeds] += estimate.lo <= truth_mae <= estimate.hi
    assert covered[True] / repeats >= 0.85, covered
    assert covered[False] / repeats <= 0.80, covered


def test_few_splits_are_combined_with_a_t_interval() -> None:
    rng = np.random.default_rng(5)
    truth, entries, per_split = {}, [], []
    for index, shift in enumerate((0.05, 0.10, 0.30)):
        split = f"s{index}"
        y = rng.normal(size=150)
        truth[split] = y
        a, b = y + rng.normal(0, 0.5, y.size) + shift, y + rng.normal(0, 0.5, y.size)
        entries += [(split, "a", "xgb", 0, 0.5, a), (split, "b", "xgb", 0, 0.5, b)]
        per_split.append(np.mean(np.abs(a - y)) - np.mean(np.abs(b - y)))
    boot = PairedBootstrap(*assemble(truth, entries), n_boot=200, seed=0)
    assert boot.few_splits
    estimate = boot.difference("xgb", "a", "b", 0.5, "mae")
    mean, spread = np.mean(per_split), np.std(per_split, ddof=1)
    half = 4.302652729911275 * spread / np.sqrt(3)  # t(0.975, 2 degrees of freedom)
    assert estimate.method == "t" and estimate.n_splits == 3
    assert estimate.point == pytest.approx(mean) and estimate.lo == pytest.approx(mean - half)
    assert estimate.hi == pytest.approx(mean + half)
    assert estimate.per_split == pytest.approx(per_split)  # each split beside the combination


def test_few_splits_share_interval_stays_within_what_was_measured() -> None:
    """Two splits whose curves come within 10 % at very different shares: the t interval on one degree
    of freedom runs below 0 and beyond the largest subset, which the estimate reads as 0 and "> 50 %"."""
    rng = np.random.default_rng(8)
    truth, entries = {}, []
    for split, noise in (("s0", (0.105, 0.1, 0.1, 0.1)), ("s1", (0.6, 0.5, 0.108, 0.1))):
        y = rng.normal(size=300)
        base = rng.normal(size=300)
        truth[split] = y
        entries += [(split, "random", "xgb", 0, fraction, y + scale * base)
                    for fraction, scale in zip((0.1, 0.2, 0.5, 1.0), noise, strict=True)]
    boot = PairedBootstrap(*assemble(truth, entries), n_boot=100, seed=0)
    within = boot.within("xgb", "random", "rmse")
    assert within.method == "t" and len(within.per_split) == 2
    assert within.per_split[0] <= 0.1 and 0.2 < within.per_split[1] <= 0.5
    assert within.lo == 0.0 and within.hi == float("inf")


def test_p_values_and_their_adjustment() -> None:
    samples = np.random.default_rng(0).normal(-0.1, 0.05, size=4000)
    assert bootstrap_p_value(-0.1, samples) == pytest.approx(0.0455, abs=0.003)  # z = 2
    assert bootstrap_p_value(0.0, samples) == 1.0
    assert bootstrap_p_value(0.3, np.zeros(10)) == 0.0
    p = np.array([0.01, 0.04, 0.03, 0.005, np.nan])
    # Holm: sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 -> 0.02, 0.03, 0.06, 0.06 (monotone).
    assert np.allclose(holm(p), [0.03, 0.06, 0.06, 0.02, np.nan], equal_nan=True)
    # BH: sorted times 4/1, 4/2, 4/3, 4/4 -> 0.02, 0.02, 0.04, 0.04 (step-up minimum).
    assert np.allclose(benjamini_hochberg(p), [0.02, 0.04, 0.04, 0.02, np.nan], equal_nan=True)


def test_upper_bound_is_censored_near_the_tail_share() -> None:
    limit = censored_share_limit(4000)
    assert 0.020 < limit < 0.025
    assert censored_share_limit(10**9) == pytest.approx(0.025, abs=1e-4)
