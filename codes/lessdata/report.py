"""REPORT.md: the study's numbers from one results folder, beside the paper's.

:func:`build_report` writes the report from the tables the figures use, with the engine's summaries
(:mod:`lessdata.analysis`); ``make_figures.py`` (:func:`lessdata.cli.make_figures_main`) calls it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lessdata import config, selectors
from lessdata import io as lio
from lessdata.analysis import ALPHA, COMPARE_AT, MATCH_TOLERANCE, WITHIN, ood_ratios, summarize
from lessdata.datasets import PAPER_NAMES, TARGET_NAMES, UNITS
from lessdata.evaluate import STRUCTURE_MODELS
from lessdata.figures import (
    PlotResult,
    Results,
    comparison_methods,
    model_style,
)
from lessdata.intervals import MIN_SPLITS_TO_RESAMPLE, full_data_rows
from lessdata.reference import (
    AL_NOTES,
    ANCHOR_TOLERANCE,
    AUTHORS_BANDGAP,
    AUTHORS_FULL,
    AUTHORS_ON_MP18_COMP,
    AUTHORS_PRUNING,
    AUTHORS_WITHIN_10,
    PAPER_AL,
    PAPER_FULL_RMSE,
    PAPER_OOD_RATIO,
    PAPER_WITHIN_10,
)
from lessdata.splits import given_split_label, read_id_list
from lessdata.store import StoreLayout

#: Why our numbers differ from the paper's for a corresponding dataset.
DIFFERENCES: dict[str, str] = {
    "mp18_comp": (
        "`mp18_comp` is the paper's MP18 snapshot (Materials Project 2018.6.1 as packaged for MEGNet) "
        "restricted to the entries with a formula in matminer's table (47,483 of 69,239), and it is "
        "**composition-only**: the models see the 145 compositional features, not the paper's 273 "
        "(128 structural + 145 compositional). Polymorphs of one formula are identical to the model, "
        "so its errors are larger than the paper's (paper, MP18: XGB 0.121, RF 0.160 eV/atom), "
        "redundancy is measured among compositions, and ALIGNN cannot be trained. The OOD set is the "
        "newest-ids proxy (a temporal split inside MP18), not MP21's new entries, so OOD/ID ratios are "
        "not comparable to the paper's ~4–7×."),
    "mp18": ("`mp18` is the paper's own featurized MP18 file (273 features); differences come from the "
             "run profile and seeds only."),
    "jarvis": ("`jarvis` is the paper's own featurized JARVIS18 file; differences come from the run "
               "profile and seeds only."),
    "oqmd1.0": ("`oqmd1.0` is the paper's own featurized OQMD14 file; differences come from the run "
                "profile and seeds only."),
}

#: What still differs from the authors' ALIGNN (see ``lessdata.alignn_model``); shown when a results
#: folder has ALIGNN rows, because it bears on every ALIGNN number beside the paper's.
ALIGNN_DIFFERENCES = """## ALIGNN against the authors' setup

Model `alignn` trains as the authors did: on every row of the training set for 50 epochs, keeping the last
epoch's weights (batch 32, AdamW lr 1e-3, weight decay 1e-5, one-cycle schedule, MSE loss, seed 123).
Model `alignn_es` is our early-stopping variant: 10 % of each training set is held out to keep the
best-validation epoch, so a fraction p trains on 0.9 p. What still differs from the authors' ALIGNN:

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
  above."""

#: The authors' own ID hold-out of mp18_comp (4,749 mp-ids), in a clone only.
AUTHORS_SPLIT_FILE = config.REPO_ROOT / "data" / "mp18_comp_authors_test_ids.txt"


def authors_split_label() -> str | None:
    """The ``split`` label that the authors' hold-out of mp18_comp gets (None if the file is missing)."""
    if not AUTHORS_SPLIT_FILE.is_file():
        return None
    return given_split_label(read_id_list(AUTHORS_SPLIT_FILE))


def section_anchor(results: Results) -> str:
    """Ours beside the authors' code on the same data and split, relative to each run's full-data RMSE.

    Only for mp18_comp e_form on the authors' own hold-out; each point is compared as RMSE / full-data
    RMSE of the same run (the split moves the full-data value by ~10 %, so absolute values differ) and
    called "inside" when ours is within ±15 % of theirs.
    """
    label = authors_split_label()
    bands = results.bands
    if label is None or bands is None or bands.empty or "split" in results.scores and not (
            results.scores["split"] == label).any():
        return ""
    here = bands[(bands["dataset"] == "mp18_comp") & (bands["target"] == "e_form")]
    if here.empty:
        return ""
    rows = []
    for (curve, model), points in AUTHORS_ON_MP18_COMP.items():
        ours_curve = "random" if curve == "random_al" else curve
        mine = here[(here["curve"] == ours_curve) & (here["model"] == model)]
        full = here[(here["curve"] == "random") & (here["model"] == model) & (here["train_frac"] >= 1.0)]
        if mine.empty or full.empty:
            continue
        full_ours, full_theirs = float(full["point"].iloc[0]), AUTHORS_ON_MP18_COMP[("random", model)][1.0]
        for fraction, theirs in points.items():
            if fraction >= 1.0:
                continue
            distance = (mine["train_frac"] - fraction).abs()
            if distance.min() > MATCH_TOLERANCE * fraction:
                continue
            point = mine.loc[distance.idxmin()]
            ratio_ours, ratio_theirs = point["point"] / full_ours, theirs / full_theirs
            gap = ratio_ours / ratio_theirs - 1
            rows.append({"curve": _curve_label(curve.replace("random_al", "random"), model)
                         + AL_NOTES.get(curve, ""),
                         "share of pool": fmt_pct(fraction), "ours at": fmt_pct(float(point["train_frac"])),
                         "authors' code": fmt_num(theirs),
                         "ours [95 %]": fmt_interval(point["point"], point["lo"], point["hi"]),
                         "÷ full: authors / ours": f"{ratio_theirs:.3f} / {ratio_ours:.3f}",
                         "gap": f"{100 * gap:+.1f} %",
                         "within ±15 %": "yes" if abs(gap) <= ANCHOR_TOLERANCE else "**no**"})
    if not rows:
        return ""
    within = []
    summary = _summary_of(results, "e_form")
    for (curve, model), theirs in AUTHORS_WITHIN_10.items():
        match = (summary[(summary["curve"] == curve) & (summary["model"] == model)] if len(summary)
                 else summary)
        ours = fmt_within(match.iloc[0], "rmse") if len(match) else "not run"
        within.append({"curve": _curve_label(curve, model), "model": model_style(model).label,
                       "authors' code": theirs, "ours [95 %]": ours})
    facts = _anchor_facts(results, label, summary)
    explained = _within_explained(here, summary)
    return "\n".join([
        "## Beside the authors' code on this data", "",
        "The authors' code, run unchanged on mp18_comp e_form with their own 90/10 split (the same 4,749 "
        "test entries as here: `data/mp18_comp_authors_test_ids.txt`), paper models on 2 CPU cores. "
        "Each RMSE is compared relative to its own run's full-data RMSE (ours: random subsets at 100 %, "
        "mean over seeds; theirs 0.145 eV/atom); \"ours at\" is the evaluated fraction used (a pruned "
        "set is the retained set of the round that reached the share). Target: within ±15 %.", "",
        md_table(pd.DataFrame(rows)), "",
        "Smallest share of the pool within 10 % of the full-data RMSE:", "", md_table(pd.DataFrame(within)),
        *explained, *facts, *_bandgap_anchor(results)])


def _summary_of(results: Results, target: str) -> pd.DataFrame:
    """The interval summary rows of mp18_comp ``target`` (a folder may hold both targets)."""
    summary = results.intervals
    if summary is None or summary.empty:
        return pd.DataFrame()
    return summary[(summary["dataset"] == "mp18_comp") & (summary["target"] == target)]


def _bandgap_anchor(results: Results) -> list[str]:
    """Band gap beside the authors' code: full-data XGB RMSE, pruning rounds, the within-10 % share."""
    summary = _summary_of(results, "bandgap")
    if summary.empty:
        return []
    rows = []
    full = summary[summary["model"] == "xgb"]
    if len(full) and np.isfinite(full.iloc[0]["full_rmse"]):
        first = full.iloc[0]
        rows.append({"quantity": "full-data XGB RMSE (eV)",
                     "authors' code": fmt_num(AUTHORS_BANDGAP["full_rmse"]),
                     "ours [95 %]": fmt_interval(first["full_rmse"], first["full_rmse_lo"],
                                                 first["full_rmse_hi"])})
    rounds = results.prune_rounds.get(("mp18_comp", "bandgap", "xgb"))
    if rounds is not None and len(rounds):
        rows.append({"quantity": "XGB-guided pruning: rounds",
                     "authors' code": str(AUTHORS_BANDGAP["rounds"]), "ours [95 %]": str(len(rounds))})
    pruned = summary[(summary["curve"] == "prune:xgb") & (summary["model"] == "xgb")]
    if len(pruned):
        rows.append({"quantity": "XGB-pruned sets: smallest share within 10 % of the full-data RMSE",
                     "authors' code": AUTHORS_BANDGAP["within10"],
                     "ours [95 %]": fmt_within(pruned.iloc[0], "rmse")})
    if not rows:
        return []
    return ["", "Band gap (the same table and split; the authors ran XGB-guided pruning only):", "",
            md_table(pd.DataFrame(rows))]


def _anchor_facts(results: Results, label: str, summary: pd.DataFrame) -> list[str]:
    """The protocol's own numbers beside the authors': full-data errors, threshold, rounds, unused pool."""
    rows = []
    for (model, metric), theirs in AUTHORS_FULL.items():
        match = summary[summary["model"] == model] if len(summary) else summary
        if len(match) and f"full_{metric}" in match:
            first = match.iloc[0]
            name = f"full_{metric}"
            ours = fmt_interval(first[name], first[f"{name}_lo"], first[f"{name}_hi"])
            rows.append({"quantity": f"full-data {model_style(model).label} {metric.upper()}",
                         "authors' code": fmt_num(theirs), "ours [95 %]": ours})
    layout = StoreLayout(results.folder)
    threshold_file = layout.pruning_threshold(layout.pruning_name("mp18_comp", "e_form", label, "xgb"))
    if threshold_file.is_file():
        rows.append({"quantity": "pruning threshold (half the full-data MAE)",
                     "authors' code": fmt_num(AUTHORS_PRUNING["threshold"]),
                     "ours [95 %]": fmt_num(float(lio.read_json(threshold_file)["threshold"]))})
    rounds = results.prune_rounds.get(("mp18_comp", "e_form", "xgb"))
    if rounds is not None and len(rounds):
        retained = rounds["fraction_before"].tolist()
        rows.append({"quantity": "XGB-guided pruning: rounds",
                     "authors' code": str(AUTHORS_PRUNING["rounds"]), "ours [95 %]": str(len(rounds))})
        shown = len(AUTHORS_PRUNING["retained"])
        rows.append({"quantity": f"retained share before rounds 0–{shown - 1}",
                     "authors' code": " ".join(f"{v:.3f}" for v in AUTHORS_PRUNING["retained"]),
                     "ours [95 %]": " ".join(f"{v:.3f}" for v in retained[:shown])})
    scores = results.scores
    unused = scores[(scores["eval_set"] == "unused") & (scores["method"] == "prune")
                    & (scores["selector"] == "xgb") & (scores["model"] == "xgb")
                    & (scores["dataset"] == "mp18_comp") & (scores["target"] == "e_form")
                    & (scores.get("split", label) == label)]
    if len(unused):
        nearest = unused.loc[(unused["train_frac"] - 0.2).abs().idxmin()]
        rows.append({"quantity": "unused-pool RMSE, XGB-pruned set at 20 % "
                                 f"(ours at {fmt_pct(nearest['train_frac'])})",
                     "authors' code": fmt_num(AUTHORS_PRUNING["unused_rmse_at_20"]),
                     "ours [95 %]": fmt_num(float(nearest["rmse"]))})
    if not rows:
        return []
    return ["", "The protocol's own numbers (the unused-pool RMSE has no interval: each pruned set leaves "
            "a different pool):", "",
            md_table(pd.DataFrame(rows))]


def _within_explained(bands: pd.DataFrame, summary: pd.DataFrame) -> list[str]:
    """Why a within-10 % share of the authors' run falls outside our interval, where one does.

    The share is where a curve crosses 1.1 × its full-data RMSE.  Where the curve is flat there, a small
    relative difference moves the crossing far: the shift is about (authors' RMSE ÷ full − ours, at
    their point nearest the crossing) / (slope of our RMSE ÷ full per unit of pool share between the two
    crossings), both measured.
    """
    lines = []
    for (curve, model), theirs in AUTHORS_WITHIN_10.items():
        match = (summary[(summary["curve"] == curve) & (summary["model"] == model)] if len(summary)
                 else summary)
        points = AUTHORS_ON_MP18_COMP.get((curve, model), {})
        below = [f for f in points if f < 1.0]
        if not len(match) or not below or 1.0 not in points:
            continue
        row = match.iloc[0]
        theirs_frac = float(theirs.rstrip(" %")) / 100
        lo, hi, point = row["within10_rmse_lo"], row["within10_rmse_hi"], row["within10_rmse"]
        if not (np.isfinite(lo) and np.isfinite(hi) and np.isfinite(point)) or lo <= theirs_frac <= hi:
            continue
        mine = bands[(bands["curve"] == curve) & (bands["model"] == model)].sort_values("train_frac")
        # Each run's full-data RMSE, as in the table above: random subsets at 100 % (mean over seeds).
        full = bands[(bands["curve"] == "random") & (bands["model"] == model) & (bands["train_frac"] >= 1.0)]
        evaluated = mine.loc[mine["train_frac"] < 1.0, "train_frac"].to_numpy()
        anchor = min(below, key=lambda f: abs(f - theirs_frac))  # the authors' point nearest the crossing
        low, high = min(point, theirs_frac, anchor), max(point, theirs_frac, anchor)
        # Our evaluated fractions spanning both crossings: from the last at or below to the first above.
        if evaluated.size < 2:
            continue
        at_or_below, at_or_above = evaluated[evaluated <= low + 1e-9], evaluated[evaluated >= high - 1e-9]
        start = at_or_below.max() if at_or_below.size else evaluated.min()
        end = at_or_above.min() if at_or_above.size else evaluated.max()
        span = mine[(mine["train_frac"] >= start - 1e-9) & (mine["train_frac"] <= end + 1e-9)
                    & (mine["train_frac"] < 1.0)]
        nearest = (mine["train_frac"] - anchor).abs()
        if full.empty or len(span) < 2 or nearest.min() > MATCH_TOLERANCE * anchor:
            continue
        reference = float(full["point"].iloc[0])
        slope = -np.polyfit(span["train_frac"], span["point"] / reference, 1)[0]
        ours_at = float(mine.loc[nearest.idxmin(), "point"]) / reference
        theirs_at = points[anchor] / points[1.0]
        verdict = "inside" if abs(ours_at / theirs_at - 1) <= ANCHOR_TOLERANCE else "outside"
        shift, gap = (theirs_at - ours_at) / slope, theirs_frac - point
        text = (f"- {_curve_label(curve, model)} ({model_style(model).label}): the authors' {theirs} lies "
                f"outside our {fmt_within(row, 'rmse')}. Between {fmt_pct(float(span['train_frac'].min()))} "
                f"and {fmt_pct(float(span['train_frac'].max()))} our RMSE ÷ full falls by "
                f"{0.1 * slope:.3f} per 10 points of the pool; at {fmt_pct(anchor)} the authors' curve lies "
                f"{theirs_at - ours_at:+.3f} from ours ({theirs_at:.3f} vs {ours_at:.3f}, {verdict} the "
                f"±15 % target), which moves the crossing by about {100 * shift:+.1f} of the "
                f"{100 * gap:+.1f} points.")
        if gap and shift / gap >= 0.5:
            text += (" The curve is flat there, so a small difference in RMSE moves the crossing far: the "
                     "curve itself is the comparison that holds.")
        else:
            text += (" The curves agree where both were evaluated; the rest lies in how each run reads the "
                     "crossing off its evaluated shares and in the training randomness, which our interval "
                     "leaves out (it resamples the test set; `benchmarks/bench_paper_cost.py --parts eval` "
                     "measures the XGB seed's share).")
        lines.append(text)
    if not lines:
        return []
    return ["", "Where a within-10 % share of the authors' run falls outside our interval:", "", *lines]


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


# --------------------------------------------------------------------------------------------------
# Formatting.
# --------------------------------------------------------------------------------------------------
def fmt_num(value: Any, digits: int = 3) -> str:
    """A number for a Markdown table: ``digits`` decimals, "—" for missing."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    return f"{float(value):.{digits}f}"


def fmt_pct(fraction: Any, digits: int = 1) -> str:
    """A fraction of the pool as a percentage ("12.3 %"), "—" for missing."""
    if fraction is None or not np.isfinite(fraction):
        return "—"
    return f"{100 * float(fraction):.{digits + 2}g} %"


def md_table(frame: pd.DataFrame) -> str:
    """A Markdown pipe table of already formatted values (``|`` in cells escaped)."""
    if frame.empty:
        return "_(no rows)_"

    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")
    header = "| " + " | ".join(cell(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def method_label(method: str, selector: str, model: str | None = None) -> str:
    """"random", "pruned (XGB-guided)", "QBC" ... for tables."""
    if method == "prune":
        guide = model_style(selector).label if selector else "?"
        transfer = " (transfer)" if model is not None and selector != model else ""
        return f"pruned, {guide}-guided{transfer}"
    record = selectors.find(method)
    return record.style.short if record is not None and record.style.short else method


def unit(target: str) -> str:
    """Unit of a target's RMSE ("eV/atom", "eV", or "target units")."""
    return UNITS.get(target, "target units")


# --------------------------------------------------------------------------------------------------
# Sections.
# --------------------------------------------------------------------------------------------------
def _pairs(results: Results) -> list[tuple[str, str]]:
    scores = results.scores
    return sorted(set(zip(scores["dataset"].astype(str), scores["target"].astype(str), strict=True)))


def _latest_manifest_data(results: Results) -> dict[tuple[str, str], dict[str, Any]]:
    """The newest manifest's ``data`` block per (dataset, target)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for manifest in results.manifests:
        data = manifest.get("data") or {}
        if data.get("dataset") and data.get("target"):
            found[(str(data["dataset"]), str(data["target"]))] = data
    return found


def section_datasets(results: Results) -> str:
    """Dataset sizes, cleaning counts (every rule, from the manifests' provenance) and split sizes."""
    blocks = _latest_manifest_data(results)
    rows = []
    for (dataset, target) in _pairs(results):
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
            "provenance) and the split sizes (pool 90 % / ID test 10 %, OOD sets taken out first).", "",
            md_table(pd.DataFrame(rows))]
    return "\n".join(text)


def _full_rows(scores: pd.DataFrame) -> pd.DataFrame:
    """Full-pool ID-test rows used for the full-data RMSE (:func:`lessdata.intervals.full_data_rows`)."""
    rows = scores[scores["eval_set"] == "id_test"]
    keep = [full_data_rows(group) for _, group in rows.groupby(["dataset", "target", "model"])]
    return pd.concat(keep) if keep else rows.iloc[:0]


def section_full_data(results: Results, paper_names: dict[str, str]) -> str:
    """Full-data ID-test RMSE (and MAE, R²) per model, with the paper's value where it corresponds."""
    full = _full_rows(results.scores)
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


def _al_reach(scores: pd.DataFrame) -> dict[tuple[str, str, str], float]:
    """Largest training fraction of each (dataset, target, method) curve (where AL stopped)."""
    frame = scores[scores["eval_set"] == "id_test"]
    return {key: float(value) for key, value in
            frame.groupby(["dataset", "target", "method"])["train_frac"].max().items()}


def within_table(results: Results, paper_names: dict[str, str]) -> pd.DataFrame:
    """Smallest share of the pool within 5/10/20 % of full-data RMSE per model and method (formatted)."""
    summary = summarize(results.scores)
    if summary.empty:
        return pd.DataFrame()
    reach = _al_reach(results.scores)
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
    ood = ratios[ratios["eval_set"].astype(str).str.startswith("ood_")] if not ratios.empty else ratios
    parts = ["## Out-of-distribution accuracy", ""]
    if ood.empty:
        parts.append("_No OOD scores (no OOD set was defined for these runs)._")
    else:
        full = _full_rows(scores)
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
            rows.append({"dataset": dataset, "target": target, "OOD set": eval_set.removeprefix("ood_"),
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


#: Training fractions at which the comparison of selectors reports errors and differences.
SELECTOR_FRACTIONS = (0.05, 0.1, 0.25)
#: Fraction of the OOD / ID ratio and of the cost columns in the comparison of selectors.
SELECTOR_SIZE = 0.25


def selection_cost(results: Results, dataset: str, target: str, method: str, model: str,
                   upto: float = SELECTOR_SIZE) -> tuple[float, float]:
    """(seconds, model fits) it takes to choose a method's training set of ``upto`` of the pool.

    Random: nothing.  Pruning: its rounds (one guide fit each).  A subset sampler: its stored seconds
    (mean over seeds), plus the pruning it reads.  Active learning: the query time and the fits of
    every step before ``upto`` (mean over seeds).
    """
    kind = selectors.kind_of(method)
    rounds = results.prune_rounds.get((dataset, target, model))
    prune_cost = ((float(rounds["seconds"].sum()), float(len(rounds))) if rounds is not None
                  else (float("nan"), float("nan")))
    if kind == "baseline":
        return 0.0, 0.0
    if kind == "pruning":
        return prune_cost
    if kind == "subset":
        layout = StoreLayout(results.folder)
        seconds = []
        for path in sorted(layout.selections_dir.glob(f"subset_{method}_*{dataset}_{target}_*.json")):
            saved = lio.read_json(path)
            if saved.get("method") == method:
                seconds.append(float(saved.get("seconds", float("nan"))))
        own = float(np.mean(seconds)) if seconds else float("nan")
        if selectors.get(method).needs_pruning:
            return own + prune_cost[0], prune_cost[1]
        return own, 0.0
    diagnostics = results.diagnostics
    if diagnostics.empty:
        return float("nan"), float("nan")
    steps = diagnostics[(diagnostics["dataset"] == dataset) & (diagnostics["target"] == target)
                        & (diagnostics["strategy"] == method) & (diagnostics["train_frac"] < upto - 1e-9)]
    if steps.empty:
        return float("nan"), float("nan")
    per_seed = steps.groupby("seed")
    seconds = per_seed[["query_seconds", "query_fit_seconds"]].sum().sum(axis=1).mean()
    models = max(1, len(selectors.models_of(method)))
    return float(seconds), float(per_seed.size().mean() * models)


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
                         & ratios["eval_set"].astype(str).str.startswith("ood_")] if len(ratios) else ratios
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
    datasets = sorted({d for d, _ in _pairs(results)})
    matched = [d for d in datasets if d in paper_names]
    lines = ["## Beside the paper", ""]
    if not matched:
        lines.append("None of these datasets is one of the paper's, so no paper numbers are shown. The "
                     "paper's (read from its figures): full-data RMSE of XGB 0.121 eV/atom (MP18 e_form) "
                     "to 0.097 (OQMD14); pruned sets within 10 % at ~13–25 % of the pool, random at "
                     "~45–90 %.")
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
    reach = _al_reach(results.scores)
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


def _curve_label(curve: str, model: str) -> str:
    method, _, selector = curve.partition(":")
    return method_label(method, selector, model)


def fmt_interval(point: float, lo: float, hi: float, digits: int = 3) -> str:
    """``0.162 [0.150, 0.175]``; an infinite bound (never reached in some resamples) shows as "> max"."""
    if not np.isfinite(point) and not (np.isfinite(lo) or np.isfinite(hi)):
        return "—"
    return f"{fmt_num(point, digits)} [{fmt_num(lo, digits)}, {fmt_num(hi, digits)}]"


def fmt_within(row: pd.Series, metric: str) -> str:
    """The smallest fraction within 10 % as ``35 % [28–45 %]``; "> X %" where it is not reached by the
    largest evaluated subset X in the point estimate (or in part of the resamples: upper bound "> X %")."""
    name = f"within{int(round(WITHIN * 100))}_{metric}"
    point, lo, hi = row[name], row[f"{name}_lo"], row[f"{name}_hi"]
    largest = fmt_pct(row["max_frac"]) if 0 < row["max_frac"] < 1 else "the largest subset"
    if not np.isfinite(point):
        return f"> {largest}"
    upper = fmt_pct(hi) if np.isfinite(hi) else f"> {largest}"
    return f"{fmt_pct(point)} [{fmt_pct(lo)}–{upper}]"


def _one_seed_caveat(series: pd.Series) -> str:
    """A warning where a curve rests on one training run somewhere: its interval resamples the test set
    only, and a campaign's or a pruning run's path moves more between seeds than that interval shows
    (``benchmarks/results/bench_fidelity.md``, "QBC / random per AL seed"), so nothing is called."""
    if series.get("n_seeds") != 1:
        return ""
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
                        + f" ({series['diff_rmse@0.3_verdict']})")
            rows.append({"dataset": dataset, "target": target, "model": model_style(model).label,
                         "selection": _curve_label(series["curve"], model),
                         "splits": int(series["n_splits"]),
                         "≤ +10 % RMSE": fmt_within(series, "rmse"), "≤ +10 % MAE": fmt_within(series, "mae"),
                         "Δ RMSE vs random at 30 %": at30})
        paper_text = f" (paper {paper_value}, {paper})" if paper_value else ""
        statements.append(f"- **{dataset} / {TARGET_NAMES.get(target, target)}, "
                          f"{model_style(model).label}**: full data {full}{paper_text}.")
        others = ranked[ranked["curve"] != "random"].sort_values(["_o", "curve"])
        for series in (pd.Series(r) for r in others.to_dict("records")):
            label = _curve_label(series["curve"], model)
            resolved, unresolved = [], []
            for fraction in COMPARE_AT:
                for metric in ("rmse", "mae"):
                    name = f"diff_{metric}@{fraction:g}"
                    if name not in series or not np.isfinite(series[name]):
                        continue
                    text = (f"{metric.upper()} {fmt_pct(fraction)}: {fmt_num(series[name])} "
                            f"[{fmt_num(series[f'{name}_lo'])}, {fmt_num(series[f'{name}_hi'])}]")
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
    return (f"A method is called better or worse than random only where Holm's adjustment over this "
            f"report's family of {size} comparisons (every curve × model × "
            f"{', '.join(fmt_pct(f) for f in COMPARE_AT)} × RMSE and MAE, against random subsets) leaves "
            f"p < {ALPHA:g}; `summary.csv` holds the unadjusted and adjusted p-values. A curve resting on "
            "one run (one seed, one split) is not called.")


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
        "Monte Carlo error of it). " + _family_sentence(summary), "", md_table(table), "",
        "What the intervals support (difference = method − random; negative = lower error):", "",
        *statements])


def build_report(results: Results, plots: Sequence[PlotResult] = (), *, fig_dir: Path | None = None,
                 report_path: Path | None = None, paper_names: dict[str, str] | None = None) -> str:
    """The whole REPORT.md text.

    Args:
        results: the loaded results folder.
        plots: the figures drawn (for links and notes).
        fig_dir: where the figures were saved (links are relative to the report).
        report_path: where the report will be written (default ``results.folder / "REPORT.md"``).
        paper_names: our dataset key -> paper dataset name (default :data:`PAPER_NAMES`).
    """
    paper_names = PAPER_NAMES if paper_names is None else paper_names
    report_dir = (report_path or results.folder / "REPORT.md").parent
    profiles = sorted(set(results.scores["profile"].dropna().astype(str))) if "profile" in results.scores \
        else []
    pairs = ", ".join(f"{d} / {TARGET_NAMES.get(t, t)}" for d, t in _pairs(results)) or "none"
    intro = [
        "# lessdata report", "",
        f"Results folder `{results.folder}`; profile(s): {', '.join(profiles) or 'unknown'}; "
        f"datasets / targets: {pairs}. Written by `codes/make_figures.py` from the results tables "
        f"only (no model is refitted); {len(results.scores):,} score rows.", "",
        "RMSE is in eV/atom for formation energy (`e_form`) and eV for band gap (`bandgap`). Shares are "
        "of the training pool (90 % of the cleaned data, OOD sets excluded).", "",
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
