"""The documented way in for notebooks: prune, subsample or actively learn on *your own* table.

:func:`prune` (the pruning algorithm), :func:`random_subsets` (the random baseline) and
:func:`active_learning` (an AL campaign with a registered or your own query strategy) take NumPy arrays
or pandas tables and call the same engine as the scripts in ``codes/``; pool positions in their results
are rows of ``X`` in the order given.
"""

from __future__ import annotations

import numbers
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from tqdm.auto import tqdm

from lessdata import config
from lessdata.errors import LessdataError
from lessdata.evaluation.evaluate import EvalSet, ExperimentData
from lessdata.evaluation.metrics import metrics
from lessdata.evaluation.validation import feature_matrix, held_out_set, target_vector
from lessdata.experiments import active as _active
from lessdata.experiments.runner import RunContext, pool_permutation, size_of
from lessdata.models.factory import TREE_MODELS
from lessdata.selection import pruning as _pruning
from lessdata.selection import registry as selectors
from lessdata.selection.pruning import PruningResult
from lessdata.selection.strategies import QueryStrategy

__all__ = ["ActiveLearningResult", "active_learning", "prune", "random_subsets"]

_PAPER = config.PRUNE_RULES
_ROUND_TEST_FRACTION = config.PRUNE_ROUND_TEST_FRACTION

#: Columns of :func:`random_subsets`' table, in order.
RANDOM_SUBSET_COLUMNS = ["seed", "fraction", "train_size", "rmse", "mae", "r2", "fit_seconds"]
#: Columns of :attr:`ActiveLearningResult.scores`, in order.
ACTIVE_LEARNING_COLUMNS = ["step", "train_size", "train_frac", "model", "eval_set", "n_eval", "mae", "rmse",
                           "r2", "fit_seconds"]
#: The engine's evaluation-set names -> the table's (a user's test set is not an "ID" split of ours).
_EVAL_SET_NAMES = {"id_test": "test", "unused": "unused"}


def prune(estimator: Any, X: Any, y: Any, *, X_test: Any = None, y_test: Any = None,
          threshold: float | None = None, kappa: float = _PAPER["kappa"],
          test_fraction: float = _ROUND_TEST_FRACTION, min_remove_frac: float = _PAPER["min_remove_frac"],
          min_retained: int = _PAPER["min_retained"], max_rounds: int = _PAPER["max_rounds"],
          random_state: int = 0, checkpoint: str | Path | None = None,
          progress: bool = False) -> PruningResult:
    """Rank the rows of a pool from most redundant to most informative (Li et al. 2023).

    Every round fits a fresh clone of ``estimator`` on 80 % of the retained rows and removes the rows of
    the other 20 % it predicts better than ``threshold`` (at least ``min_remove_frac`` of the pool per
    round), until ``min_retained`` rows are left; see :mod:`lessdata.selection.pruning` for the exact rules.

    The threshold needs data the pool does not contain: as in the study it is ``kappa`` x the MAE on a
    held-out test set (``X_test``, ``y_test``) of the estimator fitted on the whole pool
    (:func:`lessdata.selection.pruning.pruning_threshold`).  Nothing is held out for you: pass a test set
    split off
    your table before pruning (the study holds out 10 %), or pass ``threshold`` yourself.  Exactly one of
    the two is required, so a threshold is never measured on rows that are then pruned.

    Args:
        estimator: unfitted scikit-learn regressor (``XGBRegressor``, ``RandomForestRegressor`` ...);
            it is cloned for every fit and never fitted itself.
        X: pool features, N x F (NumPy array or numeric DataFrame).
        y: pool targets, N (array or Series).
        X_test, y_test: held-out set that sets the threshold; a DataFrame ``X_test`` must have ``X``'s
            columns.
        threshold: absolute-error threshold to use instead (e.g. from an earlier run).
        kappa: threshold = ``kappa`` x test MAE (0.5 in the paper).
        test_fraction: held-out share of the retained rows in each round (0.2 in the paper).
        min_remove_frac: fewest rows a round removes, as a share of the original pool (0.01 in the
            paper); keeps pruning moving once few rows pass the threshold.
        min_retained: stop before fewer rows than this would remain (300 in the paper).
        max_rounds: hard limit on rounds (2000 in the paper).
        random_state: round ``r`` splits with seed ``random_state + r``.  The estimator's own seed is
            left as you set it.
        checkpoint: optional ``.npz`` path written after every round; rerunning with it resumes.
        progress: show a progress bar.

    Returns:
        A :class:`lessdata.selection.pruning.PruningResult`: ``order`` (positions, most redundant first),
        ``removal_round`` per row, ``round_sizes``, ``threshold``, ``rounds_frame()`` (one row per round)
        and ``retained_at(fraction)`` (the pruned set of a fraction of the pool, as positions of ``X``).

    Raises:
        ValueError: when neither or both of ``threshold`` and the test set are given, for misaligned or
            non-numeric inputs, or a pool of at most ``min_retained`` rows.

    Example:
        >>> from sklearn.datasets import make_regression
        >>> from sklearn.model_selection import train_test_split
        >>> from sklearn.tree import DecisionTreeRegressor
        >>> import lessdata
        >>> X, y = make_regression(n_samples=400, n_features=5, noise=5.0, random_state=0)
        >>> X_pool, X_test, y_pool, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
        >>> result = lessdata.prune(DecisionTreeRegressor(max_depth=6, random_state=0), X_pool, y_pool,
        ...                         X_test=X_test, y_test=y_test, min_retained=50)
        >>> result.n_pool, result.stop_reason, bool(50 <= result.round_sizes[-1] < 53)
        (300, 'min_retained', True)
        >>> sorted(result.order) == list(range(300))   # every row ranked, most redundant first
        True
        >>> len(result.retained_at(0.5)) <= 150        # the pruned set at half the pool
        True
        >>> rounds = result.rounds_frame()                # one row per round
        >>> len(rounds) == result.n_rounds, int(rounds["n_removed"].sum() + result.round_sizes[-1])
        (True, 300)
    """
    X_pool = feature_matrix(X, "X")
    y_pool = target_vector(y, X_pool.shape[0], "y")
    has_test = X_test is not None or y_test is not None
    if threshold is None:
        if not has_test:
            raise LessdataError("the pruning threshold is kappa x the MAE on a held-out test set: pass "
                                "X_test and y_test (rows not in X, e.g. a 10 % split of your table), or "
                                "threshold=")
        X_held, y_held = held_out_set(X_test, y_test, X, X_pool.shape[1])
        threshold, _ = _pruning.pruning_threshold(estimator, X_pool, y_pool, X_held, y_held, kappa=kappa)
    elif has_test:
        raise LessdataError("pass either threshold= or the test set (X_test, y_test) that sets it, not both")
    return _pruning.prune(estimator, X_pool, y_pool, float(threshold), test_fraction=test_fraction,
                          min_remove_frac=min_remove_frac, min_retained=min_retained, max_rounds=max_rounds,
                          random_state=random_state, checkpoint=checkpoint, progress=progress)


def random_subsets(estimator: Any, X: Any, y: Any, X_test: Any, y_test: Any, *, fractions: Sequence[float],
                   seeds: Sequence[int] = (0,)) -> pd.DataFrame:
    """Test-set scores of models trained on random subsets of the pool: the baseline pruning must beat.

    For each seed the subsets are prefixes of one seeded permutation of the pool
    (:func:`lessdata.experiments.runner.pool_permutation`), so they are nested (the 10 % subset is inside
    the 20 %
    one) and identical to the study's random baseline and random active learning at the same seed; sizes
    are ``max(1, round(fraction * N))`` (:func:`lessdata.experiments.runner.size_of`).  Every fit uses a
    fresh clone
    of ``estimator`` whose ``random_state`` (when it has one) is set to the seed, as in the study.

    Args:
        estimator: unfitted scikit-learn regressor.
        X, y: the pool (arrays or DataFrame/Series).
        X_test, y_test: the held-out set every model is scored on.
        fractions: training-set sizes as fractions of the pool, each in (0, 1].
        seeds: one permutation (and model seed) per value.

    Returns:
        One row per (seed, fraction), seeds outer, fractions in the given order, with columns
        ``seed``, ``fraction``, ``train_size``, ``rmse``, ``mae``, ``r2`` (on the test set) and
        ``fit_seconds``.

    Raises:
        ValueError: for a fraction outside (0, 1], no fractions or seeds, or misaligned inputs.

    Example:
        >>> from sklearn.datasets import make_regression
        >>> from sklearn.model_selection import train_test_split
        >>> from sklearn.tree import DecisionTreeRegressor
        >>> import lessdata
        >>> X, y = make_regression(n_samples=400, n_features=5, noise=5.0, random_state=0)
        >>> X_pool, X_test, y_pool, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
        >>> table = lessdata.random_subsets(DecisionTreeRegressor(max_depth=6), X_pool, y_pool, X_test,
        ...                                 y_test, fractions=[0.1, 0.5, 1.0], seeds=(0, 1))
        >>> table.shape
        (6, 7)
        >>> table.loc[table["seed"] == 1, "train_size"].tolist()
        [30, 150, 300]
        >>> bool((table["rmse"] >= table["mae"]).all())
        True
    """
    fractions = [float(fraction) for fraction in fractions]
    seeds = [int(seed) for seed in seeds]
    if not fractions or not seeds:
        raise LessdataError("give at least one fraction and one seed")
    bad = [fraction for fraction in fractions if not 0 < fraction <= 1]
    if bad:
        raise LessdataError(f"fractions must be in (0, 1], got {bad}")
    X_pool = feature_matrix(X, "X")
    y_pool = target_vector(y, X_pool.shape[0], "y")
    X_held, y_held = held_out_set(X_test, y_test, X, X_pool.shape[1])
    n_pool = X_pool.shape[0]
    seeded = "random_state" in estimator.get_params()
    rows = []
    for seed in seeds:
        order = pool_permutation(seed, n_pool)
        for fraction in fractions:
            train = order[: size_of(fraction, n_pool)]
            model = clone(estimator)
            if seeded:
                model.set_params(random_state=seed)
            started = time.perf_counter()
            model.fit(X_pool[train], y_pool[train])
            fit_seconds = time.perf_counter() - started
            scores = metrics(y_held, np.asarray(model.predict(X_held), dtype=np.float64).ravel())
            rows.append({"seed": seed, "fraction": fraction, "train_size": int(train.size), **scores,
                         "fit_seconds": fit_seconds})
    return pd.DataFrame(rows, columns=RANDOM_SUBSET_COLUMNS)


# --------------------------------------------------------------------------------------------------
# Active learning on a user's arrays.
# --------------------------------------------------------------------------------------------------
#: Models a registered strategy may read without their being evaluated: fitted for the query only.
_QUERY_ONLY_MODELS = ("xgb_ibug",)


@dataclass(frozen=True, eq=False)
class ActiveLearningResult:
    """What :func:`active_learning` returns: the rows a campaign labelled, in order, and each step's scores.

    Positions are rows of the ``X``/``y`` passed to :func:`active_learning` (the pool).

    Attributes:
        strategy: the strategy's name (a function's ``__name__``).
        order: ``int64[sizes[-1]]``; pool positions in the order the campaign took them: the seeded random
            initial set first, then each step's batch in the strategy's order.
        step_added: ``int64`` per entry of ``order``: the first step whose training set holds it (0 for
            the initial set).
        sizes: training-set size of each step; step ``s`` trains on ``order[:sizes[s]]``.
        fractions: the same as nominal fractions of the pool (``train_frac`` of the scores).
        scores: one row per (step, model, evaluation set) with the columns of
            :data:`ACTIVE_LEARNING_COLUMNS`; ``eval_set`` is ``test`` (when a test set was given) or
            ``unused`` (the pool rows not selected yet; none once every row is).
        n_pool: rows of ``X``.
    """

    strategy: str
    order: np.ndarray
    step_added: np.ndarray
    sizes: tuple[int, ...]
    fractions: tuple[float, ...]
    scores: pd.DataFrame
    n_pool: int

    @property
    def n_steps(self) -> int:
        """Steps evaluated (the initial set is step 0)."""
        return len(self.sizes)

    def train_rows(self, step: int) -> np.ndarray:
        """Pool positions of step ``step``'s training set (``-1``: the last step's)."""
        return self.order[: self.sizes[step]]


def _is_count(value: Any) -> bool:
    """An integer (Python or NumPy) is a row count; a float is a fraction of the pool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _al_plan(n_pool: int, start_frac: float | None, n_start: int | None, step: float | int | None,
             stop_frac: float | None, settings: dict[str, float]) -> _active.CampaignPlan:
    """Training-set sizes of the steps: the study's fraction plan, or counts when a count is given."""
    if start_frac is not None and n_start is not None:
        raise LessdataError("pass start_frac= (a fraction of the pool) or n_start= (a row count), not both")
    stop = float(settings["stop_frac"] if stop_frac is None else stop_frac)
    if not 0 < stop <= 1:
        raise LessdataError(f"stop_frac must be in (0, 1], got {stop_frac}")
    step = settings["step_frac"] if step is None else step
    is_fraction = isinstance(step, numbers.Real) and not isinstance(step, bool) and not _is_count(step)
    if not (step >= 1 if _is_count(step) else is_fraction and 0 < step <= 1):
        raise LessdataError(f"step must be a fraction of the pool in (0, 1] (e.g. 0.05) or a row count >= 1 "
                            f"(e.g. 20), got {step!r}")
    init = float(settings["init_frac"] if start_frac is None else start_frac)
    if n_start is None and not 0 < init <= stop:
        raise LessdataError(f"need 0 < start_frac <= stop_frac, got start_frac={init}, stop_frac={stop}")
    if n_start is None and not _is_count(step):  # the study's plan: same sizes as its campaigns
        plan = _active.CampaignPlan.of_fractions(n_pool, init, float(step), stop)
        if not plan.grows:
            raise LessdataError(f"step={step} adds less than one row per step to a pool of {n_pool}; pass a "
                                "larger fraction or a row count (e.g. step=10)")
        return plan
    stop_size = size_of(stop, n_pool)
    start_size = size_of(init, n_pool) if n_start is None else n_start
    if not _is_count(start_size) or not 1 <= start_size <= stop_size:
        raise LessdataError(f"n_start must be a row count from 1 to stop_frac x the pool ({stop_size}), got "
                            f"{n_start!r}")
    step_size = int(step) if _is_count(step) else size_of(float(step), n_pool)
    sizes = tuple(range(int(start_size), stop_size + 1, step_size))
    return _active.CampaignPlan(tuple(round(size / n_pool, 6) for size in sizes), sizes)


def _al_models(models: Sequence[str] | Mapping[str, Any]) -> tuple[tuple[str, ...], dict[str, Any] | None]:
    """Names of the models every step evaluates, and the user's estimators (None: the study's models)."""
    if isinstance(models, Mapping):
        estimators = {str(name): estimator for name, estimator in models.items()}
        for name, estimator in estimators.items():
            if not all(hasattr(estimator, method) for method in ("fit", "predict", "get_params")):
                raise LessdataError(f"models[{name!r}] must be an unfitted scikit-learn regressor (fit, "
                                    f"predict, get_params), got {type(estimator).__name__}")
        names: tuple[str, ...] = tuple(estimators)
    else:
        names, estimators = ((models,) if isinstance(models, str) else tuple(models)), None
        unknown = [name for name in names if name not in TREE_MODELS]
        if unknown:
            raise LessdataError(f"models= names the study's models ({', '.join(TREE_MODELS)}); "
                                f"{unknown[0]!r} is not one: pass your own estimators by name instead, "
                                "e.g. models={'knn': KNeighborsRegressor()}")
    if not names or len(set(names)) != len(names):
        raise LessdataError(f"models= needs at least one model, each named once, got {list(names)}")
    return names, estimators


def _al_strategy(strategy: str | QueryStrategy, evaluated: tuple[str, ...]
                 ) -> tuple[str, QueryStrategy, tuple[str, ...], dict[str, Any] | None]:
    """(name, query function, models it reads, IBUG settings) of a registered name or a user's function."""
    if callable(strategy):
        name = getattr(strategy, "__name__", type(strategy).__name__)

        def query(models: dict[str, Any], X_unlabelled: np.ndarray, n: int,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
            answer = strategy(models, X_unlabelled, n, rng)
            if not (isinstance(answer, tuple) and len(answer) == 2):
                raise LessdataError(f"strategy {name!r} must return (indices, scores): the n chosen "
                                    "indices into X_unlabelled and a score per candidate, got "
                                    f"{type(answer).__name__}")
            return answer

        return name, query, (), None
    known = selectors.strategy_names()
    if not isinstance(strategy, str) or strategy not in known:
        raise selectors.UnknownSelectorError(
            f"strategy={strategy!r} is not a registered strategy; pass one of {', '.join(known)}, or your "
            "own function strategy(models, X_unlabelled, n, rng) -> (indices, scores) (see "
            "lessdata.selection.strategies)")
    needs = selectors.models_of(strategy)
    missing = [model for model in needs if model not in evaluated and model not in _QUERY_ONLY_MODELS]
    if missing:
        raise LessdataError(f"strategy {strategy!r} reads the step's {' and '.join(needs)} model(s); add "
                            f"{', '.join(missing)} to models= (e.g. models=('xgb', 'rf'))")
    return strategy, selectors.query_of(strategy), needs, selectors.get(strategy).ibug


def active_learning(strategy: str | QueryStrategy, X: Any, y: Any, *, X_test: Any = None, y_test: Any = None,
                    models: Sequence[str] | Mapping[str, Any] = _active.EVALUATED_MODELS,
                    start_frac: float | None = None, n_start: int | None = None,
                    step: float | int | None = None, stop_frac: float | None = None, random_state: int = 0,
                    profile: str = "quick", n_threads: int = 1, device: str = "cpu",
                    progress: bool = False) -> ActiveLearningResult:
    """Run an active-learning campaign on your pool: grow a training set step by step with a query strategy.

    From a seeded random initial set, every step fits each of ``models`` on the selected rows, scores it
    on the test set and on the unused pool, then asks ``strategy`` for the next batch among the unused
    rows; it stops after the step at ``stop_frac`` of the pool.  The loop is the study's own
    (:func:`lessdata.experiments.active.al_steps`, which ``lessdata al`` runs too), so with the same
    settings and
    seed a registered strategy picks the same rows as there.  Labels of the unused pool are only read to
    score the models, never by a registered strategy's choice.

    Sizes follow the study's plan by default (the profile's 1 % start, 1 % steps, stop at 35 % for
    ``quick``: 35 fits of each model); on a small pool pass counts (``n_start=``, ``step=20``) or larger
    fractions.  The initial set is the first rows of the seed's permutation, so it is the random
    baseline's subset (:func:`random_subsets`) of the same size and seed, and ``strategy="random"``
    reproduces that baseline's nested subsets.

    Args:
        strategy: a registered name (``"random"``, ``"qbc"``, ``"rf_u"``, ``"xgb_u"`` ...; see
            :func:`lessdata.selection.registry.strategy_names`) or your own function
            ``strategy(models, X_unlabelled, n, rng) -> (indices, scores)``
            (:data:`lessdata.selection.strategies.QueryStrategy`): ``models`` are the step's fitted
            ``models`` by
            name, ``X_unlabelled`` the unused rows (in a seeded random order), ``indices`` the ``n``
            distinct rows of ``X_unlabelled`` to add and ``scores`` one "higher = more wanted" value
            per candidate; ``rng`` is seeded by (``random_state``, step).
        X: pool features, N x F (NumPy array or numeric DataFrame).
        y: pool targets, N (array or Series): the labels an experiment would reveal.
        X_test, y_test: optional held-out set every step is scored on; a DataFrame ``X_test`` must have
            ``X``'s columns.
        models: what each step trains: the study's models by name (``"xgb"``, ``"rf"``, built with the
            profile's hyperparameters), or your unfitted scikit-learn regressors by name (each step fits
            a clone, ``random_state`` set to ``random_state``).  QBC reads ``xgb`` and ``rf``, RF-U
            ``rf``; XGB-U fits its own IBUG model.
        start_frac, n_start: initial set as a fraction of the pool or a row count (one of them; default
            the profile's ``init_frac``).
        step: rows added per step, a fraction of the pool (float) or a row count (int); default the
            profile's ``step_frac``.
        stop_frac: the last step trains on this fraction of the pool (default the profile's).
        random_state: seed of the initial set, the candidates' order, the models and the query rng.
        profile: ``quick`` or ``paper``: the study's hyperparameters and default fractions.
        n_threads: threads per model fit.
        device: ``cpu``, ``cuda`` or ``auto`` for XGBoost.
        progress: show a progress bar over the steps.

    Returns:
        An :class:`ActiveLearningResult`: ``order`` (positions of ``X`` in the order they were labelled)
        and ``step_added`` (the step each joined the training set), ``sizes``, ``train_rows(step)``, and
        ``scores``, one row per (step, model, ``eval_set`` ``test`` or ``unused``) with ``mae``,
        ``rmse``, ``r2``, ``train_size``, ``train_frac`` and ``fit_seconds``.

    Raises:
        ValueError: for an unknown strategy name or model, a strategy whose models are not trained,
            misaligned or non-numeric inputs, non-finite targets, or sizes that do not grow.

    Example:
        >>> from sklearn.datasets import make_regression
        >>> from sklearn.model_selection import train_test_split
        >>> import lessdata
        >>> X, y = make_regression(n_samples=320, n_features=6, noise=5.0, random_state=0)
        >>> X_pool, X_test, y_pool, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
        >>> result = lessdata.active_learning("qbc", X_pool, y_pool, X_test=X_test, y_test=y_test,
        ...                                   n_start=24, step=24, stop_frac=0.4)
        >>> result.sizes                                   # 24 rows, then 24 more per step
        (24, 48, 72, 96)
        >>> len(result.order), int(result.step_added[-1])  # the path: rows of X_pool, in order
        (96, 3)
        >>> list(result.scores.columns)  # doctest: +NORMALIZE_WHITESPACE
        ['step', 'train_size', 'train_frac', 'model', 'eval_set', 'n_eval', 'mae', 'rmse', 'r2',
         'fit_seconds']
        >>> result.scores.groupby(["model", "eval_set"]).size().to_dict()  # a row per step each
        {('rf', 'test'): 4, ('rf', 'unused'): 4, ('xgb', 'test'): 4, ('xgb', 'unused'): 4}
        >>> result.scores.query("eval_set == 'unused'")["n_eval"].tolist()[::2]
        [216, 192, 168, 144]
    """
    evaluated, estimators = _al_models(models)
    name, query, needs, ibug = _al_strategy(strategy, evaluated)
    settings = config.profile(profile)["al"]
    X_pool = feature_matrix(X, "X")
    y_pool = target_vector(y, X_pool.shape[0], "y")
    bad = np.flatnonzero(~np.isfinite(y_pool))
    if bad.size:
        raise LessdataError(f"y has {bad.size} non-finite values (first at position {bad[0]}); drop those "
                            "rows from X and y: a label every step may train on must be known")
    n_pool, n_features = X_pool.shape
    if X_test is None and y_test is None:
        X_held, y_held = np.empty((0, n_features)), np.empty(0)
    else:
        X_held, y_held = held_out_set(X_test, y_test, X, n_features)
    if not _is_count(random_state) or random_state < 0:
        raise LessdataError(f"random_state must be an integer >= 0, got {random_state!r}")
    if not _is_count(n_threads) or n_threads < 1:
        raise LessdataError(f"n_threads must be an integer >= 1, got {n_threads!r}")
    plan = _al_plan(n_pool, start_frac, n_start, step, stop_frac, settings)
    # The engine's experiment data without a registered dataset: the pool and the test set only.
    data = ExperimentData(None, None, EvalSet("pool", np.arange(n_pool), X_pool, y_pool),  # type: ignore[arg-type]
                          EvalSet("id_test", np.arange(len(y_held)), X_held, y_held), {})
    context = RunContext("", profile, device=device, n_threads=int(n_threads))
    steps = _active.al_steps(data, plan, name, query, seed=int(random_state), context=context,
                             query_models=needs, ibug=ibug, evaluated=evaluated, estimators=estimators,
                             diagnose=False)
    rows, selected = [], np.arange(0)
    for done in tqdm(steps, total=len(plan), desc=f"AL {name}", unit="step", disable=not progress,
                     dynamic_ncols=True):
        for model_name, scored in done.scores.items():
            rows += [{"step": done.step, "train_size": row["train_size"],
                      "train_frac": plan.fractions[done.step], "model": model_name,
                      "eval_set": _EVAL_SET_NAMES[row["eval_set"]],
                      **{key: row[key] for key in ("n_eval", "mae", "rmse", "r2", "fit_seconds")}}
                     for row in scored]
        selected = done.selected
    order = np.asarray(selected, dtype=np.int64)
    step_added = np.searchsorted(np.asarray(plan.sizes), np.arange(len(order)), side="right").astype(np.int64)
    return ActiveLearningResult(name, order, step_added, plan.sizes, plan.fractions,
                                pd.DataFrame(rows, columns=ACTIVE_LEARNING_COLUMNS), n_pool)
