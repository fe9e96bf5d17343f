"""REPORT.md: the study's numbers from one results folder, beside the paper's.

:func:`build_report` writes the report from the tables the figures use, with the engine's summaries
(:mod:`lessdata.analysis.summary`); ``make_figures.py`` (:func:`lessdata.cli.scripts.make_figures_main`)
calls it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lessdata import config
from lessdata.analysis.reference import (
    PAPER_AL,
    PAPER_FULL_RMSE,
    PAPER_OOD_RATIO,
    PAPER_WITHIN_10,
)
from lessdata.analysis.results import Results
from lessdata.analysis.summary import ood_ratios, summarize
from lessdata.analysis.tables import al_reach, full_rows, latest_manifest_data, pairs
from lessdata.data.datasets import PAPER_NAMES, TARGET_NAMES, UNITS
from lessdata.experiments.store import StoreLayout
from lessdata.models.factory import STRUCTURE_MODELS
from lessdata.reporting.anchor import section_anchor
from lessdata.reporting.figures import PlotResult
from lessdata.reporting.formatting import (
    fmt_num,
    fmt_pct,
    md_table,
    method_label,
    unit,
)
from lessdata.reporting.headline import section_headline
from lessdata.reporting.selectors import section_selectors
from lessdata.reporting.styles import model_style
from lessdata.selection import registry as selectors
from lessdata.splits.holdout import is_ood, ood_name

#: Why our numbers differ from the paper's for a corresponding dataset.
DIFFERENCES: dict[str, str] = {
    "mp18_comp": (
        "`mp18_comp` is the paper's MP18 snapshot (Materials Project 2018.6.1 as packaged for MEGNet) "
        "restricted to the entries with a formula in matminer's table (47,483 of 69,239), and it is "
        "**composition-only**: the models see the 145 compositional features, not the paper's 273 "
        "(128 structural + 145 compositional). Polymorphs of one formula are identical to the model, "
        "so its errors are larger than the paper's (paper, MP18: XGB "
        f"{PAPER_FULL_RMSE[('MP18', 'e_form')]['xgb']}, RF {PAPER_FULL_RMSE[('MP18', 'e_form')]['rf']} "
        f"{UNITS['e_form']}), "
        "redundancy is measured among compositions, and ALIGNN cannot be trained. The OOD set is the "
        "newest-ids proxy (a temporal split inside MP18), not MP21's new entries, so OOD/ID ratios are "
        f"not comparable to the paper's {PAPER_OOD_RATIO['MP18']}."),
    "mp18": ("`mp18` is the paper's own featurized MP18 file (273 features); differences come from the "
             "run profile and seeds only."),
    "jarvis": ("`jarvis` is the paper's own featurized JARVIS18 file; differences come from the run "
               "profile and seeds only."),
    "oqmd1.0": ("`oqmd1.0` is the paper's own featurized OQMD14 file; differences come from the run "
                "profile and seeds only."),
}

#: What still differs from the authors' ALIGNN (see ``lessdata.models.alignn``); shown when a results
#: folder has ALIGNN rows, because it bears on every ALIGNN number beside the paper's.
def _power_of_ten(value: float) -> str:
    """``1e-3`` rather than Python's ``0.001`` or ``1e-03``."""
    mantissa, exponent = f"{value:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


_ALIGNN, _HOLD_OUT = config.ALIGNN_PARAMS, config.ALIGNN_ES_PARAMS["validation_fraction"]
ALIGNN_DIFFERENCES = (
    "## ALIGNN against the authors' setup\n\n"
    f"Model `alignn` trains as the authors did: on every row of the training set for {_ALIGNN['epochs']} "
    "epochs, keeping the last\n"
    f"epoch's weights (batch {_ALIGNN['batch_size']}, AdamW lr {_power_of_ten(_ALIGNN['learning_rate'])}, "
    f"weight decay {_power_of_ten(_ALIGNN['weight_decay'])}, one-cycle schedule, MSE loss, seed "
    f"{config.ALIGNN_SEED}).\n"
    f"Model `alignn_es` is our early-stopping variant: {_HOLD_OUT * 100:g} % of each training set is held "
    "out to keep the\n"
    f"best-validation epoch, so a fraction p trains on {1 - _HOLD_OUT:g} p. What still differs from the "
    "authors' ALIGNN:\n" + """
- **Network code.** alignn's pure-PyTorch `ALIGNNAtomWisePure` (used as a plain regressor), not the
  DGL-based `ALIGNN` the authors ran (DGL does not import with current torch): same layer counts and
  widths, but that re-implementation's own layer and readout details.
- **Graph builder.** Our pure-PyTorch neighbour list (alignn's `torch_neighbor_list`; edge for edge
  alignn's `build_pure_torch_graph`) instead of jarvis/DGL graph construction: each atom keeps exactly
  its 12 nearest periodic neighbours within 8 Å as directed edges, whereas jarvis keeps the whole shell at
  the 12th-neighbour distance (ties included), adds the reverse of every edge and widens the cutoff for
  atoms with fewer than 12 neighbours within 8 Å. So high-symmetry crystals (bcc: 8 + 6 neighbours) keep
  an arbitrary 12 of 14, and atoms in open structures may have fewer than 12 neighbours.
- **Line graph.** Every pair of bonds meeting at an atom forms an angle (three-body cutoff 8 Å, as the
  original line graph; the pure model's default is 3.5 Å), built per batch, angles computed in-model.
- **Target scaling** (ours): targets are standardized on the training rows and predictions mapped back.
- Profile `quick` trains a narrower ALIGNN for fewer epochs (`config.PROFILES`); `paper` uses the sizes
  above.""")

_POOL_SHARE = f"{(1 - config.ID_TEST_FRACTION) * 100:g} %"
_TEST_SHARE = f"{config.ID_TEST_FRACTION * 100:g} %"


def profile_note(name: str) -> str:
    """What a run profile changes against the paper's protocol (read from :mod:`lessdata.config`)."""
    if name == "paper" or name not in config.PROFILES:
        return ""
    settings = config.profile(name)
    xgb, rf = config.model_params("xgb", name), config.model_params("rf", name)
    paper_xgb, paper_rf = config.model_params("xgb", "paper"), config.model_params("rf", "paper")
    prune, al = settings["prune"], settings["al"]
    paper = config.profile("paper")
    evaluated = (f"near {len(prune['eval'])} fractions" if isinstance(prune["eval"], list)
                 else "at every round")
    ibug, paper_ibug = config.model_params("xgb_ibug", name), config.model_params("xgb_ibug", "paper")
    bins = f" with {xgb['max_bin']} histogram bins" if "max_bin" in xgb else ""
    guide = prune.get("guide_overrides", {}).get("xgb", {})
    guide_text = (f", {guide['n_estimators']} rounds as the pruning guide" if "n_estimators" in guide
                  else "")
    return (f"How the `{name}` profile departs from the paper's protocol (everything else is the paper's): "
            f"XGB {xgb['n_estimators']} rounds × {xgb['num_parallel_tree']} parallel tree(s){bins}"
            f"{guide_text} (paper {paper_xgb['n_estimators']} × {paper_xgb['num_parallel_tree']}, 256 bins, "
            "the same model guiding and evaluated); the XGB under IBUG "
            f"(XGB-U) {ibug['n_estimators']} rounds (paper {paper_ibug['n_estimators']}); RF "
            f"{rf['n_estimators']} trees (paper {paper_rf['n_estimators']}); random sizes "
            f"{', '.join(fmt_pct(f) for f in settings['size_grid'])} with {settings['seeds']['xgb']} XGB and "
            f"{settings['seeds']['rf']} RF seeds (paper {len(paper['size_grid'])} sizes, "
            f"{paper['seeds']['xgb']} seeds); pruning removes at least "
            f"{fmt_pct(prune['min_remove_frac'])} of the pool per round (paper "
            f"{fmt_pct(paper['prune']['min_remove_frac'])}) and is evaluated "
            f"{evaluated} (paper: every round); active learning adds {fmt_pct(al['step_frac'])} per step up "
            f"to {fmt_pct(al['stop_frac'])} (paper {fmt_pct(paper['al']['step_frac'])} up to "
            f"{fmt_pct(paper['al']['stop_frac'])}). Its absolute errors are somewhat higher than the paper "
            "profile's; `benchmarks/bench_fidelity.py` checks that the curves' shapes and the gaps between "
            "methods agree. `--profile paper` runs the study's protocol.")


def section_datasets(results: Results) -> str:
    """Dataset sizes, cleaning counts (every rule, from the manifests' provenance) and split sizes."""
    blocks = latest_manifest_data(results)
    rows = []
    for (dataset, target) in pairs(results):
        data = blocks.get((dataset, target))
        if data is None:
            rows.append({"dataset": dataset, "target": target, "entries": "—", "features": "—",
                         "cleaning (rows dropped)": "no manifest", "pool": "—", "ID test": "—",
                         "OOD sets": "—"})
            continue
        provenance = data.get("provenance") or {}
        cleaning = provenance.get("cleaning") or []
        first = cleaning[0].get("remaining", 0) + cleaning[0].get("dropped", 0) if cleaning else None
        steps = [f"{step.get('rule')}: {int(step.get('dropped', 0)):,}" for step in cleaning[1:]
                 if "rule" in step]
        split = data.get("split") or {}
        oods = [f"{name} {int(block['n']):,}" for name, block in split.items()
                if name not in ("pool", "id_test")]
        rows.append({"dataset": dataset, "target": target,
                     "entries": f"{int(provenance['n_entries']):,}" if "n_entries" in provenance else "—",
                     "features": str(provenance.get("n_features", "—")),
                     "cleaning (rows dropped)": (f"loaded {int(first):,}; " if first else "")
                     + ("; ".join(steps) if steps else "none"),
                     "pool": f"{int(split['pool']['n']):,}" if "pool" in split else "—",
                     "ID test": f"{int(split['id_test']['n']):,}" if "id_test" in split else "—",
                     "OOD sets": ", ".join(oods) or "none"})
    text = ["## Datasets, cleaning and splits", "",
            "Entries after cleaning, the rows each cleaning rule dropped (from the run manifests' "
            f"provenance) and the split sizes (pool {_POOL_SHARE} / ID test {_TEST_SHARE}, OOD sets taken "
            "out first).", "",
            md_table(pd.DataFrame(rows))]
    return "\n".join(text)


def section_full_data(results: Results, paper_names: dict[str, str]) -> str:
    """Full-data ID-test RMSE (and MAE, R²) per model, with the paper's value where it corresponds."""
    full = full_rows(results.scores)
    rows = []
    for (dataset, target, model), group in full.groupby(["dataset", "target", "model"]):
        paper = paper_names.get(dataset)
        paper_value = PAPER_FULL_RMSE.get((paper, target), {}).get(model, "—") if paper else "—"
        std = group["rmse"].std()
        rows.append({"dataset": dataset, "target": target, "model": model_style(model).label,
                     "seeds": len(group),
                     "RMSE": fmt_num(group["rmse"].mean()) + (f" ± {std:.3f}" if np.isfinite(std) else ""),
                     "MAE": fmt_num(group["mae"].mean()), "R²": fmt_num(group["r2"].mean()),
                     "unit": unit(target),
                     "paper RMSE": f"{paper_value} ({paper})" if paper and paper_value != "—" else "—"})
    return "\n".join(["## Full-data accuracy", "",
                      "Models trained on the whole pool, scored on the ID test set (mean ± std over seeds).",
                      "", md_table(pd.DataFrame(rows))])


def within_table(results: Results, paper_names: dict[str, str]) -> pd.DataFrame:
    """Smallest share of the pool within 5/10/20 % of full-data RMSE per model and method (formatted)."""
    summary = summarize(results.scores)
    if summary.empty:
        return pd.DataFrame()
    reach = al_reach(results.scores)
    order = {m: i for i, m in enumerate(selectors.ordered(summary["method"].unique()))}
    summary = summary.assign(_o=summary["method"].map(order),
                             _t=(summary["selector"] != summary["model"]))
    summary = summary.sort_values(["dataset", "target", "model", "_o", "_t", "selector"])
    rows = []
    for row in summary.itertuples(index=False):
        paper = paper_names.get(row.dataset)
        paper_note = PAPER_WITHIN_10.get((paper, row.target), {}) if paper else {}
        is_al = selectors.kind_of(row.method) in ("active", "subset")  # curves that stop short of 100 %
        limit = reach.get((row.dataset, row.target, row.method), float("nan"))

        def share(value: float, limit: float = limit, is_al: bool = is_al) -> str:
            if np.isfinite(value):
                return fmt_pct(value)
            return f"not by {fmt_pct(limit)}" if is_al else "not reached"

        rows.append({"dataset": row.dataset, "target": row.target, "model": model_style(row.model).label,
                     "selection": method_label(row.method, row.selector, row.model),
                     "full-data RMSE": fmt_num(row.full_rmse),
                     "within 5 %": share(row.frac_within_5pct), "within 10 %": share(row.frac_within_10pct),
                     "within 20 %": share(row.frac_within_20pct),
                     "best RMSE (at)": f"{fmt_num(row.best_rmse)} ({fmt_pct(row.best_frac)})",
                     "paper, within 10 %": paper_note.get(row.method, "—") + (f" ({paper})" if paper
                                                                              and row.method in paper_note
                                                                              else "")})
    return pd.DataFrame(rows)


def section_within(results: Results, paper_names: dict[str, str]) -> str:
    """How much of the pool each selection needs to come within 5/10/20 % of the full-data RMSE."""
    table = within_table(results, paper_names)
    text = ["## How much data is needed", "",
            "Smallest share of the pool whose mean ID-test RMSE is within 5 / 10 / 20 % of the full-data "
            "RMSE of the same model (point estimates, `lessdata.analysis.summarize`; the intervals are in "
            "the headline and `summary.csv`). \"Best RMSE\" "
            "is the lowest mean RMSE below the full pool and where it occurs: a pruned set can beat the "
            "full data. Active-learning curves stop at the profile's last fraction (\"not by X\").", "",
            md_table(table)]
    return "\n".join(text)


def _nearest(fractions: Sequence[float], wanted: Sequence[float]) -> list[float]:
    """For each wanted fraction the nearest available one (distinct, sorted)."""
    available = np.array(sorted(set(fractions)))
    if available.size == 0:
        return []
    picked = {float(available[np.argmin(np.abs(np.log(available) - np.log(w)))]) for w in wanted}
    return sorted(picked)


def section_unused(results: Results) -> str:
    """Unused-pool RMSE / ID-test RMSE of pruned and random sets at a few sizes."""
    scores = results.scores
    ratios = ood_ratios(scores)
    if ratios.empty or not (ratios["eval_set"] == "unused").any():
        return "## Unused pool vs ID test\n\n_No unused-pool scores._"
    unused = ratios[(ratios["eval_set"] == "unused")
                    & ((ratios["method"] == "random")
                       | ((ratios["method"] == "prune") & (ratios["selector"] == ratios["model"])))]
    means = scores.groupby(["dataset", "target", "method", "selector", "model", "train_frac",
                            "eval_set"])["rmse"].mean()
    rows = []
    for (dataset, target, model, method), group in unused.groupby(["dataset", "target", "model", "method"]):
        for fraction in _nearest(group["train_frac"].tolist(), [0.05, 0.1, 0.3, 0.5, 0.7]):
            row = group[group["train_frac"] == fraction].iloc[0]
            key = (dataset, target, method, row["selector"], model, fraction)
            rows.append({"dataset": dataset, "target": target, "model": model_style(model).label,
                         "selection": method_label(method, row["selector"], model),
                         "training": fmt_pct(fraction), "ID RMSE": fmt_num(means.get((*key, "id_test"))),
                         "unused RMSE": fmt_num(means.get((*key, "unused"))),
                         "unused / ID": fmt_num(row["ratio_to_id"], 2)})
    frame = pd.DataFrame(rows).sort_values(["dataset", "target", "model", "selection"], kind="stable")
    return "\n".join(["## Unused pool vs ID test", "",
                      "A ratio below 1 means the entries left out of the training set are easier to predict "
                      "than new data: the paper's evidence that pruned-away data is redundant (the paper: "
                      "far below 1 once training exceeds ~10–30 %). Random subsets are the reference "
                      "(their unused pool is a random sample, like the ID test set).", "",
                      md_table(frame)])


def section_ood(results: Results, paper_names: dict[str, str]) -> str:
    """OOD RMSE / ID RMSE at full data and over the pruned and random sets, plus coverage."""
    scores = results.scores
    ratios = ood_ratios(scores)
    ood = ratios[ratios["eval_set"].map(is_ood)] if not ratios.empty else ratios
    parts = ["## Out-of-distribution accuracy", ""]
    if ood.empty:
        parts.append("_No OOD scores (no OOD set was defined for these runs)._")
    else:
        full = full_rows(scores)
        rows = []
        for (dataset, target, model, eval_set), group in ood.groupby(["dataset", "target", "model",
                                                                        "eval_set"]):
            full_ids = full[(full["dataset"] == dataset) & (full["target"] == target)
                            & (full["model"] == model)]
            full_ood = scores[(scores["dataset"] == dataset) & (scores["target"] == target)
                              & (scores["model"] == model) & (scores["eval_set"] == eval_set)
                              & (scores["train_frac"] >= 1.0)
                              & scores["method"].isin(full_ids["method"].unique())]
            id_rmse, ood_rmse = full_ids["rmse"].mean(), full_ood["rmse"].mean()
            pruned = group[(group["method"] == "prune") & (group["selector"] == model)
                           & (group["train_frac"] < 1.0)]["ratio_to_id"]
            random = group[(group["method"] == "random") & (group["train_frac"] < 1.0)]["ratio_to_id"]
            paper = paper_names.get(dataset)
            rows.append({"dataset": dataset, "target": target, "OOD set": ood_name(eval_set),
                         "model": model_style(model).label, "full-data ID RMSE": fmt_num(id_rmse),
                         "full-data OOD RMSE": fmt_num(ood_rmse),
                         "OOD / ID (full)": fmt_num(ood_rmse / id_rmse if id_rmse else float("nan"), 2),
                         "OOD / ID, pruned sets": _range(pruned), "OOD / ID, random sets": _range(random),
                         "paper OOD / ID": (f"{PAPER_OOD_RATIO[paper]} ({paper}, version OOD)"
                                            if paper in PAPER_OOD_RATIO else "—")})
        parts += ["OOD RMSE over ID-test RMSE of the same training set: at the full pool, and the range over "
                  "the pruned (same-model guide) and random training sets below 100 %.", "",
                  md_table(pd.DataFrame(rows))]
    parts += ["", "### OOD coverage", "",
              "Nearest-pool distance (standardized feature space) of each evaluation set against the ID "
              "test set's: an \"OOD\" set whose distances look like the ID test set's (ratio ≈ 1, most "
              "points within the ID 95th percentile) is interpolation, not extrapolation.", ""]
    coverage = results.coverage
    if coverage.empty:
        parts.append("_No coverage tables (coverage_*.csv)._")
    else:
        table = pd.DataFrame({
            "dataset": coverage["dataset"], "target": coverage["target"], "set": coverage["eval_set"],
            "n": coverage["n"].map(lambda n: f"{int(n):,}"),
            "median NN distance": coverage["median_nn_distance"].map(lambda v: fmt_num(v, 2)),
            "90th pct NN distance": coverage["p90_nn_distance"].map(lambda v: fmt_num(v, 2)),
            "median / ID median": coverage["median_ratio_to_id"].map(lambda v: fmt_num(v, 2)),
            "share within ID 95th pct": coverage["share_within_id_p95"].map(fmt_pct)})
        parts.append(md_table(table.drop_duplicates()))
    return "\n".join(parts)


def _range(values: pd.Series) -> str:
    values = values.dropna()
    if values.empty:
        return "—"
    return f"{values.min():.2f}–{values.max():.2f}" if len(values) > 1 else f"{values.iloc[0]:.2f}"


def section_active(results: Results) -> str:
    """Active learning: RMSE at the last step per strategy vs random, and the per-step diagnostics."""
    scores = results.scores
    frame = scores[(scores["eval_set"] == "id_test")]
    al = frame[frame["method"].map(selectors.is_active)]
    parts = ["## Active learning", ""]
    if al.empty:
        parts.append("_No active-learning rows in scores.csv (run `codes/run_al.py`); section skipped._")
        return "\n".join(parts)
    rows = []
    for (dataset, target, model), group in al.groupby(["dataset", "target", "model"]):
        here = frame[(frame["dataset"] == dataset) & (frame["target"] == target) & (frame["model"] == model)]
        random_rows = here[here["method"] == "random"]
        for method in selectors.ordered(group["method"].unique()):
            own = group[group["method"] == method]
            last = own["train_frac"].max()
            at_last = own[np.isclose(own["train_frac"], last)]["rmse"]
            # Random at the strategy's own last step, else at the largest size both share.
            shared = [f for f in np.unique(own["train_frac"])
                      if np.isclose(random_rows["train_frac"], f).any()]
            compared = shared[-1] if shared else None
            ratio = float("nan")
            if compared is not None:
                ratio = (own.loc[np.isclose(own["train_frac"], compared), "rmse"].mean()
                         / random_rows.loc[np.isclose(random_rows["train_frac"], compared), "rmse"].mean())
            rows.append({"dataset": dataset, "target": target, "model": model_style(model).label,
                         "strategy": method_label(method, "", model), "last step": fmt_pct(last),
                         "RMSE at last step": fmt_num(at_last.mean()),
                         "compared at": fmt_pct(compared) if compared is not None else "—",
                         "strategy / random": fmt_num(ratio, 2),
                         "seeds": int(at_last.count())})
    parts += ["ID-test RMSE at each strategy's last active-learning step (mean over seeds), and its ratio "
              "to random subsets of the same size at that step (or at the largest size both were "
              "evaluated at: \"compared at\"); the smallest fractions within 10 % of full data are in "
              f"\"How much data is needed\" above. Paper: {PAPER_AL}", "", md_table(pd.DataFrame(rows))]
    diagnostics = results.diagnostics
    if not diagnostics.empty and "batch_size" in diagnostics:
        columns = [c for c in ["spearman_score_vs_error", "batch_to_pool_error", "id_test_coverage_90",
                               "id_test_miscalibration_area"] if c in diagnostics]
        means = (diagnostics[diagnostics["batch_size"] > 0]
                 .groupby(["dataset", "target", "strategy"])[columns].mean().reset_index())
        names = {"spearman_score_vs_error": "Spearman ρ (score vs XGB error)",
                 "batch_to_pool_error": "batch / pool error", "id_test_coverage_90": "90 % interval coverage",
                 "id_test_miscalibration_area": "miscalibration area"}
        table = means.rename(columns=names)
        for column in names.values():
            if column in table:
                table[column] = table[column].map(lambda v: fmt_num(v, 2))
        table["strategy"] = table["strategy"].map(lambda m: method_label(m, ""))
        parts += ["", "Per-step diagnostics (means over seeds and steps; figure (f)): how well each "
                  "strategy's scores rank the true errors of the step's XGB on the unlabelled pool, the "
                  "chosen batch's mean error relative to the pool's (1 = a random batch), and for the "
                  "uncertainty strategies the calibration of their predictive distribution on the ID test "
                  "set (coverage of the 90 % interval; ideal 0.90).", "", md_table(table)]
    return "\n".join(parts)


def _is_significant(table: pd.DataFrame) -> pd.Series:
    """The ``significant`` column of a redundancy table as booleans (False where the column is missing)."""
    if "significant" not in table:
        return pd.Series(False, index=table.index)
    return table["significant"].astype(str).str.lower().isin(["true", "1"])


def _fmt_q(q_value: Any) -> str:
    """A q-value for the text ("q = 3.1e-05"; "q < 1e-300" where it underflowed, "q n/a" if missing)."""
    if q_value is None or not np.isfinite(q_value):
        return "q n/a"
    return "q < 1e-300" if q_value == 0 else f"q = {float(q_value):.2g}"


def _fmt_group(label: Any, row: Any) -> str:
    """One group of a redundancy table: ``label ×r (n entries, q = ...)`` with "n.s." when not significant."""
    tested = _fmt_q(getattr(row, "q_value", math.nan))
    mark = "" if str(getattr(row, "significant", False)).lower() in ("true", "1") else ", n.s."
    return f"{label} ×{row.enrichment:.2f} ({row.n_total:,}, {tested}{mark})"


def section_redundancy(results: Results) -> str:
    """Highlights of where the pruned-away data lies (elements, number of elements, families).

    Each dataset's comparison is made at one retained fraction (stated), and a group is called over- or
    under-represented only when its Fisher-exact Benjamini–Hochberg q-value is below 0.05: an
    enrichment ratio alone (say Pd ×4.96 with 300 kept entries) is mostly noise.
    """
    parts = ["## Where the redundant data lies", ""]
    if not results.redundancy:
        parts.append("_No redundancy tables (run `codes/prune_data.py`)._")
        return "\n".join(parts)
    parts.append("Entries removed by pruning against those kept (figure (e)) at one retained fraction F of "
                 "the pool per dataset (by default the smallest pruned fraction whose guide-model ID-test "
                 "RMSE is within 10 % of the full-data RMSE, not the end of pruning, where the last rounds "
                 "are nearly random), as enrichment ×r = a group's share of the removed entries / its share "
                 "of the kept ones (r > 1: more common in the redundant data), with the group's number of "
                 "entries and its q-value. Only groups with q < 0.05 (two-sided Fisher exact test of the "
                 "group's 2×2 table, Benjamini–Hochberg over the groups of a table) are called over- or "
                 "under-represented; \"n.s.\" marks the others. Elements in ≥ 1 % of the pool and ≥ 10 "
                 "entries, other groups with ≥ 10 entries.")
    for (dataset, target, guide), tables in sorted(results.redundancy.items()):
        if "summary" not in tables:
            continue
        summary = tables["summary"].iloc[0]
        n_pool, n_removed = int(summary["n_pool"]), int(summary["n_removed"])
        when = ("at the end of pruning" if pd.isna(summary.get("fraction"))
                else f"at retained fraction F = {fmt_pct(float(summary['fraction']))} of the pool")
        lines = [f"- **{dataset} / {target}, {model_style(guide).label}-guided**: {n_removed:,} of "
                 f"{n_pool:,} entries removed {when} ({fmt_pct(n_removed / n_pool)} removed, "
                 f"{n_pool - n_removed:,} kept)."]
        elements = tables.get("elements")
        if elements is not None and len(elements):
            common = elements[(elements["n_total"] >= max(10, 0.01 * n_pool))
                              & np.isfinite(elements["enrichment"]) & (elements["enrichment"] > 0)]
            significant = common[_is_significant(common)].sort_values("enrichment", ascending=False)
            over = significant[significant["enrichment"] > 1]
            under = significant[significant["enrichment"] < 1].iloc[::-1]
            if significant.empty:
                lines.append(f"  No element is significantly over- or under-represented among the removed "
                             f"entries (q < 0.05; {len(common)} elements tested).")
            else:
                over_text = ", ".join(_fmt_group(r.element, r) for r in over.head(5).itertuples()) or "none"
                under_text = ", ".join(_fmt_group(r.element, r) for r in under.head(5).itertuples()) or "none"
                lines.append(f"  Over-represented among removed entries (q < 0.05; {len(over)} of the "
                             f"{len(common)} common elements): {over_text}; under-represented (kept; "
                             f"{len(under)}): {under_text}.")
        arity = tables.get("n_elements")
        if arity is not None and len(arity):
            shown = arity[arity["n_total"] >= 10]
            lines.append("  By number of elements: " + ", ".join(
                _fmt_group(r.arity_name, r) for r in shown.itertuples()) + ".")
        families = tables.get("family_size")
        if families is not None and len(families):
            single = families[families["family_size"] == 1]
            multi = families[families["family_size"] > 1]
            n_retained = n_pool - n_removed
            if len(single) and len(multi) and n_removed and n_retained and multi["n_retained"].sum():
                ratio = ((multi["n_removed"].sum() / n_removed) / (multi["n_retained"].sum() / n_retained))
                single_row = single.iloc[0]
                # Entries of several-polymorph formulas are the complement of single-entry ones: one 2x2 test.
                single_q = _fmt_q(float(single_row["q_value"]) if "q_value" in single_row else math.nan)
                lines.append(f"  Entries whose formula has several polymorphs "
                             f"({int(multi['n_total'].sum()):,}): ×{ratio:.2f}; single-entry formulas "
                             f"({int(single_row['n_total']):,}): ×{float(single_row['enrichment']):.2f} "
                             f"(the same 2×2 table, {single_q}).")
        systems = tables.get("crystal_systems")
        if systems is not None and len(systems):
            lines.append("  By crystal system: " + ", ".join(
                _fmt_group(r.crystal_system, r) for r in systems.itertuples()) + ".")
        parts += ["", *lines]
    return "\n".join(parts)


def section_times(results: Results) -> str:
    """Wall and fit times of every run (from the manifests)."""
    if not results.manifests:
        return "## Wall times\n\n_No manifests._"
    rows = []
    for manifest in results.manifests:
        cfg, timings = manifest.get("config") or {}, manifest.get("timings") or {}
        detail = []
        for key in ("guide", "models", "strategies", "seeds", "eval_models"):
            value = cfg.get(key)
            if value not in (None, [], ""):
                detail.append(f"{key} {','.join(map(str, value)) if isinstance(value, list) else value}")
        fit = timings.get("fit_seconds", timings.get("round_fit_seconds"))
        rows.append({"run": manifest.get("file", "").removesuffix(".json"),
                     "script": manifest.get("script", "?"), "dataset": cfg.get("dataset", "—"),
                     "target": cfg.get("target", "—"), "detail": "; ".join(detail) or "—",
                     "profile": cfg.get("profile", "—"), "jobs": cfg.get("n_jobs", "—"),
                     "cores": manifest.get("cores", "—"),
                     "wall s": fmt_num(timings.get("wall_seconds", float("nan")), 1),
                     "model-fit s": fmt_num(fit if fit is not None else float("nan"), 1)})
    frame = pd.DataFrame(rows)
    total = sum(float(m.get("timings", {}).get("wall_seconds", 0.0) or 0.0) for m in results.manifests)
    return "\n".join(["## Wall times", "",
                      "Each run's wall time and its time in model fits (pruning: the rounds' fits), from "
                      f"`manifests/`. Total over runs: {total:,.0f} s ({total / 60:.1f} min).", "",
                      md_table(frame)])


def section_paper(results: Results, paper_names: dict[str, str]) -> str:
    """Which of our datasets correspond to the paper's and why the numbers differ."""
    datasets = sorted({d for d, _ in pairs(results)})
    matched = [d for d in datasets if d in paper_names]
    lines = ["## Beside the paper", ""]
    if not matched:
        mp18, oqmd14 = PAPER_FULL_RMSE[("MP18", "e_form")], PAPER_FULL_RMSE[("OQMD14", "e_form")]
        within = PAPER_WITHIN_10[("MP18", "e_form")]
        lines.append("None of these datasets is one of the paper's, so no paper numbers are shown. The "
                     "paper's (read from its figures): full-data RMSE of XGB "
                     f"{mp18['xgb']} {UNITS['e_form']} (MP18 e_form) to {oqmd14['xgb']} (OQMD14); pruned "
                     "sets within 10 % at "
                     f"{within['prune'].split(' (')[0]} of the pool, random at {within['random']}.")
    for dataset in matched:
        reason = DIFFERENCES.get(dataset, "Differences come from the run profile and seeds.")
        lines.append(f"- **{dataset} ↔ {paper_names[dataset]}.** {reason}")
    profiles = sorted(set(results.scores.get("profile", pd.Series(dtype=str)).dropna().astype(str)))
    for name in profiles:
        note = profile_note(name)
        if note:
            lines += ["", note]
    return "\n".join(lines)


def section_figures(plots: Sequence[PlotResult], fig_dir: Path | None, report_dir: Path) -> str:
    """Links to the figures (relative to the report) and what was skipped."""
    lines = ["## Figures", ""]
    for plot in plots:
        if plot.figure is None or fig_dir is None:
            lines.append(f"- {plot.title}: not drawn ({'; '.join(plot.notes) or 'no figure folder'})")
            continue
        rel = Path(os.path.relpath(fig_dir / f"{plot.name}.png", report_dir)).as_posix()
        note = f" Notes: {'; '.join(plot.notes)}." if plot.notes else ""
        lines.append(f"- [{plot.title}]({rel}) (PDF beside it).{note}")
    return "\n".join(lines)


def build_report(results: Results, plots: Sequence[PlotResult] = (), *, fig_dir: Path | None = None,
                 report_path: Path | None = None, paper_names: dict[str, str] | None = None) -> str:
    """The whole REPORT.md text.

    Args:
        results: the loaded results folder.
        plots: the figures drawn (for links and notes).
        fig_dir: where the figures were saved (links are relative to the report).
        report_path: where the report will be written (default the folder's ``StoreLayout.report``).
        paper_names: our dataset key -> paper dataset name (default :data:`PAPER_NAMES`).
    """
    paper_names = PAPER_NAMES if paper_names is None else paper_names
    report_dir = (report_path or StoreLayout(results.folder).report).parent
    profiles = sorted(set(results.scores["profile"].dropna().astype(str))) if "profile" in results.scores \
        else []
    studied = ", ".join(f"{d} / {TARGET_NAMES.get(t, t)}" for d, t in pairs(results)) or "none"
    intro = [
        "# lessdata report", "",
        f"Results folder `{results.folder}`; profile(s): {', '.join(profiles) or 'unknown'}; "
        f"datasets / targets: {studied}. Written by `codes/make_figures.py` from the results tables "
        f"only (no model is refitted); {len(results.scores):,} score rows.", "",
        f"RMSE is in {' and '.join(f'{UNITS[t]} for {TARGET_NAMES[t]} (`{t}`)' for t in UNITS)}. Shares are "
        f"of the training pool ({_POOL_SHARE} of the cleaned data, OOD sets excluded).", "",
        section_headline(results, paper_names)]
    sections = [
        "\n".join(intro),
        section_paper(results, paper_names),
        section_anchor(results),
        section_datasets(results),
        section_full_data(results, paper_names),
        section_within(results, paper_names),
        section_unused(results),
        section_ood(results, paper_names),
        section_active(results),
        section_selectors(results),
        section_redundancy(results),
        section_times(results),
        section_figures(plots, fig_dir, report_dir),
    ]
    if "model" in results.scores and results.scores["model"].isin(STRUCTURE_MODELS).any():
        sections.insert(-1, ALIGNN_DIFFERENCES)  # before the figure links
    return "\n\n".join(section for section in sections if section) + "\n"
