"""Active-learning campaigns: the resumable loop that grows a training set with a query strategy.

From a seeded 1 % of the pool, each step fits XGB and RF on the selected set, stores their scores, asks
the strategy (:mod:`lessdata.selection.registry`, :mod:`lessdata.selection.strategies`) for the next batch
and checkpoints
the selection, so an interrupted campaign ends exactly like an uninterrupted one.  Each step also writes
why the strategy works or not (``al_diagnostics.csv``; see ``docs/decisions.md``).  The loop itself,
free of files, is :func:`al_steps`: :func:`run_campaign` and :func:`lessdata.active_learning` (a user's
own arrays) both run it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from tqdm.auto import tqdm

from lessdata import config
from lessdata import files as lio
from lessdata.errors import LessdataError
from lessdata.evaluation.evaluate import ExperimentData, fit_and_score
from lessdata.experiments.al_diagnostics import DIAGNOSTIC_COLUMNS, DiagnosticsTable, step_diagnostics
from lessdata.experiments.runner import (
    Cell,
    ResultsStore,
    RunContext,
    experiment_data,
    map_tasks,
    pool_permutation,
    size_of,
    split_seed_of,
)
from lessdata.experiments.store import DEFAULT_SPLIT, SettingsMismatchError
from lessdata.models.factory import make_model, threads_per_worker
from lessdata.models.ibug import IBUGRegressor
from lessdata.selection import registry as selectors
from lessdata.selection.strategies import QueryStrategy, random_query

#: Models the evaluator trains at every step (their fits and rows are part of every campaign).
EVALUATED_MODELS = ("xgb", "rf")


# --------------------------------------------------------------------------------------------------
# Campaigns.
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CampaignPlan:
    """Nominal training fractions of the steps and the training-set sizes they give on one pool."""

    fractions: tuple[float, ...]
    sizes: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.sizes)

    def batch(self, step: int) -> int:
        """Rows to query after evaluating ``step`` (0 after the last one)."""
        return self.sizes[step + 1] - self.sizes[step] if step + 1 < len(self.sizes) else 0

    @classmethod
    def of_fractions(cls, n_pool: int, init_frac: float, step_frac: float, stop_frac: float) -> CampaignPlan:
        """Steps at the nominal fractions ``init_frac + i x step_frac`` (rounded to 6 decimals) up to
        ``stop_frac``, each of :func:`lessdata.experiments.runner.size_of` rows of a pool of ``n_pool``."""
        n_steps = int(math.floor((stop_frac - init_frac) / step_frac + 1e-9)) + 1
        fractions = tuple(round(init_frac + i * step_frac, 6) for i in range(n_steps))
        return cls(fractions, tuple(size_of(fraction, n_pool) for fraction in fractions))

    @property
    def grows(self) -> bool:
        """Whether every step adds at least one row (a too small step on a small pool adds none)."""
        return all(after > before for before, after in zip(self.sizes, self.sizes[1:], strict=False))


@dataclass(frozen=True)
class Campaign:
    """One active-learning run: a strategy from a seeded initial set up to a stop fraction.

    Training sets are nested: step ``i`` trains on the first ``sizes[i]`` rows of the campaign's
    selection.  Fractions are nominal (``init_frac + i x step_frac``, rounded to 6 decimals) and sizes
    are :func:`lessdata.experiments.runner.size_of` of them, exactly as in the random baseline, so random AL
    and
    baseline cells at the same fraction share their key in ``scores.csv``.
    """

    dataset: str
    target: str
    strategy: str
    seed: int
    init_frac: float = 0.01
    step_frac: float = 0.01
    stop_frac: float = 0.5
    split: str = DEFAULT_SPLIT

    def __post_init__(self) -> None:
        selectors.check_strategies([self.strategy])
        if not 0 < self.init_frac <= self.stop_frac <= 1:
            raise LessdataError(f"need 0 < init_frac <= stop_frac <= 1, got init_frac={self.init_frac}, "
                                f"stop_frac={self.stop_frac}")
        if not self.step_frac > 0:
            raise LessdataError(f"step_frac must be > 0, got {self.step_frac}")
        if self.seed < 0:
            raise LessdataError(f"seeds must be >= 0, got {self.seed}")

    @property
    def name(self) -> str:
        """Name of the campaign's selection (and checkpoint) in ``OUT/selections/``."""
        return f"al_{self.dataset}_{self.target}_{self.split}_{self.strategy}_seed{self.seed}"

    @property
    def selector(self) -> str:
        """The model(s) whose output chose the rows ("" for random): the ``selector`` column."""
        return "+".join(selectors.models_of(self.strategy))

    def plan(self, n_pool: int) -> CampaignPlan:
        """Fractions and sizes of the steps on a pool of ``n_pool`` rows.

        Raises:
            LessdataError: when a step would add no row (the pool is too small for ``step_frac``).
        """
        plan = CampaignPlan.of_fractions(n_pool, self.init_frac, self.step_frac, self.stop_frac)
        if not plan.grows:
            raise LessdataError(f"step_frac={self.step_frac} adds less than one row per step to a pool of "
                                f"{n_pool}; use a larger --step-frac")
        return plan

    def cell(self, model: str, step: int, plan: CampaignPlan) -> Cell:
        """The results-table cell of ``model`` evaluated at ``step`` (its key identifies the rows)."""
        return Cell(self.dataset, self.target, self.strategy, self.selector, model, self.seed,
                    plan.fractions[step], plan.sizes[step], self.name, split=self.split)


def campaigns_for(dataset: str, target: str, strategies: Sequence[str], seeds: Sequence[int], *,
                  profile: str = "quick", init_frac: float | None = None, step_frac: float | None = None,
                  stop_frac: float | None = None, split: str = DEFAULT_SPLIT) -> list[Campaign]:
    """Campaigns of strategies x seeds on one ID split with the profile's AL fractions (or the given)."""
    selectors.check_strategies(list(strategies))
    settings = config.profile(profile)["al"]
    init = settings["init_frac"] if init_frac is None else init_frac
    step = settings["step_frac"] if step_frac is None else step_frac
    stop = settings["stop_frac"] if stop_frac is None else stop_frac
    return [Campaign(dataset, target, strategy, int(seed), float(init), float(step), float(stop), split)
            for strategy in strategies for seed in seeds]


@dataclass
class CampaignReport:
    """What one :func:`run_campaign` call did, with the timing of every step it ran."""

    name: str
    strategy: str
    seed: int
    n_steps: int
    steps_run: int = 0
    steps_skipped: int = 0
    wall_seconds: float = 0.0
    step_timings: list[dict[str, float]] = field(default_factory=list)

    @property
    def fit_seconds(self) -> float:
        """Model fits of the steps run (evaluated models and query-only models)."""
        return sum(t["fit_seconds"] + t["query_fit_seconds"] for t in self.step_timings)


def _read_only(values: Any) -> np.ndarray:
    """``values`` (a fresh array) as floats that the strategies sharing them cannot modify."""
    array = np.asarray(values, dtype=float)
    array.flags.writeable = False
    return array


class _PredictOnce:
    """A fitted model whose predictions on the step's candidate matrix are computed once.

    QBC and the diagnostics both need XGB's predictions on the unlabelled pool; sharing them (by the
    identity of the candidate array, which the loop passes to both) saves a pool-sized prediction per
    step.  ``predicted`` gives them up front: the evaluation has just predicted the same rows to score
    the unused pool.  Every other attribute (``estimators_`` for RF-U ...) is the wrapped model's.
    """

    def __init__(self, model: Any, candidates: np.ndarray, predicted: np.ndarray | None = None) -> None:
        self.model = model
        self._candidates = candidates
        self._predicted = None if predicted is None else _read_only(predicted)

    def predict(self, X: Any) -> np.ndarray:
        if X is not self._candidates:
            return self.model.predict(X)
        if self._predicted is None:
            self._predicted = _read_only(self.model.predict(X))
        return self._predicted

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)


def _in_candidate_order(unused: dict[str, np.ndarray], candidates: np.ndarray) -> np.ndarray | None:
    """The evaluation's unused-pool predictions (rows ascending) reordered to ``candidates``, if they match.

    Row by row a tree model's prediction does not depend on which other rows are predicted with it, so
    these are the values a fresh ``predict`` on the candidates would return.
    """
    rows, predicted = unused.get("rows"), unused.get("predicted")
    if rows is None or predicted is None or not np.array_equal(rows, np.sort(candidates)):
        return None
    return predicted[np.searchsorted(rows, candidates)]


def _query_model(name: str, data: ExperimentData, selected: np.ndarray, seed: int,
                 context: RunContext, ibug_settings: dict[str, Any] | None = None) -> Any:
    """Fit a model that only a strategy needs (not evaluated): ``xgb_ibug`` wrapped in IBUG.

    ``ibug_settings`` are the strategy's :class:`~lessdata.models.ibug.IBUGRegressor` keywords (default the
    authors' :data:`lessdata.config.IBUG_PARAMS`: k = 100 on all selected rows, uncalibrated); with
    the tuned settings, ``k`` and the calibration are chosen on a seeded hold-out of the selected rows.
    Either way no label outside the selected set is used, as in a real campaign.
    """
    if name != "xgb_ibug":
        raise LessdataError(f"no recipe to fit query model {name!r}: a strategy's models may be xgb, rf "
                            "(the step's own fits) or xgb_ibug; register the selector with those")
    X, y = data.pool.X[selected], data.pool.y[selected]
    booster = make_model("xgb_ibug", profile=context.profile, n_threads=context.n_threads,
                         random_state=seed, device=context.device)
    booster.fit(X, y)
    settings = config.IBUG_PARAMS if ibug_settings is None else ibug_settings
    return IBUGRegressor(booster, **settings, random_state=seed).fit(X, y)


#: Checkpoint fields a continued campaign must share with the saved one (stop_frac may change: a longer
#: campaign extends a shorter one, whose steps are its prefix).
_IDENTITY = ("kind", "dataset", "target", "strategy", "selector", "seed", "profile", "init_frac", "step_frac",
             "n_pool", "pool_sha256")


def _checkpoint_info(campaign: Campaign, plan: CampaignPlan, context: RunContext,
                     data: ExperimentData) -> dict[str, Any]:
    """What the checkpoint records besides the ids: the campaign's identity and its plan (JSON-native)."""
    return {"kind": "active_learning", "dataset": campaign.dataset, "target": campaign.target,
            "strategy": campaign.strategy, "selector": campaign.selector, "seed": campaign.seed,
            "profile": context.profile, "init_frac": campaign.init_frac, "step_frac": campaign.step_frac,
            "stop_frac": campaign.stop_frac, "fractions": list(plan.fractions), "sizes": list(plan.sizes),
            "n_pool": len(data.pool), "pool_sha256": lio.sha256_strings(data.pool.ids)}


def _initial_rows(campaign: Campaign, plan: CampaignPlan, n_pool: int) -> np.ndarray:
    return pool_permutation(campaign.seed, n_pool)[: plan.sizes[0]]


def resume_point(campaign: Campaign, plan: CampaignPlan, info: dict[str, Any], data: ExperimentData,
                 store: ResultsStore, diagnostics: DiagnosticsTable) -> tuple[int, np.ndarray]:
    """First unfinished step of a campaign and the pool rows selected before it.

    The checkpoint is the campaign's selection JSON: the ordered ids chosen so far plus ``steps_done``.
    It is written last in a step, after the step's score and diagnostics rows; a step whose rows are
    missing anyway (e.g. a deleted table) is redone together with every later one.  Because training
    sets are nested, going back to step ``j`` only truncates the selection to ``sizes[j]``.  A campaign
    continued with a larger ``stop_frac`` redoes its last step (same models, same rows) to choose the
    batch that step did not need before.

    Raises:
        SettingsMismatchError: the saved selection was made with other settings.
        LessdataError: the saved selection was made on another pool.
    """
    path = store.layout.selection(campaign.name)
    if not path.exists():
        return 0, _initial_rows(campaign, plan, len(data.pool))
    saved = store.load_selection(campaign.name)
    different = {key: saved.get(key) for key in _IDENTITY if saved.get(key) != info[key]}
    common = min(len(saved.get("sizes", [])), len(plan))
    if list(saved.get("sizes", []))[:common] != list(plan.sizes[:common]):
        different["sizes"] = saved.get("sizes")
    if different:
        settings = ", ".join(f"{key}={value}" for key, value in different.items())
        raise SettingsMismatchError(f"{path} was made with other settings ({settings}); continue with the "
                                    "same --profile, --init-frac and --step-frac, or use another --out "
                                    "folder")
    rows = pd.Index(data.pool.ids).get_indexer(pd.Index(saved["ids"]))
    if (rows < 0).any() or len(np.unique(rows)) != len(rows):
        raise LessdataError(f"{path} is inconsistent with the pool; delete it to restart the campaign")
    steps_done = min(int(saved["steps_done"]), len(plan))
    while 0 < steps_done < len(plan) and len(rows) < plan.sizes[steps_done]:
        steps_done -= 1  # the saved last step chose no batch: redo it
    score_keys, diagnostic_keys = store.done_keys(), diagnostics.done_keys()
    for step in range(steps_done):
        cells_done = all(campaign.cell(model, step, plan).key() in score_keys for model in EVALUATED_MODELS)
        if not cells_done or (campaign.dataset, campaign.target, campaign.split, campaign.strategy,
                              campaign.seed, step) not in diagnostic_keys:
            steps_done = step
            break
    if steps_done == 0:
        return 0, _initial_rows(campaign, plan, len(data.pool))
    return steps_done, rows[: plan.sizes[min(steps_done, len(plan) - 1)]]


@dataclass
class ALStep:
    """One step of :func:`al_steps`, handed to the caller once the step's batch is chosen.

    Attributes:
        step: the step (0: the initial set).
        scores: each evaluated model's :func:`~lessdata.evaluation.evaluate.fit_and_score` rows, by model name
            (empty when the step's fits were reused).
        reused: the caller's ``reuse`` said this step's scores exist already, so nothing was fitted.
        n_unlabelled: candidates the strategy ranked.
        batch: pool positions the strategy chose, in its order (empty after the last step).
        selected: the selection after adding ``batch`` (pool positions, in the order chosen).
        diagnostic: :func:`step_diagnostics` of the choice (NaN when reused, empty when not asked for).
        timing: seconds of the step's parts up to here (``step_seconds`` included); callers add theirs.
    """

    step: int
    scores: dict[str, list[dict[str, Any]]]
    reused: bool
    n_unlabelled: int
    batch: np.ndarray
    selected: np.ndarray
    diagnostic: dict[str, float]
    timing: dict[str, float]


def _fresh(estimator: Any, seed: int) -> Any:
    """An unfitted clone of a user's estimator, its ``random_state`` (when it has one) set to ``seed``."""
    model = clone(estimator)
    if "random_state" in model.get_params():
        model.set_params(random_state=seed)
    return model


def al_steps(data: ExperimentData, plan: CampaignPlan, strategy: str, query: QueryStrategy, *, seed: int,
             context: RunContext, selected: np.ndarray | None = None, first_step: int = 0,
             query_models: Sequence[str] = (), ibug: dict[str, Any] | None = None,
             evaluated: Sequence[str] = EVALUATED_MODELS, estimators: Mapping[str, Any] | None = None,
             reuse: Callable[[int], bool] | None = None,
             on_scores: Callable[[int, dict[str, list[dict[str, Any]]]], None] | None = None,
             diagnose: bool = True) -> Iterator[ALStep]:
    """The active-learning loop, without files: one :class:`ALStep` per step of ``plan``.

    Per step: fit the ``evaluated`` models on the selected rows and score them
    (:func:`~lessdata.evaluation.evaluate.fit_and_score`; ``on_scores`` receives the rows at once), fit any
    model
    only the strategy needs (``query_models``: ``xgb_ibug``), query the next batch from the unlabelled
    pool (reading the scoring's predictions on the unused pool rather than predicting it again), compute
    the diagnostics, then grow the selection.  Nothing else is kept: what to store is the caller's.

    Determinism: model ``random_state`` = ``seed``; the initial set (when ``selected`` is None) is the
    first ``plan.sizes[0]`` rows of the seed's permutation, the candidates are listed in that
    permutation's order (stable tie-breaks) and the strategy's ``rng`` is seeded by (seed, step), so a
    loop resumed at ``first_step`` with the rows selected before it ends exactly like an uninterrupted one.

    Args:
        data: the pool, the ID test set and the OOD sets every model is scored on.
        plan: training-set size of every step.
        strategy: the strategy's name (error messages; :func:`step_diagnostics` reads its record).
        query: the query function (:data:`lessdata.selection.strategies.QueryStrategy`).
        seed: model seed, permutation and query rng.
        context: profile, device and threads per model.
        selected: pool positions selected before ``first_step``.
        first_step: first step to run.
        query_models: models the strategy reads; any the step does not evaluate is fitted for the query.
        ibug: :class:`~lessdata.models.ibug.IBUGRegressor` keywords for an ``xgb_ibug`` query model.
        evaluated: models fitted and scored at every step (built by
        :func:`lessdata.models.factory.make_model`,
            or a fresh clone of ``estimators[name]`` when given).
        estimators: unfitted estimators by name, for models other than the study's.
        reuse: ``reuse(step)`` True skips the step's fits (their rows exist already); only a strategy
            that reads no model (random) can be queried then.
        on_scores: called with (step, scores) after the step's fits, before the query.
        diagnose: compute :func:`step_diagnostics` (needs an evaluated ``xgb``).

    Yields:
        The step's :class:`ALStep`, after its batch joined the selection.

    Raises:
        RuntimeError: the strategy returned other than ``n`` distinct candidates.
    """
    n_pool = len(data.pool)
    order = pool_permutation(seed, n_pool)
    selected = order[: plan.sizes[0]] if selected is None else np.asarray(selected, dtype=np.int64)
    is_selected = np.zeros(n_pool, dtype=bool)
    is_selected[selected] = True
    for step in range(first_step, len(plan)):
        timing = {"step": step, "fit_seconds": 0.0}
        step_started = time.perf_counter()
        # 1. Evaluate: the models on the selected set; the caller gets the rows at once.
        scores: dict[str, list[dict[str, Any]]] = {}
        fitted: dict[str, Any] = {}
        unused: dict[str, dict[str, np.ndarray]] = {name: {} for name in evaluated}
        reused = reuse is not None and reuse(step)
        for name in () if reused else evaluated:
            model = None if estimators is None else _fresh(estimators[name], seed)
            scores[name], fitted[name] = fit_and_score(name, data, selected, profile=context.profile,
                                                       seed=seed, n_threads=context.n_threads,
                                                       device=context.device, model=model,
                                                       unused_predictions=unused[name])
            timing["fit_seconds"] += float(scores[name][0]["fit_seconds"])
        timing["eval_predict_seconds"] = sum(float(row["predict_seconds"])
                                             for rows in scores.values() for row in rows)
        mark = time.perf_counter()
        if scores and on_scores is not None:
            on_scores(step, scores)
        timing["store_seconds"] = time.perf_counter() - mark
        # 2. Query: the unlabelled pool in the permutation's order, the step's models, a seeded rng.
        mark = time.perf_counter()
        candidates = order[~is_selected[order]]
        X_candidates = data.pool.X[candidates]
        models: dict[str, Any] = {name: _PredictOnce(model, X_candidates,
                                                     _in_candidate_order(unused[name], candidates))
                                  for name, model in fitted.items()}
        query_started = time.perf_counter()
        for name in query_models:
            if name not in models:
                models[name] = _query_model(name, data, selected, seed, context, ibug)
        timing["query_fit_seconds"] = time.perf_counter() - query_started
        n_new = plan.batch(step)
        chosen, ranking = query(models, X_candidates, n_new, np.random.default_rng([seed, step]))
        chosen = np.asarray(chosen, dtype=np.int64)
        if len(chosen) != n_new or len(np.unique(chosen)) != n_new or (
                n_new and not 0 <= chosen.min() <= chosen.max() < len(candidates)):
            raise RuntimeError(f"strategy {strategy!r} returned {len(chosen)} indices for a batch "
                               f"of {n_new} distinct candidates out of {len(candidates)}")
        timing["query_seconds"] = time.perf_counter() - mark - timing["query_fit_seconds"]
        # 3. Diagnostics of this step's choice.
        mark = time.perf_counter()
        if reused:  # no model of this step to measure errors with
            diagnostic = dict.fromkeys(DIAGNOSTIC_COLUMNS, float("nan"))
        elif diagnose:
            diagnostic = step_diagnostics(strategy, models, data, candidates, X_candidates, chosen,
                                          np.asarray(ranking, dtype=float))
        else:
            diagnostic = {}
        timing["diagnostics_seconds"] = time.perf_counter() - mark
        # 4. Grow the selection.
        new_rows = candidates[chosen]
        selected = np.concatenate([selected, new_rows])
        is_selected[new_rows] = True
        timing["step_seconds"] = time.perf_counter() - step_started  # the caller adds its bookkeeping
        yield ALStep(step, scores, reused, len(candidates), new_rows, selected, diagnostic, timing)


def run_campaign(campaign: Campaign, context: RunContext,
                 records: dict[str, selectors.Selector] | None = None) -> CampaignReport:
    """Run (or continue) one campaign; every step's results are saved before the next step starts.

    The steps are :func:`al_steps`' (fit XGB and RF on the selected set and score them, query the next
    batch, compute the diagnostics); per step this stores the score rows before the query, then the
    diagnostics row, then checkpoints the grown selection.  A random campaign skips the fits of steps
    whose cells the random baseline has already stored: they are the same cells.

    Determinism: model ``random_state`` = the campaign seed, the initial set is the seed's permutation
    prefix, the candidates are listed in that permutation's order (stable tie-breaks) and the strategy's
    ``rng`` is seeded by (seed, step), so a continued campaign ends exactly like an uninterrupted one.

    Args:
        campaign: what to run.
        context: output folder, profile, device and threads per model.
        records: selector records by name, registered here when this process lacks them (a worker
            process does not see strategies registered in the caller's ``__main__`` or notebook).

    Returns:
        A :class:`CampaignReport` with per-step timings (fits, evaluator predictions, query, diagnostics,
        bookkeeping).
    """
    started = time.perf_counter()
    for name, record in (records or {}).items():
        if selectors.find(name) is None:
            selectors.register(record)
    # experiment_data points this process (a worker, too) at the run's data folder before loading.
    data = experiment_data(context, campaign.dataset, campaign.target, split_seed_of(campaign.split))
    store, diagnostics = ResultsStore(context.out_dir), DiagnosticsTable(context.out_dir)
    plan = campaign.plan(len(data.pool))
    info = _checkpoint_info(campaign, plan, context, data)
    first_step, selected = resume_point(campaign, plan, info, data, store, diagnostics)
    report = CampaignReport(campaign.name, campaign.strategy, campaign.seed, len(plan),
                            steps_skipped=first_step)
    strategy = selectors.query_of(campaign.strategy)
    # Random AL trains on the random baseline's subsets (same rows, same seed, same cell keys) and its
    # query reads no model, so a step whose cells the baseline already stored is not fitted again.
    stored = store.done_keys() if strategy is random_query else set()

    def reuse(step: int) -> bool:
        return bool(stored) and all(campaign.cell(m, step, plan).key() in stored for m in EVALUATED_MODELS)

    def store_scores(step: int, scores: dict[str, list[dict[str, Any]]]) -> None:
        store.add([{**campaign.cell(name, step, plan).fields(), **row, "profile": context.profile}
                   for name, rows in scores.items() for row in rows])

    steps = al_steps(data, plan, campaign.strategy, strategy, seed=campaign.seed, context=context,
                     selected=selected, first_step=first_step,
                     query_models=selectors.models_of(campaign.strategy),
                     ibug=selectors.get(campaign.strategy).ibug, reuse=reuse, on_scores=store_scores)
    for done in steps:
        step, timing = done.step, done.timing
        # Checkpoint: diagnostics row, then the grown selection (written last: it marks the step done).
        mark = time.perf_counter()
        diagnostics.add([{"dataset": campaign.dataset, "target": campaign.target,
                          "split": campaign.split, "strategy": campaign.strategy,
                          "selector": campaign.selector, "seed": campaign.seed, "step": step,
                          "train_frac": plan.fractions[step],
                          "train_size": plan.sizes[step], "n_unlabelled": done.n_unlabelled,
                          "batch_size": len(done.batch), **done.diagnostic, "reused_cells": done.reused,
                          "profile": context.profile,
                          **{k: round(v, 4) for k, v in timing.items() if k.endswith("seconds")}}])
        store.save_selection(campaign.name, data.pool.ids[done.selected], **info, steps_done=step + 1,
                             finished=step + 1 == len(plan))
        timing["checkpoint_seconds"] = time.perf_counter() - mark
        timing["step_seconds"] += timing["checkpoint_seconds"]
        report.step_timings.append(timing)
        report.steps_run += 1
    report.wall_seconds = time.perf_counter() - started
    return report


@dataclass
class ALRunReport:
    """What a :func:`run_campaigns` call did."""

    n_campaigns: int = 0
    n_skipped: int = 0
    campaigns: list[CampaignReport] = field(default_factory=list)
    wall_seconds: float = 0.0

    @property
    def steps_run(self) -> int:
        return sum(report.steps_run for report in self.campaigns)

    @property
    def fit_seconds(self) -> float:
        return sum(report.fit_seconds for report in self.campaigns)


def campaign_finished(campaign: Campaign, context: RunContext) -> bool:
    """True when every step of a campaign has its rows and checkpoint in the results folder."""
    data = experiment_data(context, campaign.dataset, campaign.target, split_seed_of(campaign.split))
    plan = campaign.plan(len(data.pool))
    store, diagnostics = ResultsStore(context.out_dir), DiagnosticsTable(context.out_dir)
    info = _checkpoint_info(campaign, plan, context, data)
    step, _ = resume_point(campaign, plan, info, data, store, diagnostics)
    return step == len(plan)


def run_campaigns(campaigns: Sequence[Campaign], context: RunContext, *, n_jobs: int = 1,
                  scheduler: str | None = None, progress: bool = True) -> ALRunReport:
    """Run every unfinished campaign, one task each, through :func:`lessdata.experiments.runner.map_tasks`.

    A campaign is sequential (each step needs the previous one's models), so campaigns, not steps, are
    the parallel tasks.  Finished campaigns are skipped; interrupted ones continue where they stopped.

    Args:
        campaigns: strategy x seed campaigns (duplicates run once).
        context: output folder, profile, OOD sets, device; ``n_threads`` is replaced by the cores per
            worker for local runs so that processes x threads never exceed the cores.
        n_jobs: local worker processes.
        scheduler: dask.distributed scheduler address; overrides ``n_jobs``.
        progress: progress bar over campaigns.
    """
    started = time.perf_counter()
    unique = list(dict.fromkeys(campaigns))
    todo = [campaign for campaign in unique if not campaign_finished(campaign, context)]
    todo.sort(key=lambda c: (selectors.get(c.strategy).cost_rank, c.seed, c.name))  # longest first
    report = ALRunReport(n_campaigns=len(unique), n_skipped=len(unique) - len(todo))
    if not todo:
        return report
    local = context if scheduler else context.with_threads(threads_per_worker(min(n_jobs, len(todo))))
    bar = tqdm(total=len(todo), desc="AL campaigns", unit="campaign", disable=not progress,
               dynamic_ncols=True)
    # The records travel with the tasks (by value for strategies defined in __main__ or a notebook).
    records = {c.strategy: selectors.get(c.strategy) for c in todo if c.strategy != "random"}
    for finished in map_tasks(run_campaign, todo, n_jobs=n_jobs, scheduler=scheduler, context=local,
                              records=records):
        report.campaigns.append(finished)
        bar.update(1)
        bar.set_postfix_str(f"{finished.name}: {finished.steps_run} steps, {finished.wall_seconds:.0f} s")
    bar.close()
    report.wall_seconds = time.perf_counter() - started
    return report


# --------------------------------------------------------------------------------------------------
# Summaries for the command line and the report.
# --------------------------------------------------------------------------------------------------
def learning_curves(scores: pd.DataFrame, *, dataset: str, target: str, strategies: Sequence[str],
                    model: str = "xgb", eval_set: str = "id_test") -> pd.DataFrame:
    """Mean and std over seeds of ``model``'s RMSE per training fraction, one column pair per strategy.

    Random AL rows are random-baseline rows, so the ``random`` column also shows baseline fractions
    present in the store (e.g. the full pool).
    """
    frame = scores[(scores["dataset"] == dataset) & (scores["target"] == target)
                   & (scores["model"] == model) & (scores["eval_set"] == eval_set)
                   & scores["method"].isin(list(strategies))]
    if frame.empty:
        return pd.DataFrame()
    stats = frame.groupby(["train_frac", "method"])["rmse"].agg(["mean", "std", "count"]).unstack("method")
    table = pd.DataFrame(index=stats.index)
    for strategy in strategies:
        if ("mean", strategy) in stats.columns:
            table[f"{strategy}_rmse"] = stats[("mean", strategy)]
            table[f"{strategy}_std"] = stats[("std", strategy)]
            table[f"{strategy}_n"] = stats[("count", strategy)].fillna(0).astype(int)
    return table.reset_index()


