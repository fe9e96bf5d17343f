"""Experiments: the study's steps as functions (random baseline, subset samplers, pruning, active learning).

Each step prepares every ID hold-out split, runs its cells into a results folder (resuming finished
work), then writes the run's manifest and refreshes ``summary.csv`` through one skeleton,
:func:`run_study`.  The steps take plain arguments, not parsed command lines, and print nothing: progress
lines go to ``say`` and the tables come back in a :class:`StudyResult`, so :mod:`lessdata.cli.scripts` decides
what the user sees and a notebook can run a step quietly.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from lessdata import config
from lessdata import files as lio
from lessdata.analysis.summary import interval_summary, summarize
from lessdata.evaluation.evaluate import ExperimentData
from lessdata.experiments import active, al_diagnostics
from lessdata.experiments.active import EVALUATED_MODELS
from lessdata.experiments.baseline import random_cells
from lessdata.experiments.pruning_study import (
    TRANSFER,
    evaluation_sizes,
    export_pruned,
    pruning_cells,
    redundancy_fraction,
    run_pruning,
    write_redundancy,
)
from lessdata.experiments.runner import (
    ResultsStore,
    RunContext,
    RunReport,
    experiment_data,
    manifest_data,
    run_cells,
)
from lessdata.experiments.store import StoreLayout
from lessdata.experiments.subsets import run_samplers, subset_cells, subset_sizes
from lessdata.models.factory import STRUCTURE_MODELS

#: Where a step's progress lines go (``print`` on the command line).
Say = Callable[[str], None]


def _silent(text: str) -> None:
    """The default ``say``: a step called from code prints nothing."""


@dataclass(frozen=True)
class StudyOptions:
    """What every step needs besides the run context and its own arguments."""

    dataset: str
    target: str
    n_jobs: int = 1
    scheduler: str | None = None
    progress: bool = True


@dataclass
class StudyResult:
    """What a step did (its manifest timings) and the results folder's refreshed summary.

    Attributes:
        timings: the manifest's ``timings`` block.
        summary: :func:`lessdata.analysis.summary.summarize` of every score in the folder.
        intervals: :func:`lessdata.analysis.summary.interval_summary`, as written to ``summary.csv`` (empty
        when
            there is nothing to bootstrap yet; then the file is left alone).
        tables: the step's own tables (active learning: ``curves`` and ``diagnostics``).
    """

    timings: dict[str, Any]
    summary: pd.DataFrame
    intervals: pd.DataFrame
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)


def split_data(context: RunContext, dataset: str, target: str, say: Say = _silent) -> list[ExperimentData]:
    """The prepared data of every ID hold-out split of a run (one, or one per ``--split-seeds``)."""
    seeds = (config.ID_SPLIT_SEED,) if context.id_test_ids else context.split_seeds
    prepared = [experiment_data(context, dataset, target, seed) for seed in seeds]
    say(prepared[0].dataset.summary())
    for data in prepared:
        say(data.split.summary())
    return prepared


def write_summary(store: ResultsStore) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The point summary of everything in the store, and its 95 % intervals, saved as ``summary.csv``.

    ``summary.csv`` holds the headline numbers with paired-bootstrap intervals
    (:func:`lessdata.analysis.summary.interval_summary`); the point summary adds the 5/10/20 % fractions.
    """
    summary = summarize(store.read())
    intervals = interval_summary(store.out_dir)
    if len(intervals):
        lio.write_csv(store.layout.summary, intervals)
    return summary, intervals


def run_study(script: str, context: RunContext, options: StudyOptions, record: Mapping[str, Any],
              work: Callable[[list[ExperimentData], dict[str, Any]], dict[str, Any]],
              say: Say = _silent) -> StudyResult:
    """Every step's skeleton: prepare the splits, run ``work``, write the manifest and the summary.

    ``work(splits, recorded)`` runs the step and returns its timings; it may add what it resolved on the
    data to ``recorded``, the manifest's copy of ``record`` (the step's arguments).  ``wall_seconds``
    covers the splits' preparation and the work, as in every manifest so far.
    """
    started = time.perf_counter()
    recorded = dict(record)
    splits = split_data(context, options.dataset, options.target, say)
    timings = work(splits, recorded)
    timings["wall_seconds"] = round(time.perf_counter() - started, 2)
    store = ResultsStore(context.out_dir)
    store.write_manifest(script, recorded, timings, manifest_data(splits[0]))
    summary, intervals = write_summary(store)
    return StudyResult(timings, summary, intervals)


def _record(given: Mapping[str, Any] | None, context: RunContext, options: StudyOptions,
            **arguments: Any) -> Mapping[str, Any]:
    """The manifest's record of a step: the caller's (the command line's arguments), else these."""
    if given is not None:
        return given
    return {**asdict(options), "profile": context.profile, "out": context.out_dir, **arguments}


def _cells_line(report: RunReport) -> str:
    """What the random baseline and the samplers say after their cells ran."""
    return (f"{report.n_run} cells run, {report.n_skipped} already done; wall {report.wall_seconds:.1f} s, "
            f"fits {report.fit_seconds:.1f} s")


# --------------------------------------------------------------------------------------------------
# Random subsets and subset samplers.
# --------------------------------------------------------------------------------------------------
def random_baseline(context: RunContext, options: StudyOptions, models: Sequence[str], *,
                    fractions: Sequence[float] | None = None, seeds: int | None = None,
                    record: Mapping[str, Any] | None = None, say: Say = _silent) -> StudyResult:
    """Random subsets of every split's pool over the profile's (or the given) fractions and seeds."""

    def work(splits: list[ExperimentData], recorded: dict[str, Any]) -> dict[str, Any]:
        data = splits[0]
        needs_graphs = [model for model in models if model in STRUCTURE_MODELS]
        if needs_graphs and not data.dataset.has_structures:
            data.pool.model_input(needs_graphs[0])  # raises the clear composition-only error
        cells = [cell for prepared in splits
                 for cell in random_cells(data.dataset.name, options.target, models, len(prepared.pool),
                                          profile=context.profile, fractions=fractions, seeds=seeds,
                                          split=prepared.split.label)]
        report = run_cells(cells, context, n_jobs=options.n_jobs, scheduler=options.scheduler,
                           progress=options.progress, description="random baseline")
        say(_cells_line(report))
        return {"cells_run": report.n_run, "cells_skipped": report.n_skipped,
                "fit_seconds": round(report.fit_seconds, 2)}

    record = _record(record, context, options, models=list(models), fractions=fractions, seeds=seeds)
    return run_study("random_baseline", context, options, record, work, say)


def select_subsets(context: RunContext, options: StudyOptions, methods: Sequence[str], models: Sequence[str],
                   *, fractions: Sequence[float] | None = None, seeds: int | None = None, guide: str = "xgb",
                   record: Mapping[str, Any] | None = None, say: Say = _silent) -> StudyResult:
    """Each sampler's orderings per split and seed, and the cells training on their first n entries.

    ``fractions`` default to the profile's random-subset grid below 100 %, ``seeds`` (a count) to the
    profile's seed count of the first model.
    """
    settings = config.profile(context.profile)
    grid = [f for f in (fractions or settings["size_grid"]) if f < 1]
    n_seeds = seeds or settings["seeds"].get(models[0], 1)

    def work(splits: list[ExperimentData], recorded: dict[str, Any]) -> dict[str, Any]:
        timings: dict[str, Any] = {"selection_seconds": {}}
        cells = []
        for data in splits:
            sizes = subset_sizes(grid, len(data.pool))
            for method in methods:
                runs = run_samplers(data, method, range(n_seeds), sizes, context, guide=guide,
                                    progress=options.progress)
                for run in runs:
                    state = "stored" if run.reused else "chosen"
                    say(f"{method} (split {data.split.label}, seed {run.seed}): {len(run.selections)} set "
                        f"sizes up to {max(sizes)} entries, {state} in {run.seconds:.1f} s")
                    timings["selection_seconds"][f"{method}/{data.split.label}/seed{run.seed}"] = round(
                        run.seconds, 3)
                cells += subset_cells(data, runs, models, grid)
        report = run_cells(cells, context, n_jobs=options.n_jobs, scheduler=options.scheduler,
                           progress=options.progress, description="subset samplers")
        say(_cells_line(report))
        timings.update(cells_run=report.n_run, cells_skipped=report.n_skipped,
                       fit_seconds=round(report.fit_seconds, 2))
        return timings

    record = _record(record, context, options, methods=list(methods), models=list(models),
                       fractions=fractions, seeds=seeds, guide=guide)
    return run_study("select_subsets", context, options, record, work, say)


# --------------------------------------------------------------------------------------------------
# Pruning.
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PruneOptions:
    """The pruning step's own arguments (``prune_data.py``'s flags of the same names).

    Attributes:
        guide: guiding model, ``xgb`` or ``rf``.
        models: models trained on the retained sets (default: the guide and its transfer model).
        eval_fractions: evaluate the rounds nearest these fractions instead of the profile's grid.
        export: also write the first run's pruned set at this fraction of the pool.
        redundancy_fraction: retained fraction of the redundancy tables (default: the smallest pruned
            fraction within 10 % of the full-data RMSE,
            :func:`~lessdata.experiments.pruning_study.redundancy_fraction`).
        prune_seeds: independent pruning runs; the redundancy tables and the export use the first.
    """

    guide: str = "xgb"
    models: Sequence[str] = ()
    eval_fractions: Sequence[float] | None = None
    export: float | None = None
    redundancy_fraction: float | None = None
    prune_seeds: Sequence[int] = (0,)

    @property
    def eval_models(self) -> list[str]:
        return list(self.models or (self.guide, TRANSFER[self.guide]))


#: Receives each split's redundancy tables and their retained fraction as soon as they are written.
OnRedundancy = Callable[[dict[str, pd.DataFrame], float], None]


def prune_data(context: RunContext, options: StudyOptions, prune: PruneOptions, *,
               record: Mapping[str, Any] | None = None, say: Say = _silent,
               on_redundancy: OnRedundancy | None = None) -> StudyResult:
    """Pruning orders, evaluation cells, export and redundancy tables on every ID split.

    The manifest's timings hold one block per split (:func:`prune_one_split`).
    """
    models = prune.eval_models

    def work(splits: list[ExperimentData], recorded: dict[str, Any]) -> dict[str, Any]:
        needs_graphs = [model for model in models if model in STRUCTURE_MODELS]
        if needs_graphs:  # the clear composition-only error, before hours of pruning
            splits[0].pool.model_input(needs_graphs[0])
        return {"splits": {data.split.label: prune_one_split(context, options, prune, data, say=say,
                                                             on_redundancy=on_redundancy)
                           for data in splits}}

    record = _record(record, context, options, **asdict(prune))
    return run_study("prune_data", context, options, record, work, say)


def prune_one_split(context: RunContext, options: StudyOptions, prune: PruneOptions, data: ExperimentData,
                    *, say: Say = _silent, on_redundancy: OnRedundancy | None = None) -> dict[str, Any]:
    """Pruning orders, redundancy tables, export and evaluation cells on one ID hold-out split."""
    timings: dict[str, Any] = {}
    first, *others = prune.prune_seeds
    for seed in others:  # the extra runs first: the first run's redundancy tables read every score
        timings[f"seed{seed}"] = prune_one_run(context, options, prune, data, seed, say=say)
    timings.update(prune_one_run(context, options, prune, data, first, analyse=True, say=say,
                                 on_redundancy=on_redundancy))
    return timings


def prune_one_run(context: RunContext, options: StudyOptions, prune: PruneOptions, data: ExperimentData,
                  seed: int, *, analyse: bool = False, say: Say = _silent,
                  on_redundancy: OnRedundancy | None = None) -> dict[str, Any]:
    """One pruning run (``seed``) and its evaluation cells; with ``analyse``, the export and the
    redundancy tables too."""
    started = time.perf_counter()
    guide, out = prune.guide, Path(context.out_dir)
    result, name = run_pruning(data, guide, context, progress=options.progress, seed=seed)
    say(f"pruning ({guide}, split {data.split.label}, seed {seed}): {result.n_rounds} rounds, "
        f"threshold {result.threshold:.4g}, pool {result.n_pool} -> {result.round_sizes[-1]} "
        f"({result.final_fraction:.2%}), stop: {result.stop_reason}, fits {result.fit_seconds.sum():.1f} s "
        f"of {result.round_seconds.sum():.1f} s")
    if analyse and prune.redundancy_fraction is not None:
        result.round_at(prune.redundancy_fraction)  # unreached: the clear error now, not after the evaluation
    if analyse and prune.export is not None:
        path = export_pruned(data, result, prune.export, StoreLayout(out).pruned_export(
            data.dataset.name, options.target, data.split.label, guide, prune.export))
        say(f"exported the pruned set at {prune.export:g} of the pool to {path}")
    sizes = evaluation_sizes(result, context.profile, prune.eval_fractions, guide=guide)
    cells = pruning_cells(data, guide, name, sizes, prune.eval_models, seed=seed)
    report = run_cells(cells, context, n_jobs=options.n_jobs, scheduler=options.scheduler,
                       progress=options.progress, description=f"pruned sets ({guide})")
    say(f"{report.n_run} evaluation cells run, {report.n_skipped} already done, "
        f"wall {report.wall_seconds:.1f} s")
    timings = {"wall_seconds": round(time.perf_counter() - started, 2), "rounds": result.n_rounds,
               "round_seconds": round(float(result.round_seconds.sum()), 2),
               "round_fit_seconds": round(float(result.fit_seconds.sum()), 2),
               "cells_run": report.n_run, "cells_skipped": report.n_skipped}
    if not analyse:
        return timings
    # After the evaluation: the default fraction is read from the guide's scores of the pruned sets.
    if prune.redundancy_fraction is not None:
        fraction, source = prune.redundancy_fraction, "--redundancy-fraction"
    else:
        fraction, source = redundancy_fraction(out, data, result, guide)
    say(f"\nredundancy tables at retained fraction {fraction:.4g} ({source})")
    tables = write_redundancy(data, result, guide, out, fraction=fraction)
    if on_redundancy is not None:
        on_redundancy(tables, fraction)
    return {**timings, "wall_seconds": round(time.perf_counter() - started, 2)}


# --------------------------------------------------------------------------------------------------
# Active learning.
# --------------------------------------------------------------------------------------------------
def run_al(context: RunContext, options: StudyOptions, strategies: Sequence[str], *,
           seeds: Sequence[int] | None = None, init_frac: float | None = None, step_frac: float | None = None,
           stop_frac: float | None = None, full_reference: bool = False,
           record: Mapping[str, Any] | None = None, say: Say = _silent) -> StudyResult:
    """Strategy x seed campaigns on every split; with ``full_reference``, XGB and RF on the whole pool.

    ``seeds`` default to 0..n-1 with the profile's XGB seed count.  Besides the summary, the result's
    tables hold the XGB ID-test ``curves`` of the strategies (random first) and the ``diagnostics``
    means of this dataset and target.
    """
    seeds = list(range(config.profile(context.profile)["seeds"]["xgb"])) if seeds is None else list(seeds)
    dataset = options.dataset  # the registered name, once the work has loaded it

    def work(splits: list[ExperimentData], recorded: dict[str, Any]) -> dict[str, Any]:
        nonlocal dataset
        data = splits[0]
        dataset = data.dataset.name
        campaigns = [campaign for prepared in splits
                     for campaign in active.campaigns_for(dataset, options.target, strategies, seeds,
                                                          profile=context.profile, init_frac=init_frac,
                                                          step_frac=step_frac, stop_frac=stop_frac,
                                                          split=prepared.split.label)]
        plan = campaigns[0].plan(len(data.pool))  # refuses a step too small for the pool before any work
        say(f"{len(campaigns)} campaigns ({', '.join(strategies)} x seeds {seeds}); {len(plan)} steps "
            f"at {plan.fractions[0]:g}..{plan.fractions[-1]:g} of the pool "
            f"({plan.sizes[0]}..{plan.sizes[-1]} rows)")
        report = active.run_campaigns(campaigns, context, n_jobs=options.n_jobs, scheduler=options.scheduler,
                                      progress=options.progress)
        say(f"{len(report.campaigns)} campaigns run ({report.steps_run} steps), {report.n_skipped} already "
            f"finished; wall {report.wall_seconds:.1f} s, fits {report.fit_seconds:.1f} s")
        timings: dict[str, Any] = {
            "campaigns_run": len(report.campaigns), "campaigns_skipped": report.n_skipped,
            "steps_run": report.steps_run, "fit_seconds": round(report.fit_seconds, 2),
            "campaigns": [{"name": c.name, "steps_run": c.steps_run, "wall_seconds": round(c.wall_seconds, 2),
                           "fit_seconds": round(c.fit_seconds, 2)} for c in report.campaigns]}
        if full_reference:
            cells = [cell for prepared in splits
                     for cell in random_cells(dataset, options.target, list(EVALUATED_MODELS),
                                              len(prepared.pool), profile=context.profile, fractions=[1.0],
                                              seeds=seeds, split=prepared.split.label)]
            reference = run_cells(cells, context, n_jobs=options.n_jobs, scheduler=options.scheduler,
                                  progress=options.progress, description="full-pool reference")
            say(f"full-pool reference: {reference.n_run} cells run, {reference.n_skipped} already done; wall "
                f"{reference.wall_seconds:.1f} s")
            timings["reference_wall_seconds"] = round(reference.wall_seconds, 2)
        recorded.update(seeds=seeds, fractions=list(plan.fractions))
        return timings

    record = _record(record, context, options, strategies=list(strategies), seeds=seeds, init_frac=init_frac,
                     step_frac=step_frac, stop_frac=stop_frac, full_reference=full_reference)
    result = run_study("run_al", context, options, record, work, say)
    shown = list(dict.fromkeys(["random", *strategies]))
    result.tables["curves"] = active.learning_curves(ResultsStore(context.out_dir).read(), dataset=dataset,
                                                     target=options.target, strategies=shown)
    diagnostics = al_diagnostics.DiagnosticsTable(context.out_dir).read()
    if len(diagnostics):
        diagnostics = diagnostics[(diagnostics["dataset"] == dataset)
                                  & (diagnostics["target"] == options.target)]
    result.tables["diagnostics"] = al_diagnostics.diagnostics_summary(diagnostics)
    return result
