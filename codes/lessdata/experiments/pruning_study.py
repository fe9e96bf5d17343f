"""The pruning study: run the pruning algorithm on a dataset's pool, evaluate its retained sets, export.

:func:`run_pruning` connects :mod:`lessdata.selection.pruning` to the engine (threshold, checkpointed
rounds, stored
selection), :func:`pruning_cells` lists the cells that evaluate the retained sets, :func:`write_redundancy`
records where the redundant data lies; ``codes/prune_data.py`` (through :mod:`lessdata.experiments.studies`)
drives them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lessdata import config
from lessdata import files as lio
from lessdata.analysis.summary import summarize
from lessdata.errors import LessdataError
from lessdata.evaluation.evaluate import ExperimentData, score_model
from lessdata.experiments.runner import (
    Cell,
    ResultsStore,
    RunContext,
)
from lessdata.experiments.store import DEFAULT_SPLIT, StoreLayout
from lessdata.models.factory import available_cores, make_model
from lessdata.selection.pruning import (
    PruningResult,
    prune,
    pruning_threshold,
    settings_from_profile,
    threshold_source,
)
from lessdata.selection.redundancy import redundancy_composition

TRANSFER = {"xgb": "rf", "rf": "xgb"}

#: Pruning run ``s`` splits round ``r`` with seed ``s * PRUNE_SEED_STRIDE + r``: runs never share a round
#: seed (a run stops long before this many rounds; the profiles cap it at 2,000).
PRUNE_SEED_STRIDE = 100_000


def selection_name(dataset: str, target: str, guide: str, split: str = DEFAULT_SPLIT, seed: int = 0) -> str:
    """Name of the stored pruning order of one dataset, target, ID split, guiding model and pruning seed."""
    return StoreLayout.pruning_name(dataset, target, split, guide, seed)


def run_pruning(data: ExperimentData, guide: str, context: RunContext, *, progress: bool = True,
                n_threads: int | None = None, seed: int = 0) -> tuple[PruningResult, str]:
    """Threshold, rounds (resumable) and the stored selection for one guiding model.

    ``seed`` makes an independent pruning run: the guide's own seed, the seed of its full-pool fit (so
    the threshold too) and the round splits (:data:`PRUNE_SEED_STRIDE`).  Seed 0 is the study's default
    run; several seeds measure how much a pruned curve owes to one run's randomness.

    Returns:
        (the pruning result, the selection name in the results store).
    """
    store = ResultsStore(context.out_dir)
    name = selection_name(data.dataset.name, data.dataset.target, guide, data.split.label, seed)
    kappa, settings = settings_from_profile(context.profile)
    threads = n_threads or available_cores()
    overrides = guide_overrides(context.profile, guide)
    template = make_model(guide, profile=context.profile, n_threads=threads, random_state=seed,
                          device=context.device, **overrides)
    full_cell = Cell(data.dataset.name, data.dataset.target, "prune", guide, guide, seed, 1.0, len(data.pool),
                     split=data.split.label)
    threshold_path = store.layout.pruning_threshold(name)
    if threshold_path.exists():
        saved = lio.read_json(threshold_path)
        try:
            threshold = float(saved["threshold"])
        except (KeyError, TypeError, ValueError) as error:  # a damaged file
            raise LessdataError(f"{threshold_path} holds no pruning threshold ({type(error).__name__}: "
                                f"{error}); delete it to recompute the threshold") from error
    else:
        started = time.perf_counter()
        source = threshold_source(context.profile)
        threshold, full_model = pruning_threshold(template, data.pool.X, data.pool.y, data.test.X,
                                                  data.test.y, kappa=kappa, source=source)
        fit_seconds = time.perf_counter() - started
        # A guide with its own settings is not the evaluation model: its full-pool fit sets the
        # threshold only, and the pruned curve's 100 % point is an evaluation cell (pruning_cells).
        if not overrides and full_cell.key() not in store.done_keys():
            rows = score_model(full_model, guide, data, np.arange(len(data.pool)))
            store.add([{**full_cell.fields(), **row, "fit_seconds": round(fit_seconds, 3),
                        "profile": context.profile} for row in rows])
        lio.write_json(threshold_path, {"threshold": threshold, "kappa": kappa, "guide": guide,
                                        "source": source, **({"seed": seed} if seed else {}),
                                        "full_pool_fit_seconds": round(fit_seconds, 3)})
    result = prune(template, data.pool.X, data.pool.y, threshold, **settings,
                   random_state=seed * PRUNE_SEED_STRIDE,
                   checkpoint=store.layout.pruning_checkpoint(name), progress=progress)
    ranked = data.pool.ids[result.order[::-1]]
    store.save_selection(name, ranked, method="prune", guide=guide, threshold=threshold,
                         round_sizes=result.round_sizes.tolist(), stop_reason=result.stop_reason,
                         params=result.params, **({"seed": seed} if seed else {}))
    lio.write_csv(store.layout.prune_rounds(data.dataset.name, data.dataset.target, data.split.label, guide,
                                            seed), result.rounds_frame())
    return result, name


def guide_overrides(profile: str, guide: str) -> dict[str, Any]:
    """Hyperparameters in which a profile's guiding model departs from its evaluation model (often none)."""
    return dict(config.profile(profile)["prune"].get("guide_overrides", {}).get(guide, {}))


def evaluation_sizes(result: PruningResult, profile: str, fractions: Sequence[float] | None = None,
                     guide: str | None = None) -> list[int]:
    """Training-set sizes to evaluate: every round (``paper``) or the rounds nearest the profile's grid.

    Each size is the retained size of a round, so the training set (the first n ids of the selection)
    is exactly that round's retained set, the paper's pruned set.  ``fractions`` replaces the profile's
    grid (e.g. a few fractions first; every round later, in the same folder, adds the rest).  When the
    profile's ``guide`` has its own settings the whole pool is evaluated too (the guide's own full-pool
    fit is not an evaluation model's).
    """
    grid = config.profile(profile)["prune"]["eval"] if fractions is None else list(fractions)
    sizes = set(int(s) for s in result.round_sizes[1:])
    if grid != "rounds":
        sizes = {int(result.round_sizes[result.round_at(p)]) for p in grid if p >= result.final_fraction}
    if guide is not None and guide_overrides(profile, guide):
        sizes.add(int(result.n_pool))
    return sorted(sizes)


def pruning_cells(data: ExperimentData, guide: str, selection: str, sizes: Sequence[int],
                  models: Sequence[str], seed: int = 0) -> list[Cell]:
    """Evaluation cells of the retained sets of pruning run ``seed`` (also the evaluation models' seed)."""
    n_pool = len(data.pool)
    return [Cell(data.dataset.name, data.dataset.target, "prune", guide, model, seed, size / n_pool, size,
                 selection, split=data.split.label) for model in models for size in sizes]


#: Retained fraction of the redundancy tables when the guide's pruned curve has no within-10 % point.
REDUNDANCY_FALLBACK_FRACTION = 0.3


def redundancy_fraction(out_dir: Path, data: ExperimentData, result: PruningResult,
                        guide: str) -> tuple[float, str]:
    """Retained fraction at which to compare removed and retained entries, and how it was chosen.

    At the end of pruning (~300 kept, 99 % removed, the last rounds close to random) every enrichment is
    noise.  The meaningful point is where the retained set still does the job: the smallest evaluated
    pruned fraction whose guide-model ID-test RMSE is within 10 % of the full-data RMSE, read from the
    results store (column ``frac_within_10pct`` of :func:`lessdata.analysis.summary.summarize`, method
    ``prune``,
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
    (see :func:`lessdata.selection.redundancy.enrichment_statistics`).
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
