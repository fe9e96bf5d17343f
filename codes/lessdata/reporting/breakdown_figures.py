"""Figures (e)-(g): where the redundant data lies, the active-learning steps' diagnostics, and the
selectors beyond the study compared with it.

They share the drawing helpers and the encoding of :mod:`lessdata.reporting.figures`, which draws the
learning curves (a)-(d) and saves every figure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import NullFormatter

from lessdata.analysis.summary import WITHIN
from lessdata.data.datasets import TARGET_NAMES
from lessdata.reporting.figures import (
    PlotResult,
    empty,
    finish,
    full_data_rmse,
    grid_figure,
    line_kwargs,
    new_figure,
    ood_label,
    order_methods,
    order_models,
    panel_keys,
    panel_title,
    percent_axis,
    plot_line,
    rmse_label,
    seed_stats,
)
from lessdata.reporting.styles import (
    PANEL_SIZE,
    RC,
    SELECTOR_COLORS,
    STUDY_GREYS,
    method_style,
    model_style,
)
from lessdata.selection import registry as selectors
from lessdata.selection.registry import comparison_methods
from lessdata.splits.holdout import is_ood


# --------------------------------------------------------------------------------------------------
# (e) where the redundant data lies.
# --------------------------------------------------------------------------------------------------
def _enrichment_bars(ax: Axes, records: list[dict[str, Any]], panel: int, table: pd.DataFrame, group: str,
                     labels: list[str], color: str, identity: dict[str, Any], gid: str, *,
                     horizontal: bool) -> None:
    """Bars of a redundancy table's enrichment, growing from 1 (no difference) on a log axis.

    Tick labels carry the group's entry count: an enrichment of 3 entries is noise, one of 300 is not.
    Only groups whose enrichment is more than chance (``significant``: BH q < 0.05) get the guide's
    colour; the others are drawn light grey and hatched, so the eye is not caught by a ratio that a
    different random split would not reproduce.  Tables without the column (written before it existed)
    are drawn in colour throughout.
    """
    positions = np.arange(len(table))
    values = table["enrichment"].to_numpy(dtype=float)
    significant = (table["significant"].astype(str).str.lower().isin(["true", "1"]).to_numpy()
                   if "significant" in table else np.ones(len(table), dtype=bool))
    q_values = (table["q_value"].to_numpy(dtype=float) if "q_value" in table
                else np.full(len(table), np.nan))
    ticks = [f"{label} ({_count(n)})" if horizontal else f"{label}\n{_count(n)}"
             for label, n in zip(labels, table["n_total"], strict=True)]
    if horizontal:
        bars = ax.barh(positions, values - 1.0, left=1.0, color=color, height=0.7)
        ax.set_yticks(positions, ticks)
        ax.invert_yaxis()
        _ratio_axis(ax, table["enrichment"], axis="x")
        ax.axvline(1.0, color="0.3", linewidth=0.8)
        ax.grid(axis="y", visible=False)
    else:
        bars = ax.bar(positions, values - 1.0, bottom=1.0, color=color, width=0.7)
        ax.set_xticks(positions, ticks)
        _ratio_axis(ax, table["enrichment"], axis="y")
        ax.axhline(1.0, color="0.3", linewidth=0.8)
        ax.grid(axis="x", visible=False)
    for bar, is_significant in zip(bars, significant, strict=True):
        bar.set_gid(gid)
        if not is_significant:
            bar.set_facecolor(NOT_SIGNIFICANT_COLOR)
            bar.set_edgecolor("0.55")
            bar.set_hatch("////")
    for label, row, is_significant, q_value in zip(labels, table.itertuples(index=False), significant,
                                                   q_values, strict=True):
        records.append({"panel": panel, "gid": gid, **identity, "group": str(getattr(row, group)),
                        "label": label, "value_column": "enrichment", "y": float(row.enrichment),
                        "n": int(row.n_total), "significant": bool(is_significant),
                        "q_value": float(q_value)})



#: Face colour of figure (e)'s bars whose enrichment is not significant (q >= 0.05).
NOT_SIGNIFICANT_COLOR = "0.85"



def _count(n: int) -> str:
    """Compact entry count for tick labels (``17.9k``), so labels of neighbouring bars never collide."""
    return f"{n / 1000:.1f}k" if n >= 10_000 else f"{n:,}"



#: Round ratios to label a log axis with, by the axis span (max / min): finer for narrow ranges, so that
#: labels never collide at a column's width.
_RATIO_TICKS = ((3.2, (0.33, 0.5, 0.67, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0)),
                (10.0, (0.1, 0.25, 0.33, 0.5, 1.0, 2.0, 3.0, 4.0, 10.0)),
                (math.inf, (0.01, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 100.0)))



def _ratio_axis(ax: Axes, values: pd.Series, axis: str = "x") -> None:
    """Log axis for ratios around 1, labelled with round ratios inside the data range."""
    low = min(float(values.min()), 1.0) / 1.1
    high = max(float(values.max()), 1.0) * 1.1
    tier = next(i for i, (span, _) in enumerate(_RATIO_TICKS) if high / low <= span)
    ticks = [t for t in _RATIO_TICKS[tier][1] if low <= t <= high]
    while len(ticks) < 3 and tier > 0:  # a narrow range inside a coarse tier: use finer ticks
        tier -= 1
        ticks = [t for t in _RATIO_TICKS[tier][1] if low <= t <= high]
    if axis == "x":
        ax.set_xscale("log")
        ax.set_xlim(low, high)
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.xaxis.set_minor_formatter(NullFormatter())
    else:
        ax.set_yscale("log")
        ax.set_ylim(low, high)
        ax.set_yticks(ticks, [f"{t:g}" for t in ticks])
        ax.yaxis.set_minor_formatter(NullFormatter())



#: Group tables of figure (e) besides elements: group column, axis label, title.
_GROUP_TABLES: dict[str, tuple[str, str, str]] = {
    "n_elements": ("arity", "number of elements (entries)", "by number of elements"),
    "family_size": ("family_size", "entries per formula (entries)", "by polymorph-family size"),
    "crystal_systems": ("crystal_system", "crystal system (entries)", "by crystal system"),
}



def plot_redundancy(redundancy: dict[tuple[str, str, str], dict[str, pd.DataFrame]], *, top: int = 8,
                    min_share: float = 0.01, min_count: int = 10) -> PlotResult:
    """(e) What the pruned-away entries are, one row of panels per (dataset, target, guiding model).

    Every panel shows the *enrichment* of a group among the removed entries: its share of the removed
    entries over its share of the retained ones (> 1: pruned more than average, i.e. over-represented
    in the redundant data; log axis, bars grow from 1).  A ratio rather than "share removed" because
    pruning a large pool removes almost everything (99 % of mp18_comp), where shares removed all read
    0.99 while the ratio still separates what was kept.  Panels: (1) the elements most over- and
    under-represented, among elements in at least ``max(min_count, min_share x pool)`` entries; (2) by
    number of elements; (3) by polymorph-family size (entries sharing a reduced formula); (4) by crystal
    system when structures exist.  Bars use the guiding model's colour; tick labels give each group's
    number of entries, and groups with fewer than ``min_count`` entries are left out (noise).

    Only significant enrichments are highlighted: bars of groups whose Fisher-exact BH q-value is
    ≥ 0.05 (``significant`` false in the tables) are light grey and hatched, since with ~90 elements a
    few extreme ratios appear by chance.  Panel titles state the retained fraction of the comparison
    (``fraction`` of the summary table; the tables are written at a meaningful point, not at the end).

    Args:
        redundancy: :attr:`Results.redundancy`.
        top: elements shown at each end of the enrichment ranking.
        min_share: minimum share of the pool an element must cover to be shown.
        min_count: minimum number of entries of a shown group.
    """
    name, title = "fig_e_redundancy", "(e) where the redundant (pruned-away) data lies"
    rows_keys = [k for k in sorted(redundancy) if "elements" in redundancy[k] and "summary" in redundancy[k]]
    if not rows_keys:
        return empty(name, title, "no redundancy tables (OUT/redundancy/*_elements.csv): run "
                                   "codes/prune_data.py; figure (e) skipped")
    optional = [t for t in ("family_size", "crystal_systems") if any(t in redundancy[k] for k in rows_keys)]
    columns = ["elements", "n_elements", *optional]
    records: list[dict[str, Any]] = []
    notes: list[str] = []
    guides = order_models(k[2] for k in rows_keys)
    handles = [Patch(facecolor=model_style(g).color, label=f"pruned with {model_style(g).label}")
               for g in guides]
    handles.append(Patch(facecolor=NOT_SIGNIFICANT_COLOR, edgecolor="0.55", hatch="////",
                         label="not significant (BH q ≥ 0.05, Fisher exact)"))
    handles.append(Line2D([], [], color="0.3", linewidth=0.8,
                          label="1 = as common among removed as among kept"))
    with matplotlib.rc_context(RC):
        figure, axes = new_figure(len(rows_keys) * len(columns), len(columns), handles=handles,
                                   panel_size=(PANEL_SIZE[0], 2.9))
        for row_index, (dataset, target, guide) in enumerate(rows_keys):
            tables = redundancy[(dataset, target, guide)]
            summary = tables["summary"].iloc[0]
            n_pool, n_removed = int(summary["n_pool"]), int(summary["n_removed"])
            when = ("end of pruning" if pd.isna(summary.get("fraction")) else
                    f"F = {100 * float(summary['fraction']):.3g} %")
            color = model_style(guide).color
            identity = {"dataset": dataset, "target": target, "selector": guide}
            for column_index, table_name in enumerate(columns):
                panel = row_index * len(columns) + column_index
                ax = axes[panel]
                gid = f"e|{dataset}|{target}|{guide}|{table_name}"
                table = tables.get(table_name)
                if table is None or table.empty:
                    ax.set_axis_off()
                    ax.text(0.5, 0.5, f"no {table_name} table", ha="center", va="center",
                            transform=ax.transAxes)
                    notes.append(f"{dataset}/{target}/{guide}: no {table_name} table")
                    continue
                if table_name == "family_size":
                    table = tables["family_size_binned"]
                threshold = max(min_count, min_share * n_pool) if table_name == "elements" else min_count
                common = table[table["n_total"] >= threshold]
                finite = common[np.isfinite(common["enrichment"]) & (common["enrichment"] > 0)]
                if len(finite) < len(common):
                    notes.append(f"{dataset}/{target}/{guide}/{table_name}: {len(common) - len(finite)} "
                                 "group(s) removed entirely or kept entirely (ratio 0 or ∞) not drawn")
                if finite.empty:
                    ax.set_axis_off()
                    ax.text(0.5, 0.5, f"no {table_name} group with ≥ {threshold:.0f} entries",
                            ha="center", va="center", transform=ax.transAxes)
                    notes.append(f"{dataset}/{target}/{guide}: no {table_name} group to draw")
                    continue
                if table_name == "elements":
                    ranked = finite.sort_values(["enrichment", "element"], ascending=[False, True])
                    shown = (ranked if len(ranked) <= 2 * top else
                             pd.concat([ranked.head(top), ranked.tail(top)]))
                    _enrichment_bars(ax, records, panel, shown, "element", list(shown["element"]), color,
                                     {**identity, "table": table_name}, gid, horizontal=True)
                    if len(ranked) > 2 * top:
                        ax.axhline(top - 0.5, color="0.6", linewidth=0.6, linestyle=":")
                    ax.set_xlabel("share among removed / among kept")
                    ax.set_ylabel("element (entries)")
                    ax.set_title(f"{dataset}: {TARGET_NAMES.get(target, target)}, {guide.upper()}-pruned\n"
                                 f"{when}: elements in ≥ {threshold:.0f} entries, extremes")
                    continue
                group, xlabel, what = _GROUP_TABLES[table_name]
                shown = finite.sort_values(group) if table_name == "crystal_systems" else finite
                labels = [str(v)[:5] if table_name == "crystal_systems" else str(v) for v in shown[group]]
                _enrichment_bars(ax, records, panel, shown, group, labels, color,
                                 {**identity, "table": table_name}, gid, horizontal=False)
                ax.set_ylabel("share among removed / among kept")
                ax.set_xlabel(xlabel)
                ax.set_title(f"{guide.upper()}-pruned: {n_pool - n_removed:,} of {n_pool:,} kept "
                             f"({when})\n{what}")
    return finish(name, title, figure, records, notes)



# --------------------------------------------------------------------------------------------------
# (f) active-learning diagnostics.
# --------------------------------------------------------------------------------------------------
#: Diagnostics drawn in (f): column of ``al_diagnostics.csv``, axis label, reference value.
DIAGNOSTICS: tuple[tuple[str, str, float], ...] = (
    ("spearman_score_vs_error", "Spearman ρ, strategy score\nvs XGB |error| on unlabelled pool", 0.0),
    ("batch_to_pool_error", "XGB mean |error|:\nchosen batch / unlabelled pool", 1.0),
)



def _scorer(strategy: str, selector: str) -> str:
    """Key of the style of what produced a strategy's scores (its selector; random has none)."""
    return "" if strategy == "random" else selector



def plot_al_diagnostics(diagnostics: pd.DataFrame) -> PlotResult:
    """(f) Per-step quality of each strategy's scores, one row per dataset x target.

    Left: Spearman ρ between the strategy's scores and the true absolute errors of the step's XGB on the
    unlabelled pool (0 = ranks no better than chance).  Right: mean true error of the chosen batch over
    that of the whole unlabelled pool (1 = no better than a random batch).  Means over seeds; steps
    without a batch (the last) are left out.  Line style is the strategy's, as everywhere; the colour
    is that of the model whose output the strategy ranks by (RF for RF-U, XGB for XGB-U, black for the
    XGB-vs-RF committee, grey for random), so the curves of one panel are told apart at a glance.
    """
    name, title = "fig_f_al_diagnostics", "(f) active learning: per-step quality of the strategies' scores"
    needed = {"dataset", "target", "strategy", "seed", "train_frac", "batch_size"}
    if diagnostics.empty or not needed <= set(diagnostics.columns):
        return empty(name, title, "no active-learning diagnostics (OUT/al_diagnostics.csv): run "
                                   "codes/run_al.py; figure (f) skipped")
    frame = diagnostics[diagnostics["batch_size"] > 0]
    if "selector" not in frame:
        frame = frame.assign(selector="")
    metrics = [d for d in DIAGNOSTICS if d[0] in frame.columns]
    panels = panel_keys(frame, ["dataset", "target"])
    if not panels or not metrics:
        return empty(name, title, "al_diagnostics.csv has no step with a batch; figure (f) skipped")
    handles = []
    for strategy in order_methods(frame["strategy"].unique()):
        scorer = _scorer(strategy, str(frame.loc[frame["strategy"] == strategy, "selector"].iloc[0]))
        label = f"{selectors.short_label(strategy)} ({model_style(scorer).label})"
        handles.append(Line2D([], [], label=label, **line_kwargs(scorer, strategy)))
    records: list[dict[str, Any]] = []
    with matplotlib.rc_context(RC):
        figure, axes = new_figure(len(panels) * len(metrics), len(metrics), handles=handles)
        for row_index, (dataset, target) in enumerate(panels):
            here = frame[(frame["dataset"] == dataset) & (frame["target"] == target)]
            for column_index, (column, label, reference) in enumerate(metrics):
                panel = row_index * len(metrics) + column_index
                ax = axes[panel]
                for strategy in order_methods(here["strategy"].unique()):
                    part = here[here["strategy"] == strategy].dropna(subset=[column])
                    if part.empty:
                        continue
                    selector = str(part["selector"].iloc[0])
                    gid = f"f|{dataset}|{target}|{column}|{strategy}"
                    plot_line(ax, records, panel, gid, seed_stats(part, [], value=column),
                               _scorer(strategy, selector), strategy,
                               {"dataset": dataset, "target": target, "model": "xgb", "method": strategy,
                                "selector": selector, "eval_set": column})
                ax.axhline(reference, color="0.3", linewidth=0.8, zorder=1)
                percent_axis(ax, [r["x"] for r in records if r["panel"] == panel])
                ax.set_ylabel(label)
                ax.set_title(panel_title(dataset, target))
    return finish(name, title, figure, records, [])



# --------------------------------------------------------------------------------------------------
# (g) selectors compared.
# --------------------------------------------------------------------------------------------------
def selector_colours(shown: Sequence[str], registered: Sequence[str]) -> dict[str, str]:
    """Colour of each shown selector: its slot in the registry, so it is the same in every folder's
    figure; selectors outside the registry (a notebook's own) take the slots after the registered ones.
    """
    unregistered = [name for name in shown if name not in registered]
    slots = {name: (list(registered).index(name) if name in registered
                    else len(registered) + unregistered.index(name)) for name in shown}
    return {name: SELECTOR_COLORS[slot % len(SELECTOR_COLORS)] for name, slot in slots.items()}



def plot_selectors(scores: pd.DataFrame, *, tolerance: float = WITHIN, max_frac: float = 0.7) -> PlotResult:
    """(g) Every selector on one panel: ID-test RMSE (top) and OOD / ID-test RMSE (bottom) vs size.

    One column per dataset x target x trained model that has rows of a selector beyond the study's.
    Means over seeds; the study's methods (random, its pruning with the same model, its AL
    strategies) are grey, ours coloured, so a line below the grey ones is a gain over the paper.  The
    grey band spans the full-data RMSE to ``1 + tolerance`` times it.  The bottom row shows the first
    OOD set, at equal training size.
    """
    name, title = "fig_g_selectors", "(g) selectors compared: RMSE and OOD/ID ratio vs training-set size"
    methods = comparison_methods(scores)
    if not methods:
        return empty(name, title, "no rows of a selector beyond the study's (select_subsets.py, run_al.py "
                                   "--strategies qbc_diverse): figure (g) skipped")
    ours = scores[~scores["method"].map(selectors.is_from_paper)]
    columns = [(d, t, m) for d, t, m in panel_keys(ours, ["dataset", "target", "model"])]
    ood_sets = sorted(e for e in scores["eval_set"].unique() if is_ood(e))
    n_rows = 2 if ood_sets else 1
    ours_known = [m for m in selectors.names() if not selectors.is_from_paper(m)]
    colours = selector_colours([m for m in methods if not selectors.is_from_paper(m)], ours_known)
    greys = {m: c for m, c in zip([m for m in methods if selectors.is_from_paper(m)], STUDY_GREYS * 3,
                                  strict=False)}
    labels = {"random": "random subsets, mean of seeds"}  # no error bars here, unlike (a)
    handles = [Line2D([], [], color={**greys, **colours}[m], linestyle=method_style(m).linestyle,
                      linewidth=method_style(m).linewidth, label=labels.get(m, method_style(m).label))
               for m in methods]
    handles.append(Patch(facecolor="0.9", edgecolor="none", label=f"full data to +{tolerance:.0%}"))
    records: list[dict[str, Any]] = []
    notes: list[str] = []
    with matplotlib.rc_context(RC):
        figure, grid = grid_figure(n_rows, len(columns), handles=handles)
        for column, (dataset, target, model) in enumerate(columns):
            here = scores[(scores["dataset"] == dataset) & (scores["target"] == target)
                          & (scores["model"] == model) & (scores["train_frac"] <= max_frac)]
            for row_index in range(n_rows):
                ax = grid[row_index, column]
                panel = row_index * len(columns) + column
                eval_set = "id_test" if row_index == 0 else ood_sets[0]
                for method in methods:
                    part = here[(here["method"] == method) & (here["eval_set"].isin(["id_test", eval_set]))]
                    if method == "prune":
                        part = part[part["selector"] == model]
                    if part.empty:
                        continue
                    wide = part.pivot_table(index=["seed", "train_frac"], columns="eval_set", values="rmse")
                    if eval_set not in wide:
                        continue
                    value = wide[eval_set] if row_index == 0 else wide[eval_set] / wide["id_test"]
                    stats = value.groupby("train_frac").agg(["mean", "count"]).reset_index()
                    gid = f"g|{dataset}|{target}|{model}|{eval_set}|{method}"
                    (line,) = ax.plot(100.0 * stats["train_frac"], stats["mean"],
                                      color={**greys, **colours}[method],
                                      linestyle=method_style(method).linestyle,
                                      linewidth=method_style(method).linewidth,
                                      zorder=3.0 if method in colours else 2.0)
                    line.set_gid(gid)
                    for point in stats.itertuples(index=False):
                        records.append({"panel": panel, "gid": gid, "dataset": dataset, "target": target,
                                        "model": model, "method": method, "eval_set": eval_set,
                                        "quantity": "rmse" if row_index == 0 else "ratio_to_id",
                                        "train_frac": float(point.train_frac),
                                        "x": 100.0 * float(point.train_frac), "y": float(point.mean),
                                        "n": int(point.count)})
                if row_index == 0:
                    full = full_data_rmse(scores, dataset, target, model)
                    if np.isfinite(full):
                        ax.axhspan(full, (1 + tolerance) * full, color="0.9", zorder=0.5)
                    ax.set_ylabel(rmse_label(target, "ID-test"))
                    ax.set_title(f"{dataset}: {TARGET_NAMES.get(target, target)}\n"
                                 f"{model_style(model).label} trained")
                else:
                    ax.axhline(1.0, color="0.7", linewidth=0.8, zorder=0.5)
                    ax.set_ylabel(f"{ood_label(eval_set)} / ID-test RMSE")
                percent_axis(ax, [r["x"] for r in records if r["panel"] == panel])
    return finish(name, title, figure, records, notes)
