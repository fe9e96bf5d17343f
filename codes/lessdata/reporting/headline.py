"""The report's headline: the smallest share within 10 % per curve and what each method trades.

Numbers come from :func:`lessdata.analysis.summary.interval_summary` (intervals, Holm-adjusted verdicts); this
module only words them: one table, then one sentence per method on RMSE and MAE after correction.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lessdata.analysis.intervals import MIN_SPLITS_TO_RESAMPLE
from lessdata.analysis.reference import (
    PAPER_FULL_RMSE,
)
from lessdata.analysis.results import Results
from lessdata.analysis.summary import ALPHA, COMPARE_AT, HEADLINE_AT, summarize
from lessdata.analysis.tables import al_reach
from lessdata.data.datasets import TARGET_NAMES
from lessdata.reporting.formatting import (
    curve_label,
    fmt_interval,
    fmt_num,
    fmt_p,
    fmt_pct,
    fmt_within,
    md_table,
    method_label,
    unit,
)
from lessdata.reporting.styles import model_style
from lessdata.selection import registry as selectors


def _within_text(group: pd.DataFrame, reach: dict[tuple[str, str, str], float], method: str,
                 selector: str | None) -> str:
    """Share within 10 % of one curve of a summary group ("> X" for AL curves that stop short)."""
    part = group[group["method"] == method]
    if selector is not None:
        part = part[part["selector"] == selector]
    if part.empty:
        return "—"
    row = part.iloc[0]
    value = float(row["frac_within_10pct"])
    if np.isfinite(value):
        return fmt_pct(value)
    limit = reach.get((row["dataset"], row["target"], method))
    stops_short = selectors.kind_of(method) in ("active", "subset")
    return f"> {fmt_pct(limit)}" if stops_short and limit else "not reached"



def headline_table(results: Results, paper_names: dict[str, str]) -> pd.DataFrame:
    """One row per dataset x target x model: full-data RMSE, paper's, and the shares within 10 %."""
    summary = summarize(results.scores)
    if summary.empty:
        return pd.DataFrame()
    reach = al_reach(results.scores)
    rows = []
    for (dataset, target, model), group in summary.groupby(["dataset", "target", "model"], sort=True):
        paper = paper_names.get(dataset)
        paper_value = PAPER_FULL_RMSE.get((paper, target), {}).get(model) if paper else None

        al = [m for m in selectors.ordered(group["method"].unique())
              if selectors.is_active(m) or selectors.kind_of(m) == "subset"]
        best_pruned = group[(group["method"] == "prune") & (group["selector"] == model)]
        rows.append({
            "dataset": dataset, "target": target, "model": model_style(model).label,
            "full-data RMSE": fmt_num(float(group["full_rmse"].iloc[0])) + f" {unit(target)}",
            "paper": f"{paper_value} ({paper})" if paper_value else "—",
            "pruned ≤ +10 %": _within_text(group, reach, "prune", model),
            "random ≤ +10 %": _within_text(group, reach, "random", None),
            **{f"{method_label(m, '')} ≤ +10 %": _within_text(group, reach, m, None) for m in al},
            "best pruned RMSE (at)": (f"{fmt_num(float(best_pruned['best_rmse'].iloc[0]))} "
                                      f"({fmt_pct(float(best_pruned['best_frac'].iloc[0]))})"
                                      if len(best_pruned) else "—"),
        })
    frame = pd.DataFrame(rows).fillna("—")
    best = frame.pop("best pruned RMSE (at)")
    frame["best pruned RMSE (at)"] = best  # last, after the AL columns that only some rows have
    return frame



def _one_seed_caveat(series: pd.Series) -> str:
    """A warning where a curve rests on one training run somewhere: its interval resamples the test set
    only, and a campaign's or a pruning run's path moves more between seeds than that interval shows
    (``benchmarks/results/bench_fidelity.md``, "QBC / random per AL seed"), so nothing is called."""
    if series.get("n_seeds") != 1 or series.get("n_splits", 1) >= 2:
        return ""  # several splits: each holds its own run, so the split spread carries training randomness
    what = "pruning run" if str(series.get("curve", "")).startswith("prune:") else "seed"
    return (f" One {what} only: the interval covers the test set, not the training randomness, and no "
            f"verdict is called; rerun with more seeds before reading this as a finding.")



def interval_headline(summary: pd.DataFrame, paper_names: dict[str, str]) -> tuple[pd.DataFrame, list[str]]:
    """The headline table with intervals, and the sentences the intervals support.

    A method is said to beat (or lose to) random at a fraction only where the paired interval of the
    difference excludes zero; otherwise the sentence says "not resolved".
    """
    rows, statements = [], []
    for (dataset, target, model), group in summary.groupby(["dataset", "target", "model"], sort=True):
        first = group.iloc[0]
        paper = paper_names.get(dataset)
        paper_value = PAPER_FULL_RMSE.get((paper, target), {}).get(model) if paper else None
        full = (f"RMSE {fmt_interval(first['full_rmse'], first['full_rmse_lo'], first['full_rmse_hi'])}, "
                f"MAE {fmt_interval(first['full_mae'], first['full_mae_lo'], first['full_mae_hi'])} "
                f"{unit(target)}")
        # random first, then the pruning curves, then the active-learning strategies
        ranked = group.assign(_o=[0 if c == "random" else 1 if c.startswith("prune:") else 2
                                  for c in group["curve"]])
        for series in (pd.Series(r) for r in ranked.sort_values(["_o", "curve"]).to_dict("records")):
            at30 = "—"
            if "diff_rmse@0.3" in series and np.isfinite(series.get("diff_rmse@0.3", np.nan)):
                at30 = (fmt_interval(*(series[f"diff_rmse@0.3{end}"] for end in ("", "_lo", "_hi")))
                        + f" ({series['diff_rmse@0.3_verdict']}{_holm_text(series, 'diff_rmse@0.3')})")
            rows.append({"dataset": dataset, "target": target, "model": model_style(model).label,
                         "selection": curve_label(series["curve"], model),
                         "splits": int(series["n_splits"]),
                         "≤ +10 % RMSE": fmt_within(series, "rmse"), "≤ +10 % MAE": fmt_within(series, "mae"),
                         "Δ RMSE vs random at 30 %": at30})
        paper_text = f" (paper {paper_value}, {paper})" if paper_value else ""
        statements.append(f"- **{dataset} / {TARGET_NAMES.get(target, target)}, "
                          f"{model_style(model).label}**: full data {full}{paper_text}.")
        others = ranked[ranked["curve"] != "random"].sort_values(["_o", "curve"])
        for series in (pd.Series(r) for r in others.to_dict("records")):
            label = curve_label(series["curve"], model)
            resolved, unresolved = [], []
            for fraction in COMPARE_AT:
                for metric in ("rmse", "mae"):
                    name = f"diff_{metric}@{fraction:g}"
                    if name not in series or not np.isfinite(series[name]):
                        continue
                    text = (f"{metric.upper()} {fmt_pct(fraction)}: {fmt_num(series[name])} "
                            f"[{fmt_num(series[f'{name}_lo'])}, {fmt_num(series[f'{name}_hi'])}]"
                            + _holm_text(series, name))
                    verdict = series[f"{name}_verdict"]
                    decided = verdict in ("better than random", "worse than random")
                    (resolved if decided else unresolved).append((verdict, text))
            parts = [f"{verdict} at {text}" for verdict, text in resolved]
            for kind in dict.fromkeys(verdict for verdict, _ in unresolved):
                texts = [text for verdict, text in unresolved if verdict == kind]
                parts.append(f"{kind} at " + "; ".join(texts))
            if parts:
                statements.append(f"  - {label} − random (paired, {unit(target)}): " + "; ".join(parts) + "."
                                  + _trade(series) + _one_seed_caveat(series))
    return pd.DataFrame(rows), statements



def _holm_text(series: pd.Series, name: str) -> str:
    """", Holm p X" after a difference that is in the family (so a reader sees why an interval that
    excludes zero can still be "not resolved": the interval is per comparison, the verdict corrected)."""
    text = fmt_p(series.get(f"{name}_p_holm"))
    return f", Holm p {text}" if text else ""


def _trade(series: pd.Series) -> str:
    """One sentence on what a method trades, from its adjusted RMSE and MAE verdicts at each fraction.

    RMSE weighs the few large errors, MAE the typical one: a method better on one and worse on the
    other moves errors between them rather than removing them.
    """
    sentences = []
    for fraction in COMPARE_AT:
        rmse = series.get(f"diff_rmse@{fraction:g}_verdict")
        mae = series.get(f"diff_mae@{fraction:g}_verdict")
        if rmse == "better than random" and mae == "worse than random":
            sentences.append(f"at {fmt_pct(fraction)} it has fewer large errors but larger typical ones "
                             "(better RMSE, worse MAE)")
        elif rmse == "worse than random" and mae == "better than random":
            sentences.append(f"at {fmt_pct(fraction)} it has smaller typical errors but more large ones "
                             "(better MAE, worse RMSE)")
        elif {rmse, mae} == {"better than random"}:
            sentences.append(f"at {fmt_pct(fraction)} it is better on both RMSE and MAE")
    return (" Trade-off: " + "; ".join(sentences) + ".") if sentences else ""



def split_lines(summary: pd.DataFrame) -> list[str]:
    """Few hold-out splits one by one: the values the t intervals of the headline combine.

    With 2-4 splits the spread between them is estimated from a handful of values, so the reader sees
    each split's share within 10 % and difference to random beside the combined interval.
    """
    if "splits" not in summary:
        return []
    chosen = summary[summary["splits"].notna()]
    if chosen.empty:
        return []
    rows = []
    rank = [0 if c == "random" else 1 if str(c).startswith("prune:") else 2 for c in chosen["curve"]]
    order = chosen.assign(_o=rank).sort_values(["dataset", "target", "model", "_o", "curve"])
    for row in order.to_dict("records"):
        labels = str(row["splits"]).split(";")
        columns = {"within10_rmse": "≤ +10 % RMSE", "within10_mae": "≤ +10 % MAE",
                   f"diff_rmse@{HEADLINE_AT:g}": f"Δ RMSE vs random at {fmt_pct(HEADLINE_AT)}",
                   f"diff_mae@{HEADLINE_AT:g}": f"Δ MAE vs random at {fmt_pct(HEADLINE_AT)}"}
        values = {name: str(row.get(f"{name}_by_split", "")).split(";") for name in columns}
        for index, label in enumerate(labels):
            entry = {"dataset": row["dataset"], "target": row["target"],
                     "model": model_style(row["model"]).label,
                     "selection": curve_label(row["curve"], row["model"]), "split": label}
            for name, title in columns.items():
                texts = values[name]
                known = index < len(texts) and texts[index] not in ("", "nan")
                value = float(texts[index]) if known else np.nan
                if name.startswith("within"):
                    entry[title] = fmt_pct(value) if np.isfinite(value) else f"> {fmt_pct(row['max_frac'])}"
                else:
                    entry[title] = fmt_num(value) if np.isfinite(value) else "—"
            rows.append(entry)
    counts = "/".join(str(k) for k in sorted({len(str(text).split(";")) for text in chosen["splits"]}))
    return ["", f"Each hold-out split on its own (the headline combines these {counts} values with a t "
            "interval on k − 1 degrees of freedom, wide by design: a few splits say little about the "
            "spread between splits):", "", md_table(pd.DataFrame(rows))]


def _resamples(summary: pd.DataFrame) -> str:
    """The number of bootstrap resamples behind the summary, as text."""
    counts = sorted(set(summary["n_boot"].dropna().astype(int))) if "n_boot" in summary else []
    return ", ".join(f"{count:,}" for count in counts) or "an unrecorded number of"



def _family_sentence(summary: pd.DataFrame) -> str:
    """Which comparisons the verdicts are corrected over, and how."""
    size = summary.attrs.get("family_size")
    if size is None:
        p_columns = [c for c in summary.columns if c.startswith("diff_") and c.endswith("_p")]
        size = int(np.count_nonzero(~np.isnan(summary[p_columns].to_numpy(dtype=float)))) if p_columns else 0
    if size == 0:
        return ("No method is called better or worse than random here: every curve compared with random "
                "rests on one run (one seed, one split), which says nothing of its training randomness. "
                "Rerun with more seeds (`--seeds`, `prune_data.py --prune-seeds`) or splits to call "
                f"verdicts; they are then Holm-adjusted over the report's family of comparisons (p < "
                f"{ALPHA:g}).")
    return (f"A method is called better or worse than random only where Holm's adjustment over this "
            f"report's family of {size} comparisons (every curve × model × "
            f"{', '.join(fmt_pct(f) for f in COMPARE_AT)} × RMSE and MAE, against random subsets) leaves "
            f"p < {ALPHA:g}; `summary.csv` holds the unadjusted and adjusted p-values. The intervals are "
            "per comparison and the Holm p is printed beside each difference, so an interval that just "
            "excludes zero can still read \"not resolved\". A curve resting on one run (one seed, one "
            "split) is not called.")



def section_headline(results: Results, paper_names: dict[str, str]) -> str:
    """Headline numbers with 95 % intervals (paired test-set bootstrap over the stored predictions)."""
    summary = results.intervals
    if summary is None or summary.empty:
        return "\n".join(["## Headline", "", "_No stored test-set predictions, so no intervals: the point "
                           "estimates only._", "", md_table(headline_table(results, paper_names))])
    table, statements = interval_headline(summary, paper_names)
    return "\n".join([
        "## Headline", "",
        "Smallest share of the pool whose ID-test error is within 10 % of the full-data error, on RMSE and "
        "on MAE, with 95 % intervals, and the difference to random subsets at 30 % of the pool. "
        f"Intervals come from a paired hierarchical bootstrap ({_resamples(summary)} resamples): test "
        "entries resampled by formula "
        "(polymorphs together), each curve's training seeds resampled, every curve and the full-data "
        "model rescored on the same resamples; fewer than "
        f"{MIN_SPLITS_TO_RESAMPLE} hold-out splits are combined with a t interval on their per-split "
        "values, more are resampled. \"> X\": not reached by the largest evaluated subset X (or within "
        "Monte Carlo error of it). " + _family_sentence(summary), "", md_table(table), *split_lines(summary),
        "", "What the intervals support (difference = method − random; negative = lower error):", "",
        *statements])
