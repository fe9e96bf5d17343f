"""The pruning study: run the pruning algorithm on a dataset's pool, evaluate its retained sets, export.

:mod:`lessdata.pruning` is the algorithm on arrays; this module connects it to the engine:

1. fit the guiding model on the full pool, set the threshold (κ × its ID-test MAE) and score that model
   as the 100 % point of the pruning curve (it is never fitted twice);
2. run the rounds (checkpointed after every round, so an interrupted run continues where it stopped);
3. store the order as a selection (most informative first: the training set of size n is its first n
   ids, equal to the retained set of the round where it had n entries);
4. evaluate the retained sets with the guiding model and the other tree model ("transfer"), and ALIGNN
   when asked for and structures exist, as independent cells through the runner (parallel, Dask);
5. write where the redundant data lies (by element, number of elements, formula, crystal system), at the
   smallest evaluated pruned fraction within 10 % of the full-data RMSE (or ``--redundancy-fraction``),
   with a Fisher-exact p-value, a BH q-value and an interval per enrichment.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lessdata import config
from lessdata import io as lio
from lessdata.cli import (
    add_data_args,
    add_run_args,
    check_models,
    comma_list,
    context_from,
    fraction_list,
    print_table,
    split_data,
    unit_fraction,
    write_summary,
)
from lessdata.evaluate import ExperimentData, score_model
from lessdata.models import available_cores, make_model
from lessdata.pruning import (
    SIGNIFICANCE_Q,
    PruningResult,
    prune,
    pruning_threshold,
    redundancy_composition,
    settings_from_profile,
)
from lessdata.runner import (
    Cell,
    ResultsStore,
    RunContext,
    manifest_data,
    run_cells,
    summarize,
)
from lessdata.store import DEFAULT_SPLIT, StoreLayout

TRANSFER = {"xgb": "rf", "rf": "xgb"}


def selection_name(dataset: str, target: str, guide: str, split: str = DEFAULT_SPLIT) -> str:
    """Name of the stored pruning order of one dataset, target, ID split and guiding model."""
    return f"prune_{dataset}_{target}_{split}_{guide}"


def run_pruning(data: ExperimentData, guide: str, context: RunContext, *, progress: bool = True,
                n_threads: int | None = None) -> tuple[PruningResult, str]:
    """Threshold, rounds (resumable) and the stored selection for one guiding model.

    Returns:
        (the pruning result, the selection name in the results store).
    """
    store = ResultsStore(context.out_dir)
    name = selection_name(data.dataset.name, data.dataset.target, guide, data.split.label)
    kappa, settings = settings_from_profile(context.profile)
    threads = n_threads or available_cores()
    template = make_model(guide, profile=context.profile, n_threads=threads, random_state=0,
                          device=context.device)
    full_cell = Cell(data.dataset.name, data.dataset.target, "prune", guide, guide, 0, 1.0, len(data.pool),
                     split=data.split.label)
    threshold_path = store.selections_dir / f"{name}_threshold.json"
    if threshold_path.exists():
        threshold = float(lio.read_json(threshold_path)["threshold"])
    else:
        started = time.perf_counter()
        threshold, full_model = pruning_threshold(template, data.pool.X, data.pool.y, data.test.X,
                                                  data.test.y, kappa=kappa)
        fit_seconds = time.perf_counter() - started
        if full_cell.key() not in store.done_keys():
            rows = score_model(full_model, guide, data, np.arange(len(data.pool)))
            store.add([{**full_cell.fields(), **row, "fit_seconds": round(fit_seconds, 3),
                        "profile": context.profile} for row in rows])
        lio.write_json(threshold_path, {"threshold": threshold, "kappa": kappa, "guide": guide,
                                        "full_pool_fit_seconds": round(fit_seconds, 3)})
    result = prune(template, data.pool.X, data.pool.y, threshold, **settings, random_state=0,
                   checkpoint=store.selections_dir / f"{name}.npz", progress=progress)
    ranked = data.pool.ids[result.order[::-1]]
    store.save_selection(name, ranked, method="prune", guide=guide, threshold=threshold,
                         round_sizes=result.round_sizes.tolist(), stop_reason=result.stop_reason,
                         params=result.params)
    lio.write_csv(store.layout.prune_rounds(data.dataset.name, data.dataset.target, data.split.label, guide),
                  result.rounds_frame())
    return result, name


def evaluation_sizes(result: PruningResult, profile: str,
                     fractions: Sequence[float] | None = None) -> list[int]:
    """Training-set sizes to evaluate: every round (``paper``) or the rounds nearest the profile's grid.

    Each size is the retained size of a round, so the training set (the first n ids of the selection)
    is exactly that round's retained set, the paper's pruned set.  ``fractions`` replaces the profile's
    grid (e.g. a few fractions first; every round later, in the same folder, adds the rest).
    """
    grid = config.profile(profile)["prune"]["eval"] if fractions is None else list(fractions)
    sizes = set(int(s) for s in result.round_sizes[1:])
    if grid != "rounds":
        sizes = {int(result.round_sizes[result.round_at(p)]) for p in grid if p >= result.final_fraction}
    return sorted(sizes)


def pruning_cells(data: ExperimentData, guide: str, selection: str, sizes: Sequence[int],
                  models: Sequence[str]) -> list[Cell]:
    """Evaluation cells of the retained sets (seed 0: the selection is deterministic)."""
    n_pool = len(data.pool)
    return [Cell(data.dataset.name, data.dataset.target, "prune", guide, model, 0, size / n_pool, size,
                 selection, split=data.split.label) for model in models for size in sizes]


#: Retained fraction of the redundancy tables when the guide's pruned curve has no within-10 % point.
REDUNDANCY_FALLBACK_FRACTION = 0.3


def redundancy_fraction(out_dir: Path, data: ExperimentData, result: PruningResult,
                        guide: str) -> tuple[float, str]:
    """Retained fraction at which to compare removed and retained entries, and how it was chosen.

    At the end of pruning (~300 kept, 99 % removed, the last rounds close to random) every enrichment is
    noise.  The meaningful point is where the retained set still does the job: the smallest evaluated
    pruned fraction whose guide-model ID-test RMSE is within 10 % of the full-data RMSE, read from the
    results store (column ``frac_within_10pct`` of :func:`lessdata.runner.summarize`, method ``prune``,
    selector = model = ``guide``, this ID split), so the evaluation cells must have run.  Without such a
    pruned point (no scores yet, or only the full pool qualifies) it falls back to
    :data:`REDUNDANCY_FALLBACK_FRACTION`, or to the final retained fraction if pruning stopped above it.

    Returns:
        ``(fraction, description)``; the description says where the fraction came from (for printing).
    """
    scores = ResultsStore(out_dir).read()
    within = float("nan")
    if not scores.empty:
        summary = summarize(scores)
        if not summary.empty:
            rows = summary[(summary["dataset"] == data.dataset.name)
                           & (summary["target"] == data.dataset.target) & (summary["method"] == "prune")
                           & (summary["selector"] == guide) & (summary["model"] == guide)]
            split = getattr(data.split, "label", None)
            if split is not None and "split" in rows:  # this ID hold-out split's curve only
                rows = rows[rows["split"] == split]
            if len(rows):
                within = float(rows["frac_within_10pct"].iloc[0])
    if np.isfinite(within) and within < 1.0:
        # Snap to the evaluated retained size (size / N), so a fraction stored rounded in the scores table
        # still selects exactly that round's retained set.
        within = round(within * result.n_pool) / result.n_pool
        return within, (f"the smallest pruned fraction whose {guide.upper()} ID-test RMSE is within 10 % of "
                        f"the full-data RMSE")
    fallback = max(REDUNDANCY_FALLBACK_FRACTION, result.final_fraction)
    return fallback, (f"no pruned fraction within 10 % of the full-data {guide.upper()} RMSE; fallback "
                      f"{fallback:.4g} (default {REDUNDANCY_FALLBACK_FRACTION:g}, or the final retained "
                      f"fraction if pruning stopped above it)")


def write_redundancy(data: ExperimentData, result: PruningResult, guide: str, out_dir: Path,
                     fraction: float | None = None) -> dict[str, pd.DataFrame]:
    """Where the redundant data lies: removed vs retained by element, arity, formula, symmetry.

    Compared at the pruning's retained set of ``fraction`` (:meth:`PruningResult.retained_at`); ``None``
    uses :func:`redundancy_fraction` (the within-10 % point from the results store in ``out_dir``, so
    call it after the evaluation cells).  Every table records ``retained_fraction`` and carries p/q-values
    (see :func:`lessdata.pruning.enrichment_statistics`).
    """
    if fraction is None:
        fraction, _ = redundancy_fraction(out_dir, data, result, guide)
    spacegroups = None
    if data.pool.structures is not None:
        from pymatgen.symmetry.analyzer import SpacegroupAnalyzer  # noqa: PLC0415 - structures only

        spacegroups = [SpacegroupAnalyzer(s, symprec=0.1).get_space_group_number()
                       for s in data.pool.model_input("alignn")]
    tables = redundancy_composition(data.pool.ids, data.dataset.formulas[data.dataset.positions(
        data.pool.ids)], result.removal_round, spacegroups=spacegroups, fraction=fraction)
    layout, dataset = StoreLayout(out_dir), data.dataset
    for name, table in tables.items():
        lio.write_csv(layout.redundancy(dataset.name, dataset.target, data.split.label, guide, name), table)
    return tables


def export_pruned(data: ExperimentData, result: PruningResult, fraction: float, path: Path) -> Path:
    """Write the pruned training set at ``fraction`` (ids, formula, target, standardized features)."""
    rows = result.retained_at(fraction)
    frame = pd.DataFrame(data.pool.X[rows], columns=data.dataset.feature_names)
    frame.insert(0, data.dataset.target, data.pool.y[rows])
    formulas = data.dataset.formulas[data.dataset.positions(data.pool.ids[rows])]
    frame.insert(0, "formula", formulas)
    frame.insert(0, "id", data.pool.ids[rows])
    return lio.write_csv(path, frame)


# --------------------------------------------------------------------------------------------------
# prune_data.py
# --------------------------------------------------------------------------------------------------
def prune_data_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="prune_data.py",
        description="Prune a dataset's pool with a guiding model (Li et al. 2023): order the entries "
                    "from redundant to informative, evaluate the retained sets with the guiding and the "
                    "transfer model on the ID test set, the unused pool and the OOD sets, and write where "
                    "the redundant data lies. Resumes after an interruption.",
        epilog="examples:\n  python codes/prune_data.py --dataset mp18_comp --target e_form --guide xgb\n"
               "  python codes/prune_data.py --dataset mp18_comp --target e_form --guide xgb --export 0.2",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(parser)
    parser.add_argument("--guide", choices=["xgb", "rf"], default="xgb", help="guiding model (default xgb)")
    parser.add_argument("--eval-models", type=comma_list, default=None,
                        help="models trained on the retained sets (default: the guide and the transfer "
                             "model, e.g. xgb,rf; add alignn for structure datasets)")
    parser.add_argument("--eval-fractions", type=fraction_list, default=None, metavar="F1,F2",
                        help="evaluate the rounds nearest these fractions instead of the profile's grid "
                             "(paper: every round); a later run into the same folder adds the missing ones")
    parser.add_argument("--export", type=float, default=None, metavar="FRACTION",
                        help="also write the pruned training set at this fraction of the pool to "
                             "OUT/pruned_<dataset>_<target>_<split>_<guide>_<fraction>.csv")
    parser.add_argument("--redundancy-fraction", type=unit_fraction, default=None, metavar="F",
                        help="compare removed and retained entries (OUT/redundancy/) at the retained set of "
                             "this fraction of the pool, 0 < F <= 1 (default: the smallest pruned fraction "
                             "whose guide-model ID-test RMSE is within 10 %% of the full-data RMSE, else "
                             f"{REDUNDANCY_FALLBACK_FRACTION:g})")
    add_run_args(parser)
    return parser


def _print_significant(tables: dict[str, pd.DataFrame], fraction: float, top: int = 8) -> None:
    """Print the element and arity enrichments that are more than chance (q < 0.05), or say there are none."""
    print(f"\nwhere the redundant data lies, at retained fraction {fraction:.4g} (groups with BH q < "
          f"{SIGNIFICANCE_Q:g} only; all groups in OUT/redundancy/):")
    columns = ["n_total", "n_removed", "n_retained", "enrichment", "enrichment_ci_low", "enrichment_ci_high",
               "q_value"]
    for name, group, label, singular in (
            ("elements", "element", "elements", "element"),
            ("n_elements", "arity_name", "numbers of elements", "number of elements")):
        table = tables.get(name)
        if table is None:
            continue
        significant = table[table["significant"]].sort_values("enrichment", ascending=False)
        over, under = significant[significant["enrichment"] > 1], significant[significant["enrichment"] < 1]
        if significant.empty:
            print(f"no {singular} is significantly over- or under-represented among the removed entries")
            continue
        if len(over):
            print(f"{label} over-represented among the removed entries ({len(over)} significant):")
            print_table(over.head(top)[[group, *columns]])
        if len(under):
            print(f"{label} under-represented among the removed entries, i.e. kept "
                  f"({len(under)} significant):")
            print_table(under.iloc[::-1].head(top)[[group, *columns]])


def prune_data_main(argv: Sequence[str] | None = None) -> int:
    args = prune_data_parser().parse_args(argv)
    models = args.eval_models or [args.guide, TRANSFER[args.guide]]
    check_models(models)
    if args.export is not None and not 0 < args.export <= 1:
        raise ValueError(f"--export {args.export} is outside (0, 1]")
    context = context_from(args)
    started = time.perf_counter()
    splits = split_data(context, args.dataset, args.target)
    if "alignn" in models:
        splits[0].pool.model_input("alignn")  # the clear composition-only error, before hours of pruning
    timings: dict[str, Any] = {"splits": {}}
    for data in splits:
        timings["splits"][data.split.label] = prune_one_split(args, context, data, models)
    timings["wall_seconds"] = round(time.perf_counter() - started, 2)
    store = ResultsStore(args.out)
    data = splits[0]
    store.write_manifest("prune_data", {**vars(args), "out": str(args.out)}, timings, manifest_data(data))
    write_summary(store)
    return 0


def prune_one_split(args: argparse.Namespace, context: RunContext, data: ExperimentData,
                    models: Sequence[str]) -> dict[str, Any]:
    """Pruning order, redundancy tables, export and evaluation cells on one ID hold-out split."""
    started = time.perf_counter()
    result, name = run_pruning(data, args.guide, context, progress=not args.no_progress)
    print(f"pruning ({args.guide}, split {data.split.label}): {result.n_rounds} rounds, threshold "
          f"{result.threshold:.4g}, pool {result.n_pool} -> {result.round_sizes[-1]} "
          f"({result.final_fraction:.2%}), stop: {result.stop_reason}, fits {result.fit_seconds.sum():.1f} s "
          f"of {result.round_seconds.sum():.1f} s")
    if args.redundancy_fraction is not None:
        result.round_at(args.redundancy_fraction)  # unreached: the clear error now, not after the evaluation
    if args.export is not None:
        path = export_pruned(data, result, args.export, StoreLayout(args.out).pruned_export(
            data.dataset.name, args.target, data.split.label, args.guide, args.export))
        print(f"exported the pruned set at {args.export:g} of the pool to {path}")
    cells = pruning_cells(data, args.guide, name, evaluation_sizes(result, args.profile, args.eval_fractions),
                          models)
    report = run_cells(cells, context, n_jobs=args.n_jobs, scheduler=args.scheduler,
                       progress=not args.no_progress, description=f"pruned sets ({args.guide})")
    print(f"{report.n_run} evaluation cells run, {report.n_skipped} already done, "
          f"wall {report.wall_seconds:.1f} s")
    # After the evaluation: the default fraction is read from the guide's scores of the pruned sets.
    if args.redundancy_fraction is not None:
        fraction, source = args.redundancy_fraction, "--redundancy-fraction"
    else:
        fraction, source = redundancy_fraction(Path(args.out), data, result, args.guide)
    print(f"\nredundancy tables at retained fraction {fraction:.4g} ({source})")
    tables = write_redundancy(data, result, args.guide, Path(args.out), fraction=fraction)
    _print_significant(tables, fraction)
    return {"wall_seconds": round(time.perf_counter() - started, 2), "rounds": result.n_rounds,
            "round_seconds": round(float(result.round_seconds.sum()), 2),
            "round_fit_seconds": round(float(result.fit_seconds.sum()), 2),
            "cells_run": report.n_run, "cells_skipped": report.n_skipped}
