"""The report states a conclusion only where the paired interval supports it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lessdata.analysis.summary import adjust_verdicts, verdict_text
from lessdata.reporting.formatting import fmt_within
from lessdata.reporting.headline import _family_sentence, interval_headline, split_lines


def _row(curve: str, diff: tuple[float, float, float]) -> dict:
    row = {"dataset": "mp18_comp", "target": "e_form", "model": "xgb", "curve": curve, "n_splits": 1,
           "max_frac": 0.7, "full_rmse": 0.162, "full_rmse_lo": 0.150, "full_rmse_hi": 0.175,
           "full_mae": 0.074, "full_mae_lo": 0.071, "full_mae_hi": 0.077,
           "within10_rmse": 0.35, "within10_rmse_lo": 0.28, "within10_rmse_hi": np.inf,
           "within10_rmse_not_reached": 0.1, "within10_mae": np.nan, "within10_mae_lo": np.inf,
           "within10_mae_hi": np.inf, "within10_mae_not_reached": 1.0}
    if curve != "random":
        for fraction in (0.1, 0.2, 0.3, 0.5):
            for metric in ("rmse", "mae"):
                name = f"diff_{metric}@{fraction:g}"
                row[name], row[f"{name}_lo"], row[f"{name}_hi"] = diff
                row[f"{name}_p"] = 0.001 if diff[1] > 0 or diff[2] < 0 else 0.5
    return row


def test_verdicts_follow_the_adjusted_p_value() -> None:
    assert verdict_text(-0.03, 0.001) == "better than random"
    assert verdict_text(0.01, 0.01) == "worse than random"
    assert verdict_text(-0.012, 0.2) == "not resolved"
    assert verdict_text(np.nan, 0.1) == "not measured"
    assert verdict_text(-0.03, 0.001, one_run=True) == "one run: not called"


def test_holm_adjustment_can_overturn_a_per_comparison_verdict() -> None:
    rows = [{**_row("random", (0, 0, 0)), "n_seeds": 3}, {**_row("qbc", (-0.02, -0.03, -0.01)), "n_seeds": 2}]
    for column in [c for c in rows[1] if c.endswith("_p")]:
        rows[1][column] = 0.04  # each alone significant, not after correcting for 8 comparisons
    rows[1]["diff_mae@0.1_p"] = 0.001  # 0.001 x 8 stays below 0.05
    summary = adjust_verdicts(pd.DataFrame(rows))
    qbc = summary.set_index("curve").loc["qbc"]
    assert qbc["diff_rmse@0.3_verdict_unadjusted"] == "better than random"
    assert qbc["diff_rmse@0.3_verdict"] == "not resolved"
    assert qbc["diff_rmse@0.3_p_holm"] == pytest.approx(0.04 * 7)
    assert qbc["diff_mae@0.1_verdict"] == "better than random"
    assert summary.attrs["family_size"] == 8
    table, statements = interval_headline(summary, {"mp18_comp": "MP18"})
    # the interval excludes zero, the corrected verdict does not call it: the reader sees why
    assert "-0.020 [-0.030, -0.010] (not resolved, Holm p 0.28)" in list(table["Δ RMSE vs random at 30 %"])
    assert "MAE 10 %: -0.020 [-0.030, -0.010], Holm p 0.008" in next(s for s in statements if "QBC" in s)


def test_headline_says_not_resolved_when_the_interval_contains_zero() -> None:
    summary = pd.DataFrame([{**_row("random", (0, 0, 0)), "n_seeds": 3},
                            {**_row("prune:xgb", (-0.031, -0.071, -0.002)), "n_seeds": 3},
                            {**_row("qbc", (-0.001, -0.012, 0.012)), "n_seeds": 3}])
    table, statements = interval_headline(adjust_verdicts(summary), {"mp18_comp": "MP18"})
    text = "\n".join(statements)
    pruned = next(s for s in statements if "pruned" in s)
    qbc = next(s for s in statements if "QBC" in s)
    assert "better than random at RMSE 30 %" in pruned and "not resolved" not in pruned
    assert "not resolved" in qbc and "better than random" not in qbc
    assert "0.162 [0.150, 0.175]" in text
    assert list(table["selection"])[:1] == ["random"]
    within = table.set_index("selection")
    assert within.loc["random", "≤ +10 % RMSE"] == "35 % [28 %–> 70 %]"
    assert within.loc["random", "≤ +10 % MAE"] == "> 70 %"


def test_headline_warns_where_a_curve_rests_on_one_seed() -> None:
    summary = pd.DataFrame([{**_row("random", (0, 0, 0)), "n_seeds": 3},
                            {**_row("qbc", (-0.02, -0.03, -0.01)), "n_seeds": 1},
                            {**_row("prune:xgb", (-0.02, -0.03, -0.01)), "n_seeds": 2}])
    _, statements = interval_headline(adjust_verdicts(summary), {"mp18_comp": "MP18"})
    qbc = next(s for s in statements if "QBC" in s)
    pruned = next(s for s in statements if "pruned" in s)
    assert "one run: not called" in qbc and "One seed only" in qbc and "better than random" not in qbc
    assert "One seed only" not in pruned and "better than random" in pruned


def test_family_sentence_says_nothing_is_called_when_every_curve_is_one_run() -> None:
    one_run = adjust_verdicts(pd.DataFrame([{**_row("random", (0, 0, 0)), "n_seeds": 1},
                                            {**_row("qbc", (-0.02, -0.03, -0.01)), "n_seeds": 1}]))
    several = adjust_verdicts(pd.DataFrame([{**_row("random", (0, 0, 0)), "n_seeds": 3},
                                            {**_row("qbc", (-0.02, -0.03, -0.01)), "n_seeds": 3}]))
    assert "No method is called" in _family_sentence(one_run)
    assert "family of 0" not in _family_sentence(one_run)
    assert "Holm's adjustment over this report's family of" in _family_sentence(several)


def test_few_splits_are_shown_one_by_one() -> None:
    """Two splits of one pruning run each: the split spread holds the run-to-run randomness, so the
    verdict is called (no one-run caveat) and each split's values are listed beside the t interval."""
    rows = [{**_row("random", (0, 0, 0)), "n_seeds": 3},
            {**_row("prune:xgb", (-0.02, -0.03, -0.01)), "n_seeds": 1}]
    for row, within, diff in ((rows[0], "0.57;0.34", ""), (rows[1], "0.32;nan", "-0.0104;-0.0046")):
        row.update(n_splits=2, splits="s1;s2", within10_rmse_by_split=within, within10_mae_by_split=within)
        if diff:
            row["diff_rmse@0.3_by_split"] = row["diff_mae@0.3_by_split"] = diff
    table, statements = interval_headline(adjust_verdicts(pd.DataFrame(rows)), {"mp18_comp": "MP18"})
    pruned = next(s for s in statements if "pruned" in s)
    assert "better than random" in pruned and "One pruning run" not in pruned
    lines = split_lines(pd.DataFrame(rows))
    assert "2 values with a t interval" in lines[1]
    table = lines[3]
    assert "| random | s1 | 57 % | 57 % | — | — |" in table
    assert "| pruned, XGB-guided | s2 | > 70 % | > 70 % | -0.005 | -0.005 |" in table


def test_fmt_within_reports_unreached_upper_bounds() -> None:
    row = pd.Series(_row("random", (0, 0, 0)))
    assert fmt_within(row, "rmse").endswith("> 70 %]")


def _scores(rows: list[tuple[str, float, float]]) -> pd.DataFrame:
    """ID-test score rows (method, train_frac, rmse) of XGB on mp18_comp e_form."""
    return pd.DataFrame([{"dataset": "mp18_comp", "target": "e_form", "split": "s0", "method": method,
                          "selector": "", "model": "xgb", "seed": 1, "train_frac": fraction,
                          "eval_set": "id_test", "rmse": rmse, "mae": rmse / 2}
                         for method, fraction, rmse in rows])


def test_active_learning_table_uses_each_strategys_own_last_step(tmp_path) -> None:
    """QBC stopped at 35 %, RF-U ran to 50 %, random subsets exist up to 35 %: each row is compared
    where both curves exist, and no strategy is reported at another's last step."""
    from lessdata.reporting.figures import Results
    from lessdata.reporting.report import section_active

    rows = [("random", f, 0.3 - f / 5) for f in (0.1, 0.2, 0.35)]
    rows += [("qbc", f, 0.25 - f / 5) for f in (0.1, 0.2, 0.35)]
    rows += [("rf_u", f, 0.28 - f / 5) for f in (0.1, 0.2, 0.35, 0.5)]
    text = section_active(Results(folder=tmp_path, scores=_scores(rows)))
    table = [line for line in text.splitlines() if line.startswith("| mp18_comp")]
    qbc = next(line for line in table if "| QBC |" in line)
    rf_u = next(line for line in table if "| RF-U |" in line)
    assert "| 35 % | 0.180 | 35 % | 0.78 | 1 |" in qbc  # 0.18 / 0.23
    assert "| 50 % | 0.180 | 35 % | 0.91 | 1 |" in rf_u  # last step 50 %, ratio at 35 %: 0.21 / 0.23


def test_anchor_explains_a_within_share_outside_our_interval() -> None:
    """A flat random curve: the authors' 90 % lies outside our interval, and the note measures why."""
    from lessdata.reporting.anchor import _within_explained

    fractions = [0.3, 0.5, 0.7, 0.9, 1.0]
    ratios = [1.266, 1.126, 1.08, 1.05, 1.0]
    bands = pd.DataFrame({"curve": "random", "model": "xgb", "train_frac": fractions,
                          "point": [0.145 * r for r in ratios]})
    summary = pd.DataFrame([{**_row("random", (0, 0, 0)), "within10_rmse": 0.605,
                             "within10_rmse_lo": 0.461, "within10_rmse_hi": 0.751}])
    (heading, blank, line) = _within_explained(bands, summary)[1:]
    assert heading.startswith("Where a within-10 %") and blank == ""
    assert "the authors' 90 % lies outside our 60.5 % [46.1 %–75.1 %]" in line
    assert "at 50 % the authors' curve lies +0.060 from ours (1.186 vs 1.126" in line
    slope = -np.polyfit([0.5, 0.7, 0.9], [1.126, 1.08, 1.05], 1)[0]
    assert f"falls by {0.1 * slope:.3f} per 10 points" in line
    assert f"about {100 * (0.172 / 0.145 - 1.126) / slope:+.1f} of the +29.5 points" in line
    assert "The curve is flat there" in line
    # A steep curve whose anchor agrees: the shift explains little, and the note says where the rest lies.
    steep = bands.assign(point=[0.145 * r for r in (1.30, 1.18, 1.09, 1.05, 1.0)])
    (_, _, line) = _within_explained(steep, summary)[1:]
    assert "The curves agree where both were evaluated" in line
    inside = summary.assign(within10_rmse_hi=0.95)
    assert _within_explained(bands, inside) == []


def test_bandgap_anchor_reads_only_bandgap_rows() -> None:
    """A folder with both targets: the band-gap block shows the band-gap rows, the e_form ones stay out."""
    from types import SimpleNamespace

    from lessdata.reporting.anchor import _bandgap_anchor, _summary_of

    e_form = {**_row("prune:xgb", (0, 0, 0)), "within10_rmse": 0.31}
    gap_random = {**_row("random", (0, 0, 0)), "target": "bandgap", "full_rmse": 0.601,
                  "full_rmse_lo": 0.570, "full_rmse_hi": 0.633}
    gap_pruned = {**gap_random, "curve": "prune:xgb", "within10_rmse": 0.27, "within10_rmse_lo": 0.24,
                  "within10_rmse_hi": 0.33}
    rounds = {("mp18_comp", "bandgap", "xgb"): pd.DataFrame({"round": range(64)})}
    results = SimpleNamespace(intervals=pd.DataFrame([e_form, gap_random, gap_pruned]), prune_rounds=rounds)
    assert list(_summary_of(results, "e_form")["within10_rmse"]) == [0.31]
    text = "\n".join(_bandgap_anchor(results))
    assert "| full-data XGB RMSE (eV) | 0.592 | 0.601 [0.570, 0.633] |" in text
    assert "| XGB-guided pruning: rounds | 66 | 64 |" in text
    assert "within 10 % of the full-data RMSE | 28 % | 27 % [24 %–33 %] |" in text
    assert _bandgap_anchor(SimpleNamespace(intervals=pd.DataFrame([e_form]), prune_rounds={})) == []


def test_bootstrap_seed_filter_and_seed_count(tmp_path) -> None:
    """Constructed folder: random seed 0 exact, seed 1 off by 0.2, QBC one seed.  Filtering to seed 0
    gives the exact curve; the summary counts the fewest seeds behind a curve's point."""
    from lessdata.analysis.summary import bootstrap_for, interval_summary
    from lessdata.experiments.store import PredictionStore

    rng = np.random.default_rng(0)
    y = rng.normal(size=200)
    store = PredictionStore(tmp_path)
    store.save_truth("mp18_comp", "e_form", "s0", {"id_test": y}, {"id_test": np.arange(200).astype(str)})
    for method, seed, fraction, offset in [("random", 0, 0.3, 0.0), ("random", 1, 0.3, 0.2),
                                           ("random", 0, 1.0, 0.0), ("random", 1, 1.0, 0.0),
                                           ("qbc", 1, 0.3, 0.1)]:
        key = ("mp18_comp", "e_form", "s0", method, "", "xgb", seed, fraction, int(1000 * fraction))
        store.save(key, {"id_test": y + offset})
    every = bootstrap_for(tmp_path, "mp18_comp", "e_form", n_boot=50)
    only0 = bootstrap_for(tmp_path, "mp18_comp", "e_form", n_boot=50, seeds=[0])
    assert every.curve("xgb", "random", 0.3, "mae")[0] == pytest.approx(0.1, abs=1e-6)
    assert only0.curve("xgb", "random", 0.3, "mae")[0] == pytest.approx(0.0, abs=1e-6)
    summary = interval_summary(tmp_path, n_boot=50).set_index("curve")
    assert summary.loc["random", "n_seeds"] == 2 and summary.loc["qbc", "n_seeds"] == 1


def test_test_entries_are_grouped_by_formula(small_env, mp18_small, tmp_path) -> None:
    """Stored test ids map to their dataset's formulas; unknown ids stay groups of their own."""
    from lessdata.analysis.summary import test_groups
    from lessdata.experiments.store import PredictionStore

    n = len(mp18_small.ids)
    ids = np.append(mp18_small.ids, "not-an-id")
    PredictionStore(tmp_path).save_truth("mp18_small", "e_form", "s0", {"id_test": np.zeros(n + 1)},
                                         {"id_test": ids})
    labels = test_groups(tmp_path, "mp18_small", "e_form", "s0")
    assert list(labels[:n]) == ["formula:" + formula for formula in mp18_small.formulas]
    assert labels[n] == "id:not-an-id"
    assert len(set(labels[:n])) < n  # the sample holds polymorphs: some formulas repeat
    assert test_groups(tmp_path, "mp18_small", "e_form", "s0", group_by="entry") is None
