"""The pruning study: run the pruning algorithm on a dataset's pool, evaluate its retained sets, export.

:mod:`lessdata.pruning` is the algorithm on arrays; this module connects it to the engine:

1. fit the guiding model on the full pool, set the threshold (κ × its ID-test MAE) and score that model
   as the 100 % point of the pruning curve (it is never fitted twice);
2. run the rounds (checkpointed after every round, so an interrupted run continues where it stopped);
3. store the order as a selection (most informative first: the training set of size n is its first n
   ids, equal to the retained set of the round where it had n entries);
4. evaluate the retained sets with the guiding model and the other tree model ("transfer"), and ALIGNN
   when asked for and structures exist, as independent cells through the runner (parallel, Dask);
5. write where the redundant data lies (by element, number of elements, formula, crystal system).
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
    print_table,
    write_summary,
)
from lessdata.evaluate import ExperimentData, score_model
from lessdata.models import available_cores, make_model
from lessdata.pruning import (
    PruningResult,
    prune,
    pruning_threshold,
    redundancy_composition,
    settings_from_profile,
)
from lessdata.runner import Cell, ResultsStore, RunContext, experiment_data, manifest_data, run_cells

TRANSFER = {"xgb": "rf", "rf": "xgb"}


def selection_name(dataset: str, target: str, guide: str) -> str:
    """Name of the stored pruning order of one dataset, target and guiding model."""
    return f"prune_{dataset}_{target}_{guide}"


def run_pruning(data: ExperimentData, guide: str, context: RunContext, *, progress: bool = True,
                n_threads: int | None = None) -> tuple[PruningResult, str]:
    """Threshold, rounds (resumable) and the stored selection for one guiding model.

    Returns:
        (the pruning result, the selection name in the results store).
    """
    store = ResultsStore(context.out_dir)
    name = selection_name(data.dataset.name, data.dataset.target, guide)
    kappa, settings = settings_from_profile(context.profile)
    threads = n_threads or available_cores()
    template = make_model(guide, profile=context.profile, n_threads=threads, random_state=0,
                          device=context.device)
    full_cell = Cell(data.dataset.name, data.dataset.target, "prune", guide, guide, 0, 1.0, len(data.pool))
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
            store.add([{**_cell_fields(full_cell), **row, "fit_seconds": round(fit_seconds, 3),
                        "profile": context.profile} for row in rows])
        lio.write_json(threshold_path, {"threshold": threshold, "kappa": kappa, "guide": guide,
                                        "full_pool_fit_seconds": round(fit_seconds, 3)})
    result = prune(template, data.pool.X, data.pool.y, threshold, **settings, random_state=0,
                   checkpoint=store.selections_dir / f"{name}.npz", progress=progress)
    ranked = data.pool.ids[result.order[::-1]]
    store.save_selection(name, ranked, method="prune", guide=guide, threshold=threshold,
                         round_sizes=result.round_sizes.tolist(), stop_reason=result.stop_reason,
                         params=result.params)
    lio.write_csv(store.out_dir / f"prune_rounds_{data.dataset.name}_{data.dataset.target}_{guide}.csv",
                  result.rounds_frame())
    return result, name


def _cell_fields(cell: Cell) -> dict[str, Any]:
    return {"dataset": cell.dataset, "target": cell.target, "method": cell.method,
            "selector": cell.selector, "model": cell.model, "seed": cell.seed,
            "train_frac": cell.train_frac, "train_size": cell.train_size}


def evaluation_sizes(result: PruningResult, profile: str) -> list[int]:
    """Training-set sizes to evaluate: every round (``paper``) or the rounds nearest the profile's grid.

    Each size is the retained size of a round, so the training set (the first n ids of the selection)
    is exactly that round's retained set, the paper's pruned set.
    """
    grid = config.profile(profile)["prune"]["eval"]
    sizes = set(int(s) for s in result.round_sizes[1:])
    if grid != "rounds":
        sizes = {int(result.round_sizes[result.round_at(p)]) for p in grid if p >= result.final_fraction}
    return sorted(sizes)


def pruning_cells(data: ExperimentData, guide: str, selection: str, sizes: Sequence[int],
                  models: Sequence[str]) -> list[Cell]:
    """Evaluation cells of the retained sets (seed 0: the selection is deterministic)."""
    n_pool = len(data.pool)
    return [Cell(data.dataset.name, data.dataset.target, "prune", guide, model, 0, size / n_pool, size,
                 selection) for model in models for size in sizes]


def write_redundancy(data: ExperimentData, result: PruningResult, guide: str, out_dir: Path,
                     fraction: float | None = None) -> dict[str, pd.DataFrame]:
    """Where the redundant data lies: removed vs retained by element, arity, formula, symmetry."""
    spacegroups = None
    if data.pool.structures is not None:
        from pymatgen.symmetry.analyzer import SpacegroupAnalyzer  # noqa: PLC0415 - structures only

        spacegroups = [SpacegroupAnalyzer(s, symprec=0.1).get_space_group_number()
                       for s in data.pool.model_input("alignn")]
    tables = redundancy_composition(data.pool.ids, data.dataset.formulas[data.dataset.positions(
        data.pool.ids)], result.removal_round, spacegroups=spacegroups, fraction=fraction)
    stem = f"{data.dataset.name}_{data.dataset.target}_{guide}"
    for name, table in tables.items():
        lio.write_csv(out_dir / "redundancy" / f"{stem}_{name}.csv", table)
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
    parser.add_argument("--export", type=float, default=None, metavar="FRACTION",
                        help="also write the pruned training set at this fraction of the pool to "
                             "OUT/pruned_<dataset>_<target>_<guide>_<fraction>.csv")
    add_run_args(parser)
    return parser


def prune_data_main(argv: Sequence[str] | None = None) -> int:
    args = prune_data_parser().parse_args(argv)
    models = args.eval_models or [args.guide, TRANSFER[args.guide]]
    check_models(models)
    if args.export is not None and not 0 < args.export <= 1:
        raise ValueError(f"--export {args.export} is outside (0, 1]")
    context = context_from(args)
    started = time.perf_counter()
    data = experiment_data(context, args.dataset, args.target)
    if "alignn" in models:
        data.pool.model_input("alignn")  # the clear composition-only error, before hours of pruning
    print(data.dataset.summary())
    print(data.split.summary())
    result, name = run_pruning(data, args.guide, context, progress=not args.no_progress)
    print(f"pruning ({args.guide}): {result.n_rounds} rounds, threshold {result.threshold:.4g}, "
          f"pool {result.n_pool} -> {result.round_sizes[-1]} ({result.final_fraction:.2%}), "
          f"stop: {result.stop_reason}, fits {result.fit_seconds.sum():.1f} s of "
          f"{result.round_seconds.sum():.1f} s")
    tables = write_redundancy(data, result, args.guide, Path(args.out))
    print("\nelements most over-represented among the removed entries (elements in >= 1 % of the pool):")
    elements = tables["elements"]
    common = elements[elements["n_total"] >= max(10, 0.01 * result.n_pool)]
    print_table(common.sort_values("enrichment", ascending=False).head(8))
    if args.export is not None:
        path = export_pruned(data, result, args.export, Path(args.out) / (
            f"pruned_{data.dataset.name}_{args.target}_{args.guide}_{args.export:g}.csv"))
        print(f"exported the pruned set at {args.export:g} of the pool to {path}")
    cells = pruning_cells(data, args.guide, name, evaluation_sizes(result, args.profile), models)
    report = run_cells(cells, context, n_jobs=args.n_jobs, scheduler=args.scheduler,
                       progress=not args.no_progress, description=f"pruned sets ({args.guide})")
    print(f"{report.n_run} evaluation cells run, {report.n_skipped} already done, "
          f"wall {report.wall_seconds:.1f} s")
    store = ResultsStore(args.out)
    timings = {"wall_seconds": round(time.perf_counter() - started, 2), "rounds": result.n_rounds,
               "round_seconds": round(float(result.round_seconds.sum()), 2),
               "round_fit_seconds": round(float(result.fit_seconds.sum()), 2),
               "cells_run": report.n_run, "cells_skipped": report.n_skipped}
    store.write_manifest("prune_data", {**vars(args), "out": str(args.out)}, timings, manifest_data(data))
    write_summary(store)
    return 0
