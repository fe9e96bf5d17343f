"""The paper's figures, regenerated from the results tables alone (no model is ever refitted here).

:func:`load_results` reads one results folder and :func:`make_all` draws figures (a)-(f); every
``plot_*`` function returns a :class:`PlotResult` (the figure and a frame of exactly the numbers drawn),
which :func:`save_plot` writes.  Colours, markers and line styles come from :mod:`lessdata.reporting.styles`;
layout and encoding choices: ``docs/decisions.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, NullFormatter

from lessdata import files as lio
from lessdata.analysis.intervals import full_data_rows
from lessdata.analysis.results import Results
from lessdata.analysis.summary import curve_name
from lessdata.data.datasets import TARGET_NAMES, UNITS
from lessdata.reporting.styles import (
    MODEL_STYLES,
    PANEL_SIZE,
    PNG_DPI,
    RC,
    method_style,
    model_style,
    style_keys,
)
from lessdata.selection import registry as selectors
from lessdata.splits import holdout as splits


# --------------------------------------------------------------------------------------------------
# Encoding: the styles of lessdata.reporting.styles applied to curves and legends.
# --------------------------------------------------------------------------------------------------
def style_key(method: str, selector: str, model: str) -> str:
    """The style of a curve: its method, with pruning split into guided-by-itself and transfer."""
    if method == "prune":
        return "prune" if selector == model else "prune_transfer"
    return method


def line_kwargs(model: str, key: str) -> dict[str, Any]:
    """Keyword arguments of ``Axes.plot`` for a (model, method key) curve."""
    model_s, method_s = model_style(model), method_style(key)
    return {"color": model_s.color, "marker": model_s.marker, "linestyle": method_s.linestyle,
            "fillstyle": method_s.fillstyle, "markerfacecoloralt": "white",
            "linewidth": method_s.linewidth, "zorder": method_s.zorder}


def legend_handles(models: Iterable[str], keys: Iterable[str], extra: Sequence[Any] = (),
                   labels: dict[str, str] | None = None) -> list[Any]:
    """Proxy artists explaining the encoding once: colour/marker per model, line/fill per method.

    ``labels`` overrides method labels (e.g. "random, mean of seeds" where no error bars are drawn).
    """
    labels = labels or {}
    handles: list[Any] = []
    for model in models:
        style = model_style(model)
        handles.append(Line2D([], [], color=style.color, marker=style.marker, linestyle="-",
                              linewidth=1.2, label=style.label))
    for key in keys:
        method_s = method_style(key)
        handles.append(Line2D([], [], color="0.25", marker="o", linestyle=method_s.linestyle,
                              fillstyle=method_s.fillstyle, markerfacecoloralt="white",
                              linewidth=method_s.linewidth,
                              label=labels.get(key, method_s.label or key)))
    handles.extend(extra)
    return handles


def order_models(models: Iterable[str]) -> list[str]:
    """Models in the style table's order, then any others alphabetically."""
    present = set(models)
    return [m for m in MODEL_STYLES if m in present] + sorted(present - set(MODEL_STYLES))


def order_methods(keys: Iterable[str]) -> list[str]:
    """Method keys in the registry's order, then any others alphabetically."""
    return selectors.ordered(keys, style_keys(selectors.names()))


def rmse_label(target: str, what: str) -> str:
    """Axis label with the unit of the target (``ID-test RMSE (eV/atom)``)."""
    unit = UNITS.get(target)
    return f"{what} RMSE ({unit})" if unit else f"{what} RMSE (units of {target})"


def panel_title(dataset: str, target: str, extra: str = "") -> str:
    """``dataset: formation energy[, extra]``."""
    title = f"{dataset}: {TARGET_NAMES.get(target, target)}"
    return f"{title}, {extra}" if extra else title


def ood_label(eval_set: str) -> str:
    """Readable name of an ``ood_<name>`` evaluation set (from the OOD splitter's record)."""
    return f"OOD: {splits.ood_label(splits.ood_name(eval_set))}"


# --------------------------------------------------------------------------------------------------
# Plot results and shared drawing helpers.
# --------------------------------------------------------------------------------------------------
@dataclass
class PlotResult:
    """One figure and the numbers it shows.

    Attributes:
        name: file stem (``fig_a_id_performance``); the PNG and PDF are ``<name>.png`` / ``.pdf``.
        title: one-line description for the report.
        figure: the figure, or ``None`` when there was nothing to plot (see ``notes``).
        data: tidy frame, one row per plotted point/bar: ``panel`` (index of the axes in
            ``figure.axes``), ``gid`` (the gid of the artist that draws it), identity columns
            (dataset, target, model, method, selector, eval_set ...) and the plotted values ``x``,
            ``y`` (and ``y_std`` for error bars, ``n`` for the seeds or entries behind a value).
        notes: what was skipped and why (missing tables, panels without data).
    """

    name: str
    title: str
    figure: Figure | None
    data: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def grid_figure(n_rows: int, n_cols: int, *, handles: Sequence[Any] = (),
                 panel_size: tuple[float, float] = PANEL_SIZE) -> tuple[Figure, np.ndarray]:
    """A constrained-layout figure on an Agg canvas with a grid of axes and a legend below them.

    The legend explains the encoding once for all panels and sits outside them, so it never hides
    data.  Its column count is the largest whose measured width fits the figure, and the figure grows
    by the legend's rows, so nothing is clipped whatever the labels.
    """
    width, height = panel_size
    figure = Figure(figsize=(width * n_cols, height * n_rows), layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.subplots(n_rows, n_cols, squeeze=False)
    if handles:
        renderer = figure.canvas.get_renderer()
        for n_legend_cols in range(len(handles), 0, -1):
            legend = figure.legend(handles=list(handles), loc="outside lower center", ncol=n_legend_cols,
                                   handlelength=2.8, columnspacing=1.0, borderaxespad=0.2)
            fits = legend.get_window_extent(renderer).width / figure.dpi <= width * n_cols - 0.1
            if fits or n_legend_cols == 1:
                break
            legend.remove()
        legend_rows = math.ceil(len(handles) / n_legend_cols)
        figure.set_size_inches(width * n_cols, height * n_rows + 0.2 * legend_rows + 0.12)
    return figure, grid


def new_figure(n_panels: int, n_cols: int, *, handles: Sequence[Any] = (),
                panel_size: tuple[float, float] = PANEL_SIZE) -> tuple[Figure, list[Axes]]:
    """:func:`grid_figure` for ``n_panels`` panels filled row by row; spare cells are removed."""
    n_cols = max(1, min(n_cols, n_panels))
    figure, grid = grid_figure(math.ceil(n_panels / n_cols), n_cols, handles=handles, panel_size=panel_size)
    axes = list(grid.ravel())
    for spare in axes[n_panels:]:
        spare.remove()
    return figure, axes[:n_panels]


def percent_axis(ax: Axes, values: Iterable[float]) -> None:
    """Log x axis in % of the pool with plain-number ticks (0.1, 1, 10, 100)."""
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    finite = [v for v in values if np.isfinite(v) and v > 0]
    if finite:
        ax.set_xlim(min(finite) / 1.25, max(finite) * 1.25)
    ax.set_xlabel("training set (% of pool)")


def plot_line(ax: Axes, records: list[dict[str, Any]], panel: int, gid: str, frame: pd.DataFrame,
               model: str, key: str, identity: dict[str, Any], *, errorbars: bool = False) -> None:
    """Draw one curve from ``frame`` (columns x, y, y_std, n, train_frac) and record its points."""
    kwargs = line_kwargs(model, key)
    if len(frame) > 15:  # dense curves (paper profile: 50 AL steps): markers evenly spaced on screen
        kwargs["markevery"] = 0.07
    if errorbars and frame["y_std"].notna().any():
        container = ax.errorbar(frame["x"], frame["y"], yerr=frame["y_std"].fillna(0.0), elinewidth=0.7,
                                **kwargs)
        container.lines[0].set_gid(gid)
    else:
        (line,) = ax.plot(frame["x"], frame["y"], **kwargs)
        line.set_gid(gid)
    for row in frame.itertuples(index=False):
        records.append({"panel": panel, "gid": gid, **identity, "style": key,
                        "train_frac": float(row.train_frac), "x": float(row.x), "y": float(row.y),
                        "y_std": float(row.y_std) if errorbars else float("nan"), "n": int(row.n)})


def seed_stats(frame: pd.DataFrame, keys: list[str], value: str = "rmse") -> pd.DataFrame:
    """Mean, std (ddof 1; NaN for one seed) and count of ``value`` over seeds per keys + train_frac."""
    stats = (frame.groupby([*keys, "train_frac"], sort=True)[value]
             .agg(y="mean", y_std="std", n="count").reset_index())
    stats["x"] = 100.0 * stats["train_frac"]
    return stats


def panel_keys(frame: pd.DataFrame, keys: list[str]) -> list[tuple]:
    """Distinct values of ``keys`` in a stable order (dataset, target, ...)."""
    if frame.empty:
        return []
    return [tuple(k) for k in frame[keys].drop_duplicates().sort_values(keys).itertuples(index=False)]


def empty(name: str, title: str, note: str) -> PlotResult:
    return PlotResult(name, title, None, pd.DataFrame(), [note])


def finish(name: str, title: str, figure: Figure, records: list[dict[str, Any]],
            notes: list[str]) -> PlotResult:
    return PlotResult(name, title, figure, pd.DataFrame.from_records(records), notes)


# --------------------------------------------------------------------------------------------------
# (a) ID performance.
# --------------------------------------------------------------------------------------------------
def draw_band(ax: Axes, bands: pd.DataFrame | None, dataset: str, target: str, model: str,
              curve: str) -> None:
    """Shade a curve's 95 % paired-bootstrap interval (ID-test RMSE) where the results store has it."""
    if bands is None or bands.empty:
        return
    part = bands[(bands["dataset"] == dataset) & (bands["target"] == target) & (bands["model"] == model)
                 & (bands["curve"] == curve)].sort_values("train_frac")
    part = part[np.isfinite(part["lo"]) & np.isfinite(part["hi"])]
    if len(part) > 1:
        ax.fill_between(100.0 * part["train_frac"], part["lo"], part["hi"], color=model_style(model).color,
                        alpha=0.13, linewidth=0, zorder=0.5)


def plot_id_performance(scores: pd.DataFrame, *, eval_set: str = "id_test",
                        max_cols: int = 2, bands: pd.DataFrame | None = None) -> PlotResult:
    """(a) RMSE vs training-set size for random and pruned subsets, one panel per dataset x target.

    Random subsets: filled markers, mean ± std over seeds.  Pruned sets: open markers, one curve per
    (trained model, guiding model); dashed when the set was pruned with the same model, dotted when with
    the other one (transfer).  The full pool (100 %) ends every random curve.

    Args:
        scores: ``scores.csv`` in the long format.
        eval_set: evaluation set on the y axis (``id_test`` reproduces the paper's Fig. 1).
        max_cols: panels per row.
        bands: 95 % intervals per curve and fraction (:attr:`Results.bands`), shaded behind the random
            curve and the curve pruned by the same model.
    """
    name, title = "fig_a_id_performance", "(a) ID-test RMSE vs training-set size, random and pruned subsets"
    frame = scores[scores["method"].isin(["random", "prune"]) & (scores["eval_set"] == eval_set)]
    panels = panel_keys(frame, ["dataset", "target"])
    if not panels:
        return empty(name, title, f"no random or pruning rows with eval_set={eval_set} in scores.csv")
    combos = frame[["method", "selector", "model"]].drop_duplicates().itertuples(index=False)
    keys_used = order_methods(style_key(m, s, mo) for m, s, mo in combos)
    handles = legend_handles(order_models(frame["model"]), keys_used)
    with matplotlib.rc_context(RC):
        figure, axes = new_figure(len(panels), max_cols, handles=handles)
        records: list[dict[str, Any]] = []
        for panel, ((dataset, target), ax) in enumerate(zip(panels, axes, strict=True)):
            here = frame[(frame["dataset"] == dataset) & (frame["target"] == target)]
            for model in order_models(here["model"]):
                rows = here[here["model"] == model]
                curves = [("random", "")] + [("prune", s) for s in sorted(
                    rows.loc[rows["method"] == "prune", "selector"].unique(), key=lambda s: (s != model, s))]
                for method, selector in curves:
                    part = rows[(rows["method"] == method) & (rows["selector"] == selector)]
                    if part.empty:
                        continue
                    stats = seed_stats(part, [])
                    key = style_key(method, selector, model)
                    gid = f"a|{dataset}|{target}|{model}|{method}|{selector}"
                    plot_line(ax, records, panel, gid, stats, model, key,
                               {"dataset": dataset, "target": target, "model": model, "method": method,
                                "selector": selector, "eval_set": eval_set}, errorbars=method == "random")
                    if eval_set == "id_test" and (method == "random" or selector == model):
                        draw_band(ax, bands, dataset, target, model, curve_name(method, selector))
            percent_axis(ax, [r["x"] for r in records if r["panel"] == panel])
            ax.set_ylabel(rmse_label(target, "ID-test" if eval_set == "id_test" else eval_set))
            ax.set_title(panel_title(dataset, target))
    return finish(name, title, figure, records, [])


# --------------------------------------------------------------------------------------------------
# (b), (c) another error against the ID-test error of the same training sets.
# --------------------------------------------------------------------------------------------------
def _paired_means(rows: pd.DataFrame, other: str) -> pd.DataFrame:
    """Per training fraction: mean ID-test and mean ``other`` RMSE over the seeds that have both."""
    wide = rows.pivot_table(index=["seed", "train_frac"], columns="eval_set", values="rmse", aggfunc="mean")
    if "id_test" not in wide or other not in wide:
        return pd.DataFrame()
    wide = wide[["id_test", other]].dropna().reset_index()
    stats = wide.groupby("train_frac").agg(x=("id_test", "mean"), y=(other, "mean"),
                                           n=("seed", "count")).reset_index()
    stats["y_std"] = np.nan
    return stats.sort_values("train_frac").reset_index(drop=True)


def _plot_against_id(scores: pd.DataFrame, *, name: str, title: str, others: Callable[[pd.DataFrame],
                     list[str]], y_label: Callable[[str, str], str], letter: str, max_cols: int,
                     with_random: bool) -> PlotResult:
    """Shared body of (b) and (c): one panel per (dataset, target, other evaluation set)."""
    frame = scores[scores["method"].isin(["random", "prune"])]
    panels = [(d, t, o) for d, t in panel_keys(frame[frame["method"] == "prune"], ["dataset", "target"])
              for o in others(frame[(frame["dataset"] == d) & (frame["target"] == t)])]
    if not panels:
        return empty(name, title, "no pruning rows with the needed evaluation sets in scores.csv "
                                   "(run codes/prune_data.py)")
    subset = frame if with_random else frame[frame["method"] == "prune"]
    keys_used = order_methods(style_key(m, s, mo) for m, s, mo in subset[["method", "selector", "model"]]
                              .drop_duplicates().itertuples(index=False))
    diagonal = Line2D([], [], color="0.55", linewidth=0.8, linestyle="-", label="y = x")
    handles = legend_handles(order_models(subset["model"]), keys_used, [diagonal],
                             labels={"random": "random, mean of seeds"})
    notes: list[str] = []
    with matplotlib.rc_context(RC):
        figure, axes = new_figure(len(panels), max_cols, handles=handles)
        records: list[dict[str, Any]] = []
        for panel, ((dataset, target, other), ax) in enumerate(zip(panels, axes, strict=True)):
            here = subset[(subset["dataset"] == dataset) & (subset["target"] == target)
                          & subset["eval_set"].isin(["id_test", other])]
            for model in order_models(here["model"]):
                rows = here[here["model"] == model]
                curves = [("random", "")] + [("prune", s) for s in sorted(
                    rows.loc[rows["method"] == "prune", "selector"].unique(), key=lambda s: (s != model, s))]
                for method, selector in curves:
                    stats = _paired_means(rows[(rows["method"] == method) & (rows["selector"] == selector)],
                                          other)
                    if stats.empty:
                        continue
                    key = style_key(method, selector, model)
                    gid = f"{letter}|{dataset}|{target}|{other}|{model}|{method}|{selector}"
                    plot_line(ax, records, panel, gid, stats, model, key,
                               {"dataset": dataset, "target": target, "model": model, "method": method,
                                "selector": selector, "eval_set": other})
            drawn = [r for r in records if r["panel"] == panel]
            if not drawn:
                notes.append(f"{dataset}/{target}/{other}: no training set scored on both sets")
                continue
            low = min(min(r["x"] for r in drawn), min(r["y"] for r in drawn))
            high = max(max(r["x"] for r in drawn), max(r["y"] for r in drawn))
            ax.axline((low, low), slope=1.0, color="0.55", linewidth=0.8, zorder=1)
            # Size runs along each curve; say which way, where the data never is (below the diagonal
            # at large ID error: small training sets are never much better on unseen data than on ID).
            ax.text(0.98, 0.03, "◀ larger training sets", transform=ax.transAxes, ha="right",
                    va="bottom", color="0.4", fontsize=8)
            ax.set_xlabel(rmse_label(target, "ID-test"))
            ax.set_ylabel(y_label(target, other))
            ax.set_title(panel_title(dataset, target) + (f"\n{ood_label(other)}" if splits.is_ood(other)
                                                         else ""))
            if letter == "b":
                pad = 0.06 * (high - low)
                ax.set_xlim(low - pad, high + pad)
                ax.set_ylim(low - pad, high + pad)
    return finish(name, title, figure, records, notes)


def plot_unused_vs_id(scores: pd.DataFrame, *, max_cols: int = 2) -> PlotResult:
    """(b) Unused-pool RMSE against ID-test RMSE of the same training sets.

    Pruned sets (open markers) fall below the diagonal when the removed entries are easier to predict
    than new data, the paper's evidence that they are redundant; random subsets (filled markers, means
    over seeds) are the reference on the diagonal, since their unused pool is a random sample like the
    ID test set.  The full pool has no unused data, so 100 % is absent.
    """
    return _plot_against_id(
        scores, name="fig_b_unused_vs_id", letter="b", max_cols=max_cols, with_random=True,
        title="(b) unused-pool RMSE vs ID-test RMSE of the same training sets",
        others=lambda rows: ["unused"] if (rows["eval_set"] == "unused").any() else [],
        y_label=lambda target, _: rmse_label(target, "unused-pool"))


def plot_ood_vs_id(scores: pd.DataFrame, *, max_cols: int = 2) -> PlotResult:
    """(c) OOD RMSE against ID-test RMSE of the same training sets, one panel per OOD split.

    Points far above the diagonal, on a flat curve, mean the OOD error is much larger than the ID error
    and barely improves as training sets grow (the paper's finding for version OOD sets).
    """
    return _plot_against_id(
        scores, name="fig_c_ood_vs_id", letter="c", max_cols=max_cols, with_random=True,
        title="(c) OOD RMSE vs ID-test RMSE of the same training sets, per OOD split",
        others=lambda rows: sorted(s for s in rows["eval_set"].unique() if splits.is_ood(s)),
        y_label=lambda target, _: rmse_label(target, "OOD"))


# --------------------------------------------------------------------------------------------------
# (d) active learning.
# --------------------------------------------------------------------------------------------------
def full_data_rmse(scores: pd.DataFrame, dataset: str, target: str, model: str,
                   eval_set: str = "id_test") -> float:
    """Mean RMSE of ``model`` trained on the whole pool
    (:func:`lessdata.analysis.intervals.full_data_rows`)."""
    rows = scores[(scores["dataset"] == dataset) & (scores["target"] == target) & (scores["model"] == model)
                  & (scores["eval_set"] == eval_set)]
    chosen = full_data_rows(rows)
    return float(chosen["rmse"].mean()) if len(chosen) else float("nan")


def plot_active_learning(scores: pd.DataFrame, *, eval_set: str = "id_test",
                         models: Sequence[str] | None = None, tolerance: float = 0.10,
                         bands: pd.DataFrame | None = None) -> PlotResult:
    """(d) Active learning: RMSE vs size for each strategy, beside the random and the pruning curves.

    One row of panels per dataset x target x trained model (XGB first: the paper reports XGB), one
    panel per strategy, y axes shared along a row.  Each panel shows the strategy (means over seeds),
    random subsets (mean ± std over seeds; the random strategy's rows are the random baseline's) and the
    set pruned with the same model.  Small multiples rather than one crowded panel: every curve of a row
    has the model's colour, so strategies in one panel would differ only by dash pattern; with three
    curves per panel each is unmistakable and the shared y axis still compares strategies.  The grey
    band spans the full-data RMSE to ``1 + tolerance`` times it: a curve entering it is "within 10 %".

    Args:
        scores: ``scores.csv``.
        eval_set: evaluation set on the y axis.
        models: trained models to show (default: those with AL rows, XGB first).
        tolerance: relative height of the full-data band.
        bands: 95 % intervals per curve (:attr:`Results.bands`), shaded behind each strategy's curve.
    """
    name, title = "fig_d_active_learning", "(d) active learning: RMSE vs training-set size per strategy"
    frame = scores[scores["eval_set"] == eval_set]
    al_rows = frame[frame["method"].map(selectors.is_active)]
    if al_rows.empty:
        return empty(name, title, "no active-learning rows (method qbc, rf_u, ...) in scores.csv: run "
                                   "codes/run_al.py to add them; figure (d) skipped")
    wanted = order_models(al_rows["model"]) if models is None else [m for m in models if m in
                                                                    set(al_rows["model"])]
    rows = [(d, t, m) for d, t in panel_keys(al_rows, ["dataset", "target"]) for m in wanted
            if ((al_rows["dataset"] == d) & (al_rows["target"] == t) & (al_rows["model"] == m)).any()]
    strategies = order_methods(al_rows["method"].unique())
    notes = [f"{d}/{t}: no active-learning rows, panel skipped" for d, t in
             panel_keys(frame[frame["method"].isin(["random", "prune"])], ["dataset", "target"])
             if not ((al_rows["dataset"] == d) & (al_rows["target"] == t)).any()]
    has_prune = any(((frame["dataset"] == d) & (frame["target"] == t) & (frame["method"] == "prune")
                     & (frame["selector"] == m)).any() for d, t, m in rows)
    band = Patch(facecolor="0.88", edgecolor="none", label=f"full data to +{tolerance:.0%}")
    handles = legend_handles([], ["random", *(["prune"] if has_prune else []), *strategies], [band])
    records: list[dict[str, Any]] = []
    with matplotlib.rc_context(RC):
        figure, grid = grid_figure(len(rows), len(strategies), handles=handles)
        panel = -1
        for row_index, (dataset, target, model) in enumerate(rows):
            here = frame[(frame["dataset"] == dataset) & (frame["target"] == target)
                         & (frame["model"] == model)]
            full = full_data_rmse(scores, dataset, target, model, eval_set)
            first: Axes | None = None
            for column, strategy in enumerate(strategies):
                ax = grid[row_index, column]
                strategy_rows = here[here["method"] == strategy]
                if strategy_rows.empty:
                    ax.remove()
                    notes.append(f"{dataset}/{target}/{model}: no {strategy} rows, panel skipped")
                    continue
                panel += 1
                # Share the row's y axis before drawing, so autoscaling spans every panel's data.
                if first is None:
                    first = ax
                    ax.set_ylabel(rmse_label(target, "ID-test" if eval_set == "id_test" else eval_set))
                else:
                    ax.sharey(first)
                    ax.tick_params(labelleft=False)
                curves = [("random", ""), ("prune", model),
                          (strategy, str(strategy_rows["selector"].iloc[0]))]
                for method, selector in curves:
                    part = here[(here["method"] == method) & (here["selector"] == selector)]
                    if part.empty:
                        continue
                    gid = f"d|{dataset}|{target}|{model}|{strategy}|{method}|{selector}"
                    plot_line(ax, records, panel, gid, seed_stats(part, []), model,
                               style_key(method, selector, model),
                               {"dataset": dataset, "target": target, "model": model, "method": method,
                                "selector": selector, "eval_set": eval_set, "strategy": strategy},
                               errorbars=method == "random")
                if eval_set == "id_test":
                    draw_band(ax, bands, dataset, target, model, strategy)
                if np.isfinite(full):
                    gid = f"d|{dataset}|{target}|{model}|{strategy}|full"
                    ax.axhspan(full, (1 + tolerance) * full, color="0.88", zorder=0.5, gid=gid)
                    records.append({"panel": panel, "gid": gid, "dataset": dataset, "target": target,
                                    "model": model, "method": "full_data", "selector": "",
                                    "eval_set": eval_set, "strategy": strategy, "style": "band",
                                    "train_frac": 1.0, "x": float("nan"), "y": full,
                                    "y_std": float("nan"), "n": 0})
                percent_axis(ax, [r["x"] for r in records if r["panel"] == panel])
                label = method_style(strategy).label or strategy
                ax.set_title(f"{dataset}: {TARGET_NAMES.get(target, target)}\n"
                             f"{label}, {model_style(model).label} trained")
    return finish(name, title, figure, records, notes)


# --------------------------------------------------------------------------------------------------
# All figures.
# --------------------------------------------------------------------------------------------------
def make_all(results: Results) -> list[PlotResult]:
    """Figures (a)-(g) of a results folder (those without data come back with ``figure=None``)."""
    from lessdata.reporting.breakdown_figures import (  # noqa: PLC0415 - they import this module
        plot_al_diagnostics,
        plot_redundancy,
        plot_selectors,
    )

    scores = results.scores
    return [plot_id_performance(scores, bands=results.bands), plot_unused_vs_id(scores),
            plot_ood_vs_id(scores), plot_active_learning(scores, bands=results.bands),
            plot_redundancy(results.redundancy),
            plot_al_diagnostics(results.diagnostics), plot_selectors(scores)]


def save_plot(plot: PlotResult, out_dir: str | Path, formats: Sequence[str] = ("png", "pdf")) -> list[Path]:
    """Write a figure as ``<out_dir>/<name>.<format>`` (atomically; no timestamps in the files).

    A figure without data writes nothing, and removes that figure's files left in ``out_dir`` by an
    earlier run, so the folder never shows a picture that the current results do not support.
    """
    out = Path(out_dir)
    paths = [out / f"{plot.name}.{fmt}" for fmt in formats]
    if plot.figure is None:
        for stale in paths:
            stale.unlink(missing_ok=True)
        return []
    out.mkdir(parents=True, exist_ok=True)
    metadata = {"png": {"Software": None}, "pdf": {"CreationDate": None, "ModDate": None}}
    for fmt, path in zip(formats, paths, strict=True):
        lio.atomic_write(path, lambda tmp, fmt=fmt: plot.figure.savefig(
            tmp, format=fmt, dpi=PNG_DPI, metadata=metadata.get(fmt)))
    return paths

