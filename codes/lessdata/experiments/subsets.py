"""Subset samplers as an experiment: orderings stored per seed, their prefixes evaluated like random subsets.

:func:`run_samplers` computes (or reuses) each sampler's stored ordering and :func:`subset_cells` lists
the cells that train on its first n ids; :mod:`lessdata.experiments.runner` runs them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lessdata.errors import LessdataError
from lessdata.evaluation.evaluate import ExperimentData
from lessdata.experiments.pruning_study import run_pruning
from lessdata.experiments.runner import Cell, RunContext, size_of
from lessdata.experiments.store import ResultsStore, StoreLayout
from lessdata.selection import registry as selectors
from lessdata.selection.samplers import PoolView


@dataclass(frozen=True)
class SamplerRun:
    """Where one sampler's sets are stored, and what choosing them cost."""

    method: str
    selector: str
    seed: int
    selections: dict[int, str]  # training size -> stored selection whose first `size` ids are the set
    seconds: float
    reused: bool


def _stored(store: ResultsStore, name: str, n_pool: int, needed: int) -> float | None:
    """Seconds the stored selection took, when it exists for this pool and holds ``needed`` ids."""
    if not store.layout.selection(name).exists():
        return None
    saved = store.load_selection(name)
    if saved.get("n_pool") != n_pool or len(saved["ids"]) < needed:
        return None
    return float(saved.get("seconds", float("nan")))


def run_samplers(data: ExperimentData, method: str, seeds: Sequence[int], sizes: Sequence[int],
                 context: RunContext, *, guide: str = "xgb", progress: bool = True) -> list[SamplerRun]:
    """Compute the orderings of one sampler for each seed (reusing stored ones) and store them.

    A nested sampler is run once per seed for the largest size; one that is not is run per size.
    A sampler that reads the pruning order uses the guide's pruning stored in the same folder.

    Raises:
        LessdataError: the sampler needs a pruning order the folder does not hold.
    """
    record = selectors.get(method)
    store = ResultsStore(context.out_dir)
    split, n_pool = data.split.label, len(data.pool)
    selector = guide if record.needs_pruning else ""
    pruning = None
    if record.needs_pruning:
        name = StoreLayout.pruning_name(data.dataset.name, data.dataset.target, split, guide)
        if not store.layout.pruning_checkpoint(name).exists():
            raise LessdataError(
                f"{method} reads the {guide}-guided pruning order of split {split}, which {context.out_dir} "
                f"does not hold: run prune_data.py --guide {guide} with the same --out, --profile and split "
                "options first")
        pruning, _ = run_pruning(data, guide, context, progress=progress)
        if pruning.stop_reason is None:
            raise LessdataError(f"the {guide}-guided pruning of split {split} in {context.out_dir} is not "
                                "finished; rerun prune_data.py to complete it first")
    view = PoolView(data.pool.X, pruning)
    runs = []
    for seed in seeds:
        budgets = [max(sizes)] if record.nested else sorted(set(sizes))
        selections, seconds, reused = {}, 0.0, True
        for budget in budgets:
            name = StoreLayout.subset_name(data.dataset.name, data.dataset.target, split, method, selector,
                                           seed, None if record.nested else budget)
            took = _stored(store, name, n_pool, budget)
            if took is None:
                started = time.perf_counter()
                positions = np.asarray(record.sampler(view, budget, np.random.default_rng(seed)),
                                       dtype=np.int64)
                took = time.perf_counter() - started
                if len(positions) != budget or len(np.unique(positions)) != budget:
                    raise RuntimeError(f"sampler {method!r} returned {len(positions)} positions for a "
                                       f"budget of {budget} distinct entries")
                store.save_selection(name, data.pool.ids[positions], method=method, selector=selector,
                                     seed=int(seed), split=split, n_pool=n_pool, nested=record.nested,
                                     seconds=round(took, 3))
                reused = False
            seconds += took
            for size in sizes:
                if record.nested or size == budget:
                    selections[int(size)] = name
        runs.append(SamplerRun(method, selector, int(seed), selections, seconds, reused))
    return runs


def subset_sizes(fractions: Sequence[float], n_pool: int) -> list[int]:
    """Training sizes of the fractions below the whole pool (the full-data point is random's).

    Raises:
        LessdataError: a fraction outside (0, 1].
    """
    for fraction in fractions:
        if not 0 < fraction <= 1:
            raise LessdataError(f"training fraction {fraction} is outside (0, 1]")
    return sorted({size_of(fraction, n_pool) for fraction in fractions if fraction < 1})


def subset_cells(data: ExperimentData, runs: Sequence[SamplerRun], models: Sequence[str],
                 fractions: Sequence[float]) -> list[Cell]:
    """One cell per sampler run, model and fraction: train on the first ``size`` ids of its selection.

    The fraction is kept as given (like the random baseline's), so both methods' rows at "10 %" pair.
    """
    n_pool = len(data.pool)
    return [Cell(data.dataset.name, data.dataset.target, run.method, run.selector, model, run.seed,
                 float(fraction), size_of(fraction, n_pool), run.selections[size_of(fraction, n_pool)],
                 split=data.split.label)
            for run in runs for model in models for fraction in sorted(fractions) if fraction < 1]
