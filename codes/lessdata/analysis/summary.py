"""From a results folder to the numbers a report states: curves, within-X % fractions, differences.

Reads only what the store holds (scores, test-set predictions, the true targets of each split) and
builds a :class:`lessdata.analysis.intervals.PairedBootstrap` over it, so every interval in the report, the
summary table and the benchmarks comes from one definition.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from lessdata.analysis.intervals import (
    PairedBootstrap,
    align_seed_fractions,
    complete_seed_rows,
    full_data_rows,
    holm,
    smallest_fraction_within,
)
from lessdata.data import datasets
from lessdata.errors import LessdataError, MissingInputError
from lessdata.experiments.store import DEFAULT_SPLIT, ResultsStore
from lessdata.splits.holdout import is_ood

#: How far (relative to the requested fraction) an evaluated fraction may lie and still stand for it.  A
#: pruned set "at 30 %" is the retained set of the round where pruning reached 30 % (the paper's
#: definition): up to one round's removal below it, 5-8 % of the share at these sizes.
MATCH_TOLERANCE = 0.15


#: Resamples behind every interval of a report (``LESSDATA_N_BOOT`` overrides it, e.g. for quick tests).
N_BOOT = 4000


def default_n_boot() -> int:
    """Resamples for a report: ``LESSDATA_N_BOOT`` when set (a positive integer), else :data:`N_BOOT`."""
    text = os.environ.get("LESSDATA_N_BOOT")
    if text is None:
        return N_BOOT
    if not text.strip().isdigit() or int(text) < 1:
        raise LessdataError(f"LESSDATA_N_BOOT must be a positive integer, got {text!r}")
    return int(text)
#: Family-wise error rate of the verdicts: Holm's adjustment over each report's family of comparisons
#: (every curve x compared fraction x metric against random subsets).
ALPHA = 0.05
#: How test entries are resampled: whole formula groups (polymorphs share composition features and
#: their errors move together) or single entries.
GROUP_BY = ("formula", "entry")


def curve_name(method: str, selector: str) -> str:
    """The curve a row belongs to: ``random``, ``prune:<guide>`` or the AL strategy's name."""
    return f"prune:{selector}" if method == "prune" else str(method)


def test_groups(folder: str | Path, dataset: str, target: str, split: str, eval_set: str = "id_test",
                group_by: str = "formula") -> np.ndarray | None:
    """Group label of each entry of a split's evaluation set, in stored order (None: resample entries).

    Formulas come from the dataset's table (:func:`lessdata.data.datasets.formulas_by_id`); entries whose
    formula is unknown form groups of their own.
    """
    if group_by not in GROUP_BY:
        raise LessdataError(f"group_by must be one of {GROUP_BY}, got {group_by!r}")
    path = ResultsStore(folder).layout.truth(dataset, target, split)
    if group_by == "entry" or not path.exists():
        return None
    with np.load(path) as content:
        name = f"ids__{eval_set}"
        if name not in content.files:
            return None
        ids = content[name].astype(str)
    formulas = _formulas(dataset)
    if formulas is None:
        return None
    found = formulas.reindex(ids)
    return np.where(found.isna(), "id:" + pd.Series(ids), "formula:" + found.astype(str)).astype(str)


_FORMULA_CACHE: dict[str, pd.Series | None] = {}


def _formulas(dataset: str) -> pd.Series | None:
    """Formulas of a dataset by id, read once per process."""
    if dataset not in _FORMULA_CACHE:
        try:
            _FORMULA_CACHE[dataset] = datasets.formulas_by_id(dataset)
        except LessdataError:  # an unregistered dataset: resample entries
            _FORMULA_CACHE[dataset] = None
    return _FORMULA_CACHE[dataset]


def bootstrap_for(folder: str | Path, dataset: str, target: str, *, model: str | None = None,
                  eval_set: str = "id_test", n_boot: int | None = None, seed: int = 0,
                  splits: list[str] | None = None, seeds: list[int] | None = None,
                  group_by: str = "formula", resample_seeds: bool = True) -> PairedBootstrap:
    """A paired hierarchical bootstrap over every stored cell of one dataset/target (optionally one model).

    Args:
        folder: the results folder.
        dataset, target: which study.
        model: keep only cells of this evaluation model (saves memory; None keeps all).
        eval_set: ``id_test`` or an ``ood_<name>`` set.
        n_boot: resamples (default: :func:`default_n_boot`).
        seed: seed of the resampling.
        splits: the split labels to use (default: every split with stored truth).
        seeds: the model seeds to use (default: all), e.g. to compare two folders on the same seeds.
        group_by: ``formula`` (resample test entries by formula) or ``entry``.
        resample_seeds: resample each curve's training seeds too (training randomness).

    Raises:
        MissingInputError: the folder holds no predictions for this dataset/target.
    """
    store = ResultsStore(folder)
    keys, vectors = store.predictions.read(eval_set)
    if keys.empty:
        raise MissingInputError(f"{folder} holds no stored predictions (predictions/cells/*.npz)")
    chosen = (keys["dataset"] == dataset) & (keys["target"] == target)
    if model is not None:
        chosen &= keys["model"] == model
    if splits is not None:
        chosen &= keys["split"].isin(splits)
    if seeds is not None:
        chosen &= keys["seed"].astype(int).isin(list(seeds))
    truth, predictions, frames, groups = {}, {}, [], {}
    for label, group in keys[chosen].groupby("split"):
        y = store.predictions.truth(dataset, target, label).get(eval_set)
        if y is None:
            continue
        rows = group.index.to_numpy()
        matrix = np.vstack([vectors[i] for i in rows]).astype(np.float64)
        if matrix.shape[1] != len(y):
            raise LessdataError(f"{folder}: predictions of split {label} have {matrix.shape[1]} entries, its "
                                f"{eval_set} truth {len(y)}; the folder mixes runs of different data")
        truth[label], predictions[label] = y, matrix
        labels = test_groups(folder, dataset, target, label, eval_set, group_by)
        if labels is not None and len(labels) == len(y):
            groups[label] = labels
        frames.append(pd.DataFrame({
            "split": label, "curve": [curve_name(m, s) for m, s in zip(group["method"], group["selector"],
                                                                         strict=True)],
            "model": group["model"].to_numpy(), "seed": group["seed"].astype(int).to_numpy(),
            "train_frac": group["train_frac"].astype(float).to_numpy(), "row": np.arange(len(group))}))
    if not frames:
        raise MissingInputError(f"{folder} holds no predictions of {dataset}/{target} ({eval_set})")
    n_boot = default_n_boot() if n_boot is None else n_boot
    return PairedBootstrap(truth, predictions, pd.concat(frames, ignore_index=True), n_boot=n_boot, seed=seed,
                           match_relative=MATCH_TOLERANCE, groups=groups, resample_seeds=resample_seeds)


#: Fractions at which each method is compared with random subsets in the summary and the report.
COMPARE_AT = (0.1, 0.2, 0.3, 0.5)
#: The fraction of the headline's difference column (and of the per-split table).
HEADLINE_AT = 0.3
#: Tolerance of the "smallest fraction within X % of the full-data error" criterion.
WITHIN = 0.10


def _models_with_predictions(keys: pd.DataFrame, dataset: str, target: str) -> list[str]:
    chosen = keys[(keys["dataset"] == dataset) & (keys["target"] == target)]
    return sorted(set(chosen["model"]))


def study_bootstraps(folder: str | Path, *, n_boot: int | None = None, seed: int = 0
                     ) -> list[tuple[str, str, str, PairedBootstrap]]:
    """One paired bootstrap per (dataset, target, evaluation model) with stored ID-test predictions."""
    keys, _ = ResultsStore(folder).predictions.read("id_test")
    found = []
    for (dataset, target), _group in keys.groupby(["dataset", "target"]) if len(keys) else []:
        for model in _models_with_predictions(keys, dataset, target):
            found.append((dataset, target, model,
                          bootstrap_for(folder, dataset, target, model=model, n_boot=n_boot, seed=seed)))
    return found


def curve_intervals(bootstraps: list[tuple[str, str, str, PairedBootstrap]], metric: str = "rmse"
                    ) -> pd.DataFrame:
    """Every curve's point and 95 % interval per training fraction (the figures' bands)."""
    frames = []
    for dataset, target, model, boot in bootstraps:
        table = boot.curve_table(metric)
        table = table[table["model"] == model]
        frames.append(table.assign(dataset=dataset, target=target))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def interval_summary(folder: str | Path, *, n_boot: int | None = None, seed: int = 0,
                     compare_at: tuple[float, ...] = COMPARE_AT, tolerance: float = WITHIN,
                     bootstraps: list[tuple[str, str, str, PairedBootstrap]] | None = None) -> pd.DataFrame:
    """The study's headline numbers with 95 % paired-bootstrap intervals, one row per curve and model.

    Columns: ``n_seeds``, the fewest seeds behind any point of the curve; the full-data RMSE and MAE of
    the model (random subsets at 100 %, else the pruning run's
    full-pool fit); for each curve the smallest fraction within ``tolerance`` of it on RMSE and on MAE
    (point, interval, share of resamples in which it was never reached); and, for every curve but
    random, its RMSE and MAE difference to random subsets at each of ``compare_at``: point, interval,
    p-value, Holm-adjusted p-value over the whole table (the report's family) and the verdicts with
    and without the adjustment.  A curve that rests on one run (one seed, one split) gets no p-value
    and the verdict "one run: not called".  Few splits are combined with a t interval, many are
    resampled (:class:`~lessdata.analysis.intervals.PairedBootstrap`).  Empty when nothing is stored.
    """
    if bootstraps is None:
        bootstraps = study_bootstraps(folder, n_boot=n_boot, seed=seed)
    rows = []
    for dataset, target, model, boot in bootstraps:
        curves = sorted(set(boot.cells.loc[boot.cells["model"] == model, "curve"]))
        full = {metric: boot.reference(model, metric) for metric in ("rmse", "mae")}
        for curve in curves:
            mine = boot.cells[(boot.cells["model"] == model) & (boot.cells["curve"] == curve)]
            partial = mine[mine["train_frac"] < 1]
            row = {"dataset": dataset, "target": target, "model": model, "curve": curve,
                   "n_boot": boot.n_boot, "n_splits": mine["split"].nunique(),
                   # the curve's seed set (the seeds behind each of its points) on its poorest split
                   "n_seeds": min((boot.curve_seeds[(split, model, curve)].size
                                   for split in mine["split"].unique()), default=0) if len(partial) else 0,
                   # the largest subset of the curve's seed set (a point with fewer seeds is not scored)
                   "max_frac": float(max((f for f in boot.curve_fractions(model, curve) if f < 1),
                                         default=np.nan))}
            few = boot.few_splits and row["n_splits"] >= 2
            if few:
                row["splits"] = ";".join(boot.splits)
            for metric in ("rmse", "mae"):
                _put(row, f"full_{metric}", full[metric], few)
                within = boot.within(model, curve, metric, tolerance=tolerance)
                name = f"within{int(round(tolerance * 100))}_{metric}"
                _put(row, name, within, few)
                row[f"{name}_not_reached"] = within.share_not_reached
            one_run = row["n_seeds"] < 2 and row["n_splits"] < 2
            for fraction in compare_at if curve != "random" else ():
                for metric in ("rmse", "mae"):
                    name = f"diff_{metric}@{fraction:g}"
                    diff = boot.difference(model, curve, "random", fraction, metric)
                    _put(row, name, diff, few and fraction == HEADLINE_AT)
                    row[f"{name}_p"] = float("nan") if one_run else diff.p_value
                    row[f"{name}_method"] = diff.method
            rows.append(row)
    return adjust_verdicts(pd.DataFrame(rows))


def adjust_verdicts(summary: pd.DataFrame, alpha: float = ALPHA) -> pd.DataFrame:
    """Holm-adjust every difference's p-value over the whole summary and read the verdicts off them.

    The family is every (curve, model, fraction, metric) compared with random subsets in the table,
    which is every comparison the report prints.  ``_verdict`` uses the adjusted p-value,
    ``_verdict_unadjusted`` the per-comparison one.
    """
    summary = summary.copy()
    p_columns = [column for column in summary.columns if column.startswith("diff_") and column.endswith("_p")]
    if not p_columns:
        return summary
    # a curve resting on one run is never called, so it is no member of the family either
    one_run = ((summary["n_seeds"] < 2) & (summary["n_splits"] < 2)).to_numpy()
    p_table = summary[p_columns].to_numpy(dtype=np.float64)
    p_table[one_run] = np.nan
    flat = p_table.ravel()
    adjusted = holm(flat).reshape(len(summary), len(p_columns))
    for index, column in enumerate(p_columns):
        name = column[:-2]
        summary[f"{name}_p_holm"] = adjusted[:, index]
        points, p_raw = summary[name].to_numpy(dtype=np.float64), summary[column].to_numpy(dtype=np.float64)
        for suffix, p_values in (("verdict", adjusted[:, index]), ("verdict_unadjusted", p_raw)):
            summary[f"{name}_{suffix}"] = [
                verdict_text(point, p, alpha, bool(single))
                for point, p, single in zip(points, p_values, one_run, strict=True)]
    summary.attrs["family_size"] = int(np.count_nonzero(~np.isnan(flat)))
    return summary


def _put(row: dict, name: str, estimate: tuple, by_split: bool = False) -> None:
    """Store an estimate's point and interval as ``name``, ``name_lo``, ``name_hi``, and with
    ``by_split`` its value on each split as ``name_by_split`` (";"-separated, in the order of the
    row's ``splits``): few splits are reported one by one beside their t interval."""
    row[name], row[f"{name}_lo"], row[f"{name}_hi"] = (float(v) for v in estimate[:3])
    if by_split:
        row[f"{name}_by_split"] = ";".join(f"{value:.6g}" for value in estimate.per_split)


def verdict_text(point: float, p_value: float, alpha: float = ALPHA, one_run: bool = False) -> str:
    """A difference (method − random) read off its p-value: who is better, or "not resolved".

    ``one_run``: the curve rests on one training run on one split, so training randomness is unknown
    and nothing is called.
    """
    if not np.isfinite(point):
        return "not measured"
    if one_run:
        return "one run: not called"
    if not np.isfinite(p_value):
        return "not measured"
    if p_value >= alpha:
        return "not resolved"
    return "better than random" if point < 0 else "worse than random"


def summarize(scores: pd.DataFrame, tolerances: tuple[float, ...] = (0.05, 0.10, 0.20),
              eval_set: str = "id_test") -> pd.DataFrame:
    """Redundancy summary: full-data RMSE and the smallest fraction within each tolerance of it.

    The full-data RMSE of a (dataset, target, model) is the mean RMSE of that model trained on the whole
    pool (:func:`~lessdata.analysis.intervals.full_data_rows`).  For each method/selector curve (mean over
    seeds
    per fraction) the fraction where it comes down to (1 + tol) x the full-data RMSE is reported,
    interpolated between evaluated fractions (:func:`~lessdata.analysis.intervals.smallest_fraction_within`).
    Point values only; :func:`interval_summary` gives them with intervals.
    """
    frame = scores[scores["eval_set"] == eval_set]
    if "split" not in frame:
        frame = frame.assign(split=DEFAULT_SPLIT)
    # One seed set per curve, independent pruning runs on common fractions (as the intervals do).
    curve_keys = ["dataset", "target", "split", "model", "method", "selector"]
    if len(frame):
        frame = frame.reset_index(drop=True)
        frame = align_seed_fractions(frame, curve_keys, relative=MATCH_TOLERANCE,
                                     eligible=frame["method"] == "prune")
        frame = frame[complete_seed_rows(frame, curve_keys)]
    rows = []
    for (dataset, target, split, model), group in frame.groupby(["dataset", "target", "split", "model"]):
        full = full_data_rows(group)["rmse"]
        if full.empty:
            continue
        full_rmse = float(full.mean())
        for (method, selector), curve in group.groupby(["method", "selector"]):
            mean_curve = curve.groupby("train_frac")["rmse"].mean().sort_index()
            partial = mean_curve[mean_curve.index < 1.0]
            row = {"dataset": dataset, "target": target, "split": split, "model": model, "method": method,
                   "selector": selector, "full_rmse": full_rmse,
                   "best_rmse": float(partial.min()) if len(partial) else float("nan"),
                   "best_frac": float(partial.idxmin()) if len(partial) else float("nan")}
            for tol in tolerances:
                row[f"frac_within_{int(round(tol * 100))}pct"] = float(smallest_fraction_within(
                    mean_curve.index.to_numpy(), mean_curve.to_numpy(), np.asarray(full_rmse), tol))
            rows.append(row)
    return pd.DataFrame(rows)


def ood_ratios(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean OOD RMSE / ID-test RMSE per (dataset, target, method, selector, model, fraction, OOD set)."""
    keys = ["dataset", "target", "split", "method", "selector", "model", "train_frac"]
    if "split" not in scores:
        scores = scores.assign(split=DEFAULT_SPLIT)
    mean = scores.groupby([*keys, "eval_set"])["rmse"].mean().unstack("eval_set")
    if "id_test" not in mean:
        return pd.DataFrame()
    out = []
    for column in mean.columns:
        if is_ood(column) or column == "unused":
            ratio = (mean[column] / mean["id_test"]).rename("ratio_to_id").reset_index()
            ratio.insert(len(keys), "eval_set", column)
            out.append(ratio.dropna())
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()
