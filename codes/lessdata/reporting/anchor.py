"""The report's comparison with the authors' own code run on mp18_comp: their numbers beside ours.

Each RMSE is divided by its own run's full-data RMSE before comparing (the split moves the absolute
values), and where one of their within-10 % shares falls outside our interval the section explains how
far a small RMSE difference moves the crossing on a flat curve.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lessdata import config
from lessdata import files as lio
from lessdata.analysis.reference import (
    AL_NOTES,
    ANCHOR_TOLERANCE,
    AUTHORS_BANDGAP,
    AUTHORS_FULL,
    AUTHORS_ON_MP18_COMP,
    AUTHORS_PRUNING,
    AUTHORS_WITHIN_10,
)
from lessdata.analysis.results import Results
from lessdata.analysis.summary import MATCH_TOLERANCE
from lessdata.data.datasets import UNITS
from lessdata.experiments.store import StoreLayout
from lessdata.reporting.formatting import (
    curve_label,
    fmt_interval,
    fmt_num,
    fmt_pct,
    fmt_within,
    md_table,
)
from lessdata.reporting.styles import model_style
from lessdata.splits.holdout import given_split_label, read_id_list

#: How the report writes the tolerance of the comparison with the authors' code, and the split shares.
_TOLERANCE = f"±{ANCHOR_TOLERANCE * 100:g} %"



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
            rows.append({"curve": curve_label(curve.replace("random_al", "random"), model)
                         + AL_NOTES.get(curve, ""),
                         "share of pool": fmt_pct(fraction), "ours at": fmt_pct(float(point["train_frac"])),
                         "authors' code": fmt_num(theirs),
                         "ours [95 %]": fmt_interval(point["point"], point["lo"], point["hi"]),
                         "÷ full: authors / ours": f"{ratio_theirs:.3f} / {ratio_ours:.3f}",
                         "gap": f"{100 * gap:+.1f} %",
                         f"within {_TOLERANCE}": "yes" if abs(gap) <= ANCHOR_TOLERANCE else "**no**"})
    if not rows:
        return ""
    within = []
    summary = _summary_of(results, "e_form")
    for (curve, model), theirs in AUTHORS_WITHIN_10.items():
        match = (summary[(summary["curve"] == curve) & (summary["model"] == model)] if len(summary)
                 else summary)
        ours = fmt_within(match.iloc[0], "rmse") if len(match) else "not run"
        within.append({"curve": curve_label(curve, model), "model": model_style(model).label,
                       "authors' code": theirs, "ours [95 %]": ours})
    facts = _anchor_facts(results, label, summary)
    explained = _within_explained(here, summary)
    return "\n".join([
        "## Beside the authors' code on this data", "",
        "The authors' code, run unchanged on mp18_comp e_form with their own 90/10 split (the same 4,749 "
        "test entries as here: `data/mp18_comp_authors_test_ids.txt`), paper models on 2 CPU cores. "
        "Each RMSE is compared relative to its own run's full-data RMSE (ours: random subsets at 100 %, "
        f"mean over seeds; theirs {AUTHORS_FULL[('xgb', 'rmse')]:.3f} {UNITS['e_form']}); \"ours at\" is the "
        "evaluated fraction used (a pruned "
        f"set is the retained set of the round that reached the share). Target: within {_TOLERANCE}.", "",
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
        text = (f"- {curve_label(curve, model)} ({model_style(model).label}): the authors' {theirs} lies "
                f"outside our {fmt_within(row, 'rmse')}. Between {fmt_pct(float(span['train_frac'].min()))} "
                f"and {fmt_pct(float(span['train_frac'].max()))} our RMSE ÷ full falls by "
                f"{0.1 * slope:.3f} per 10 points of the pool; at {fmt_pct(anchor)} the authors' curve lies "
                f"{theirs_at - ours_at:+.3f} from ours ({theirs_at:.3f} vs {ours_at:.3f}, {verdict} the "
                f"{_TOLERANCE} target), which moves the crossing by about {100 * shift:+.1f} of the "
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
