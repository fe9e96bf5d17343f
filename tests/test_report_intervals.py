"""The report states a conclusion only where the paired interval supports it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lessdata.analysis import verdict_text
from lessdata.report import fmt_within, interval_headline


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
                row[f"{name}_verdict"] = verdict_text(diff[1], diff[2])
    return row


def test_verdicts_follow_the_interval() -> None:
    assert verdict_text(-0.07, -0.002) == "better than random"
    assert verdict_text(0.001, 0.03) == "worse than random"
    assert verdict_text(-0.012, 0.012) == "not resolved"
    assert verdict_text(np.nan, 0.1) == "not measured"


def test_headline_says_not_resolved_when_the_interval_contains_zero() -> None:
    summary = pd.DataFrame([_row("random", (0, 0, 0)), _row("prune:xgb", (-0.031, -0.071, -0.002)),
                            _row("qbc", (-0.001, -0.012, 0.012))])
    table, statements = interval_headline(summary, {"mp18_comp": "MP18"})
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


def test_fmt_within_reports_unreached_upper_bounds() -> None:
    row = pd.Series(_row("random", (0, 0, 0)))
    assert fmt_within(row, "rmse").endswith("> 70 %]")
