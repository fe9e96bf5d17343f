"""The report's comparison of selectors beyond the study: errors, paired differences to random, the
within-10 % share, OOD / ID ratios and what choosing each training set cost, then QBC against them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lessdata.analysis.results import Results
from lessdata.analysis.summary import MATCH_TOLERANCE, ood_ratios
from lessdata.analysis.tables import SELECTOR_SIZE, selection_cost
from lessdata.data.datasets import TARGET_NAMES
from lessdata.reporting.formatting import (
    fmt_interval,
    fmt_num,
    fmt_pct,
    fmt_within,
    md_table,
    method_label,
)
from lessdata.reporting.styles import model_style
from lessdata.selection import registry as selectors
from lessdata.selection.registry import comparison_methods
from lessdata.splits.holdout import is_ood

#: Training fractions at which the comparison of selectors reports errors and differences.
SELECTOR_FRACTIONS = (0.05, 0.1, 0.25)



def selectors_table(results: Results) -> pd.DataFrame:
    """The comparison of selectors: errors, paired differences to random, within 10 %, OOD / ID, cost."""
    methods = comparison_methods(results.scores)
    if not methods or not results.bootstraps:
        return pd.DataFrame()
    summary = results.intervals if results.intervals is not None else pd.DataFrame()
    ratios = ood_ratios(results.scores)
    rows = []
    for dataset, target, model, boot in results.bootstraps:
        here = results.scores[(results.scores["dataset"] == dataset) & (results.scores["target"] == target)
                              & (results.scores["model"] == model)]
        for method in methods:
            selector = model if method == "prune" else ""
            if here[(here["method"] == method) & ((here["selector"] == model) | (method != "prune"))].empty:
                continue
            curve = f"prune:{model}" if method == "prune" else method
            row: dict[str, Any] = {"target": TARGET_NAMES.get(target, target),
                                   "model": model_style(model).label,
                                   "selection": method_label(method, selector, model)
                                   + ("" if selectors.is_from_paper(method) else " *"),
                                   "kind": selectors.kind_of(method)}
            for fraction in SELECTOR_FRACTIONS:
                estimate = boot.curve(model, curve, fraction, "rmse")
                row[f"RMSE {fmt_pct(fraction, 0)}"] = fmt_interval(*estimate[:3])
            estimate = boot.curve(model, curve, SELECTOR_SIZE, "mae")
            row[f"MAE {fmt_pct(SELECTOR_SIZE, 0)}"] = fmt_interval(*estimate[:3])
            for fraction in SELECTOR_FRACTIONS:
                if method == "random":
                    row[f"Δ RMSE vs random {fmt_pct(fraction, 0)}"] = "—"
                    continue
                diff = boot.difference(model, curve, "random", fraction, "rmse")
                row[f"Δ RMSE vs random {fmt_pct(fraction, 0)}"] = fmt_interval(*diff[:3])
            found = summary[(summary.get("dataset") == dataset) & (summary.get("target") == target)
                            & (summary.get("model") == model) & (summary.get("curve") == curve)] \
                if len(summary) else summary
            for metric in ("rmse", "mae"):
                row[f"within 10 % ({metric.upper()})"] = (fmt_within(found.iloc[0], metric) if len(found)
                                                          else "—")
            ood = ratios[(ratios["dataset"] == dataset) & (ratios["target"] == target)
                         & (ratios["model"] == model) & (ratios["method"] == method)
                         & ratios["eval_set"].map(is_ood)] if len(ratios) else ratios
            if method == "prune" and len(ood):
                ood = ood[ood["selector"] == model]
            near = (ood[np.isclose(ood["train_frac"], SELECTOR_SIZE, rtol=MATCH_TOLERANCE)] if len(ood)
                    else ood)
            if len(near) == 0 and len(ood):  # pruned sets sit at round sizes: the nearest one
                near = ood.iloc[[int(np.argmin(np.abs(ood["train_frac"].to_numpy() - SELECTOR_SIZE)))]]
                if abs(float(near["train_frac"].iloc[0]) - SELECTOR_SIZE) > 0.05:
                    near = near.iloc[:0]
            row[f"OOD/ID {fmt_pct(SELECTOR_SIZE, 0)}"] = (fmt_num(float(near["ratio_to_id"].mean()), 2)
                                                        if len(near) else "—")
            seconds, fits = selection_cost(results, dataset, target, method, model)
            row[f"choosing {fmt_pct(SELECTOR_SIZE, 0)}: s (fits)"] = (
                "—" if not np.isfinite(seconds) else f"{seconds:,.0f} ({fits:.0f})")
            rows.append(row)
    return pd.DataFrame(rows)



#: Fractions at which our active-learning strategies are compared with the study's QBC.
QBC_FRACTIONS = (0.1, 0.2, 0.3)



def versus_qbc(results: Results) -> list[str]:
    """Paired differences of each active-learning strategy beyond the study to QBC, one line each."""
    lines = []
    for _dataset, target, model, boot in results.bootstraps:
        curves = set(boot.cells.loc[boot.cells["model"] == model, "curve"])
        if "qbc" not in curves:
            continue
        for method in comparison_methods(results.scores):
            if method not in curves or selectors.is_from_paper(method) or not selectors.is_active(method):
                continue
            parts = []
            for fraction in QBC_FRACTIONS:
                diff = boot.difference(model, method, "qbc", fraction, "rmse")
                if np.isfinite(diff.point):
                    parts.append(f"{fmt_pct(fraction, 0)} {fmt_interval(*diff[:3])}")
            if parts:
                lines.append(f"- {TARGET_NAMES.get(target, target)}, {model_style(model).label}: "
                             f"{method_label(method, '')} − QBC, ID-test RMSE: {'; '.join(parts)}")
    return lines



def section_selectors(results: Results) -> str:
    """Selectors beyond the study beside the study's own (only when a folder holds some)."""
    table = selectors_table(results)
    if table.empty:
        return ""
    qbc_lines = versus_qbc(results)
    return "\n".join([
        "## Selectors compared", "",
        "Every selection method of this folder beside the study's (ours marked \\*; figure (g)). RMSE and "
        "MAE of the ID test set with 95 % paired-bootstrap intervals (mean over seeds); Δ = method − "
        "random subsets on the same resampled test sets (negative = lower error; an interval that "
        "contains 0 does not resolve the difference); within 10 % = smallest share of the pool within "
        "10 % of the full-data error; OOD/ID = OOD-set RMSE over ID-test RMSE at equal training size "
        "(the pruned set nearest it); choosing = seconds and model fits it took to pick the set "
        f"(random: none; active learning: the steps before {fmt_pct(SELECTOR_SIZE, 0)}).", "",
        md_table(table),
        *(["", "Against the study's QBC on the same resampled test sets (negative = ours lower):", "",
           *qbc_lines] if qbc_lines else [])])
