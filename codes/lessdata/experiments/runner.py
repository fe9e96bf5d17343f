"""Cells, executors and the resumable results store.

A :class:`Cell` is one (dataset, target, method, selector, model, seed, training size) evaluation;
:func:`run_cells` runs cells in local processes or on a Dask cluster and skips every cell whose rows
``DIR/scores.csv`` already holds.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from tqdm.auto import tqdm

from lessdata import config
from lessdata.errors import LessdataError
from lessdata.evaluation.evaluate import ExperimentData, fit_and_score, prepare
from lessdata.experiments.store import (
    DEFAULT_SPLIT,
    KEY_COLUMNS,
    SCORE_COLUMNS,
    ResultsStore,
    SettingsMismatchError,
    key_of,
)
from lessdata.models.factory import threads_per_worker

__all__ = ["KEY_COLUMNS", "SCORE_COLUMNS", "Cell", "ResultsStore", "RunContext", "SettingsMismatchError",
           "map_tasks", "run_cells"]

T = TypeVar("T")


@dataclass(frozen=True)
class Cell:
    """One evaluation: train ``model`` on a subset of the pool, score it on every evaluation set.

    ``selection`` names an ordered id list in ``DIR/selections/<selection>.json`` (pruning order, AL
    path); the training set is its first ``train_size`` ids.  Empty for random draws, whose subset is
    the first ``train_size`` of a permutation of the pool seeded by ``seed``.
    """

    dataset: str
    target: str
    method: str
    selector: str
    model: str
    seed: int
    train_frac: float
    train_size: int
    selection: str = ""
    split: str = DEFAULT_SPLIT

    def key(self) -> tuple:
        """Identity of the cell in the results table (:data:`lessdata.experiments.store.KEY_COLUMNS`)."""
        return key_of(self.fields())

    def fields(self) -> dict[str, Any]:
        """The key columns of the cell's rows."""
        return {"dataset": self.dataset, "target": self.target, "split": self.split, "method": self.method,
                "selector": self.selector, "model": self.model, "seed": int(self.seed),
                "train_frac": float(self.train_frac), "train_size": int(self.train_size)}


@dataclass(frozen=True)
class RunContext:
    """What every cell needs besides itself (picklable, sent to workers)."""

    out_dir: str
    profile: str = "quick"
    ood: tuple[str, ...] | None = None
    device: str = "cpu"
    n_threads: int = 1
    data_dir: str = field(default_factory=lambda: str(config.data_dir()))
    id_test_ids: str | None = None
    split_seeds: tuple[int, ...] = (config.ID_SPLIT_SEED,)

    def with_threads(self, n_threads: int) -> RunContext:
        """The same context with another thread count per model."""
        return replace(self, n_threads=n_threads)


@functools.lru_cache(maxsize=4)
def _prepared(out_dir: str, data_dir: str, dataset: str, target: str, ood: tuple[str, ...] | None,
              split_seed: int, id_test_ids: str | None) -> ExperimentData:
    """Experiment data loaded once per worker process (features come from the on-disk cache)."""
    return prepare(dataset, target, ood=None if ood is None else list(ood), split_dir=out_dir,
                   split_seed=split_seed, id_test_ids=id_test_ids)


def experiment_data(context: RunContext, dataset: str, target: str, split_seed: int | None = None
                    ) -> ExperimentData:
    """The (cached) prepared data of a dataset/target under a run context.

    Workers (loky processes, Dask workers) read datasets from the folder the run was started with, so
    the context's data folder is made this process's before loading.

    Args:
        split_seed: seed of the random ID hold-out (default: the context's first); ignored when the
            context names a file of ID-test ids.
    """
    os.environ["LESSDATA_DATA_DIR"] = context.data_dir
    seed = context.split_seeds[0] if split_seed is None else int(split_seed)
    return _prepared(context.out_dir, context.data_dir, dataset, target, context.ood, seed,
                     context.id_test_ids)


def split_seed_of(label: str) -> int:
    """The hold-out seed behind a split label (``s3`` -> 3; a given id list -> the default seed)."""
    return int(label[1:]) if label.startswith("s") and label[1:].isdigit() else config.ID_SPLIT_SEED


def cell_data(context: RunContext, cell: Cell) -> ExperimentData:
    """The prepared data of the split a cell belongs to."""
    return experiment_data(context, cell.dataset, cell.target, split_seed_of(cell.split))


def pool_permutation(seed: int, n_pool: int) -> np.ndarray:
    """The seeded order of the pool that random subsets take prefixes of.

    The one definition behind the random baseline and random active learning: random AL's training
    sets equal the baseline's at the same fraction and seed because both take prefixes of this order.
    """
    return np.random.default_rng(seed).permutation(n_pool)


def subset_rows(cell: Cell, data: ExperimentData, store: ResultsStore) -> np.ndarray:
    """Pool positions of a cell's training subset."""
    n_pool = len(data.pool)
    if not cell.selection:
        return pool_permutation(cell.seed, n_pool)[: cell.train_size]
    ids = store.load_selection(cell.selection)["ids"][: cell.train_size]
    lookup = pd.Index(data.pool.ids)
    rows = lookup.get_indexer(ids)
    if (rows < 0).any():
        raise LessdataError(f"selection {cell.selection!r} has ids outside the pool of {cell.dataset}; the "
                            "results folder mixes runs on different data: use another --out folder")
    return rows


def execute_cell(cell: Cell, context: RunContext) -> list[dict[str, Any]]:
    """Run one cell and return its rows (one per evaluation set)."""
    data = cell_data(context, cell)
    rows = subset_rows(cell, data, ResultsStore(context.out_dir))
    scored, _ = fit_and_score(cell.model, data, rows, profile=context.profile, seed=cell.seed,
                              n_threads=context.n_threads, device=context.device)
    return [{**cell.fields(), **row, "profile": context.profile} for row in scored]


@dataclass
class RunReport:
    """What a :func:`run_cells` call did."""

    n_cells: int = 0
    n_skipped: int = 0
    n_run: int = 0
    wall_seconds: float = 0.0
    fit_seconds: float = 0.0


def run_cells(cells: list[Cell], context: RunContext, *, n_jobs: int = 1, scheduler: str | None = None,
              progress: bool = True, description: str = "cells") -> RunReport:
    """Execute the cells not yet in ``DIR/scores.csv``; store each one's rows as soon as it finishes.

    Args:
        cells: the cells of an experiment (duplicates are run once).
        context: output folder, profile, OOD sets, device.  ``context.n_threads`` is replaced by the
            cores per worker for local runs, so processes x threads never exceed the cores.
        n_jobs: local worker processes (1: in this process).
        scheduler: address of a dask.distributed scheduler (``tcp://host:8786``); overrides n_jobs.
        progress: progress bar with ETA.
        description: label of the progress bar.
    """
    store = ResultsStore(context.out_dir)
    unique = list(dict.fromkeys(cells))
    done = store.done_keys()
    todo = [cell for cell in unique if cell.key() not in done]
    # Largest fits first: the long ones start early, the short ones fill the gaps at the end.
    todo.sort(key=lambda cell: (-cell.train_size, cell.key()))
    report = RunReport(n_cells=len(unique), n_skipped=len(unique) - len(todo))
    started = time.perf_counter()
    if not todo:
        return report
    bar = tqdm(total=len(todo), desc=description, unit="cell", disable=not progress, dynamic_ncols=True)
    # Local workers split the cores between them; Dask workers bring their own thread settings.
    local = context if scheduler else context.with_threads(threads_per_worker(min(n_jobs, len(todo))))
    for rows in map_tasks(execute_cell, todo, n_jobs=n_jobs, scheduler=scheduler, context=local):
        store.add(rows)
        report.n_run += 1
        report.fit_seconds += float(rows[0]["fit_seconds"]) if rows else 0.0
        bar.update(1)
    bar.close()
    report.wall_seconds = time.perf_counter() - started
    return report


def map_tasks(function: Callable[..., T], items: Iterable[Any], *, n_jobs: int = 1,
              scheduler: str | None = None, **kwargs: Any) -> Iterator[T]:
    """Yield ``function(item, **kwargs)`` for every item, in the order the results complete.

    The one executor of the package: evaluation cells and active-learning campaigns both run through
    it, so the same command scales from one process to local workers to a Dask cluster.  Results are
    yielded as they arrive, which lets the caller store each one at once (a crash loses only the
    tasks in flight).

    Args:
        function: a module-level (picklable) function; it runs in worker processes.
        items: the tasks' first arguments.
        n_jobs: local worker processes (loky); 1 runs the tasks here, one after the other, in order.
        scheduler: address of a dask.distributed scheduler (``tcp://host:8786``); overrides ``n_jobs``.
            Workers must see the same data and output folders.
        **kwargs: passed to every call (e.g. ``context=``); names must not clash with
            ``Client.map``'s own keywords (``key``, ``workers``, ``pure`` ...) on the Dask path.

    Yields:
        Each task's return value.
    """
    items = list(items)
    if scheduler:
        from dask.distributed import Client, as_completed  # noqa: PLC0415 - only for cluster runs

        with Client(scheduler) as client:
            futures = client.map(function, items, pure=False, **kwargs)
            for future in as_completed(futures):
                yield future.result()
        return
    if n_jobs <= 1 or len(items) <= 1:
        for item in items:
            yield function(item, **kwargs)
        return
    parallel = Parallel(n_jobs=min(n_jobs, len(items)), backend="loky", return_as="generator_unordered")
    yield from parallel(delayed(function)(item, **kwargs) for item in items)


def size_of(fraction: float, n_pool: int) -> int:
    """Training-set size for a fraction of the pool (at least one entry)."""
    return max(1, int(round(fraction * n_pool)))


def manifest_data(data: ExperimentData) -> dict[str, Any]:
    """Hashes and counts of the data a run used (for its manifest)."""
    split = data.split.to_dict()
    return {"dataset": data.dataset.name, "target": data.dataset.target,
            "provenance": json.loads(json.dumps(data.dataset.provenance, default=str)),
            "split": {name: {"n": block["n"], "sha256": block["sha256"]}
                      for name, block in [("pool", split["pool"]), ("id_test", split["id_test"]),
                                          *split["ood"].items()]}}
