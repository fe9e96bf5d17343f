"""Active learning (lessdata.experiments.active): strategies on constructed cases, the loop, resume and the
CLI.

Campaigns run on ``mp18_small`` (1,500 real MP-2018 entries) with 5 % steps, so each has three steps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lessdata import config
from lessdata.cli.scripts import run_al_main, run_main
from lessdata.evaluation.evaluate import fit_and_score
from lessdata.experiments import active
from lessdata.experiments.active import Campaign, run_campaign, run_campaigns
from lessdata.experiments.al_diagnostics import DiagnosticsTable, miscalibration_area
from lessdata.experiments.baseline import random_cells
from lessdata.experiments.runner import (
    ResultsStore,
    RunContext,
    experiment_data,
    map_tasks,
    run_cells,
    size_of,
)
from lessdata.models.factory import make_model
from lessdata.models.ibug import IBUGRegressor
from lessdata.selection import registry as selectors
from lessdata.selection import strategies

FRACTIONS = {"init_frac": 0.05, "step_frac": 0.05, "stop_frac": 0.15}
TIMING = ["fit_seconds", "predict_seconds"]
CLI_ARGS = ["--dataset", "mp18_small", "--target", "e_form", "--init-frac", "0.05", "--step-frac", "0.05",
            "--stop-frac", "0.15", "--no-progress"]


class FixedModel:
    """A 'fitted model' whose predictions are given: the strategies only call ``predict``."""

    def __init__(self, predictions: list[float]) -> None:
        self.predictions = np.asarray(predictions, dtype=float)

    def predict(self, X: np.ndarray, check_input: bool = True) -> np.ndarray:
        return self.predictions


class FixedForest:
    """A forest whose trees predict given rows: per-tree spread known in advance."""

    def __init__(self, per_tree: np.ndarray) -> None:
        self.estimators_ = [FixedModel(row) for row in per_tree]


def _campaign(strategy: str, seed: int = 0) -> Campaign:
    return Campaign("mp18_small", "e_form", strategy, seed, **FRACTIONS)


@pytest.fixture()
def context(small_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RunContext:
    # One thread per model: the test machine is shared, and threads do not change the results.
    monkeypatch.setattr(active, "threads_per_worker", lambda n_workers: 1)
    return RunContext(str(tmp_path / "out"), "quick", n_threads=1)


def _scores(out: str | Path) -> pd.DataFrame:
    frame = ResultsStore(out).read().drop(columns=TIMING)
    return frame.sort_values(list(frame.columns[:9])).reset_index(drop=True)


def _diagnostics(out: str | Path) -> pd.DataFrame:
    frame = DiagnosticsTable(out).read()
    return frame.drop(columns=[c for c in frame.columns if c.endswith("seconds")])


# --------------------------------------------------------------------------------------------------
# Strategies on constructed cases.
# --------------------------------------------------------------------------------------------------
def test_qbc_picks_the_largest_disagreement_with_stable_ties() -> None:
    X = np.zeros((5, 2))
    models = {"rf": FixedModel([0, 1, 2, 3, 4]), "xgb": FixedModel([0, 3, 2, 0, 4.5])}
    chosen, scores = strategies.qbc_query(models, X, 2, np.random.default_rng(0))
    np.testing.assert_allclose(scores, [0, 2, 0, 3, 0.5])
    assert chosen.tolist() == [3, 1]
    tied = {"rf": FixedModel([1, 1, 1, 1]), "xgb": FixedModel([0, 2, 0, 2])}
    chosen, _ = strategies.qbc_query(tied, X[:4], 3, np.random.default_rng(0))
    assert chosen.tolist() == [0, 1, 2]  # ties keep the candidates' (seeded random) order


def test_rf_u_ranks_by_per_tree_spread() -> None:
    # 20 trees x 4 rows: row 0 unanimous, row 1 spread 0..1.9, row 2 spread 0..19, row 3 one outlier tree.
    trees = np.arange(20, dtype=float)
    per_tree = np.stack([np.full(20, 5.0), trees / 10, trees, np.r_[np.zeros(19), 10.0]], axis=1)
    forest = {"rf": FixedForest(per_tree)}
    X = np.zeros((4, 3))
    chosen, width = strategies.rf_uncertainty_query(forest, X, 4, np.random.default_rng(0))
    low, high = np.percentile(per_tree, [5, 95], axis=0)
    np.testing.assert_allclose(width, high - low)
    assert chosen.tolist() == [2, 1, 3, 0]  # the 5-95 % width barely sees row 3's single outlier tree
    chosen, spread = strategies.rf_std_query(forest, X, 4, np.random.default_rng(0))
    np.testing.assert_allclose(spread, per_tree.std(axis=0))
    assert chosen.tolist() == [2, 3, 1, 0]  # the standard deviation does


def test_tree_predictions_are_the_forest_trees(mp18_small) -> None:
    forest = make_model("rf", profile="quick", random_state=0)
    forest.fit(mp18_small.X[:300], mp18_small.y["e_form"][:300])
    per_tree = strategies.tree_predictions(forest, mp18_small.X[300:400])
    assert per_tree.shape == (len(forest.estimators_), 100)
    np.testing.assert_allclose(per_tree.mean(axis=0), forest.predict(mp18_small.X[300:400]), rtol=1e-12)


def test_the_query_reuses_the_evaluations_pool_predictions_exactly(context: RunContext) -> None:
    data = experiment_data(context, "mp18_small", "e_form")
    order = np.random.default_rng(3).permutation(len(data.pool))
    selected, candidates = order[:200], order[200:]
    for name in ("xgb", "rf"):
        unused: dict[str, np.ndarray] = {}
        _, model = fit_and_score(name, data, selected, profile="quick", seed=3, unused_predictions=unused)
        shared = active._in_candidate_order(unused, candidates)
        # bit for bit what a second prediction on the candidates (in the campaign's order) gives
        np.testing.assert_array_equal(shared, model.predict(data.pool.X[candidates]))
        assert active._in_candidate_order(unused, candidates[1:]) is None  # other rows: predict afresh
        assert active._in_candidate_order({}, candidates) is None


def test_xgb_u_prefers_rows_among_noisy_neighbours() -> None:
    # y is exactly 0 for x < 0.5 and pure noise above: IBUG's neighbours there have spread targets.
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(400, 1))
    y = np.where(X[:, 0] < 0.5, 0.0, rng.normal(size=400))
    booster = make_model("xgb_ibug", profile="quick", n_estimators=50, random_state=0).fit(X, y)
    models = {"xgb_ibug": IBUGRegressor(booster).fit(X, y)}
    queries = np.array([[0.1], [0.6], [0.2], [0.7], [0.3], [0.8]])
    chosen, scale = strategies.xgb_uncertainty_query(models, queries, 3, np.random.default_rng(0))
    assert sorted(chosen.tolist()) == [1, 3, 5]
    np.testing.assert_allclose(scale, models["xgb_ibug"].pred_dist(queries)[1])


def test_paper_xgb_ibug_is_the_authors_model() -> None:
    """XGB-U's XGB under `paper`: 1000 rounds x 1 tree, lr 0.25, lambda 0.01, alpha 0, no subsampling."""
    authors = {"n_estimators": 1000, "num_parallel_tree": 1, "learning_rate": 0.25, "reg_lambda": 0.01,
               "reg_alpha": 0.0, "subsample": 1.0, "colsample_bytree": 1.0, "colsample_bylevel": 1.0}
    params = config.model_params("xgb_ibug", "paper")
    assert {key: params[key] for key in authors} == authors
    booster = make_model("xgb_ibug", profile="paper").get_params()
    assert {key: booster[key] for key in authors} == authors
    assert config.model_params("xgb_ibug", "quick")["colsample_bytree"] == 1.0  # nothing leaks from xgb


def test_xgb_u_and_xgb_u_tuned_are_registered_with_their_ibug_settings() -> None:
    assert config.IBUG_PARAMS == {"k_grid": (100,), "calibrate": False, "val_fraction": 0.0}
    assert selectors.get("xgb_u").ibug == config.IBUG_PARAMS
    assert selectors.get("xgb_u_tuned").ibug == config.IBUG_TUNED_PARAMS
    for strategy in ("xgb_u", "xgb_u_tuned"):
        record = selectors.get(strategy)
        assert record.query is strategies.xgb_uncertainty_query and record.kind == "active"
        assert record.selector == "xgb_ibug" and record.distribution is not None


def test_xgb_u_query_model_is_k100_uncalibrated_on_all_selected_rows(context: RunContext) -> None:
    data = experiment_data(context, "mp18_small", "e_form")
    selected = np.random.default_rng(0).permutation(len(data.pool))[:150]
    paper = active._query_model("xgb_ibug", data, selected, 0, context, selectors.get("xgb_u").ibug)
    assert (paper.k_, paper.gamma_, paper.delta_, paper.calibrate) == (100, 1.0, 0.0, False)
    assert paper.val_nll_by_k_ == {} and paper.y_train_.size == 150
    np.testing.assert_array_equal(paper.y_train_, data.pool.y[selected])
    assert active._query_model("xgb_ibug", data, selected, 0, context).k_ == 100  # the default is xgb_u's

    tuned = active._query_model("xgb_ibug", data, selected, 0, context, selectors.get("xgb_u_tuned").ibug)
    assert tuned.calibrate and len(tuned.val_nll_by_k_) > 1 and tuned.k_grid_[-1] == 120  # 30 held out
    assert tuned.k_ == min(tuned.k_grid_, key=lambda k: (tuned.val_nll_by_k_[k], k))
    assert tuned.val_nll_ <= tuned.val_nll_by_k_[tuned.k_]


def test_campaigns_fit_ibug_with_their_strategys_settings(context: RunContext,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    fitted: dict[str, IBUGRegressor] = {}
    real = active._query_model

    def recording(name, data, selected, seed, run_context, ibug_settings=None):
        model = real(name, data, selected, seed, run_context, ibug_settings)
        fitted["tuned" if model.calibrate else "paper"] = model
        return model

    monkeypatch.setattr(active, "_query_model", recording)
    one_step = {**FRACTIONS, "stop_frac": FRACTIONS["init_frac"]}
    for strategy in ("xgb_u", "xgb_u_tuned"):
        run_campaign(Campaign("mp18_small", "e_form", strategy, 0, **one_step), context)
    paper, tuned = fitted["paper"], fitted["tuned"]
    # The initial 5 % has fewer than 100 rows: k = 100 takes every selected row, none held out.
    assert paper.k_ == paper.y_train_.size < 100 and paper.val_nll_by_k_ == {}
    assert len(tuned.val_nll_by_k_) > 1 and tuned.k_grid_[-1] == round(0.8 * tuned.y_train_.size)
    diagnostics = DiagnosticsTable(context.out_dir).read().set_index("strategy")
    assert np.isfinite(diagnostics.loc[["xgb_u", "xgb_u_tuned"], "id_test_nll"]).all()


def test_random_takes_the_candidates_in_order_and_sizes_are_checked() -> None:
    chosen, scores = strategies.random_query({}, np.zeros((6, 1)), 4, np.random.default_rng(0))
    assert chosen.tolist() == [0, 1, 2, 3] and np.all(np.diff(scores) < 0)
    with pytest.raises(ValueError, match="cannot query 7 of 6"):
        strategies.random_query({}, np.zeros((6, 1)), 7, np.random.default_rng(0))


def test_calibration_measures() -> None:
    y = np.random.default_rng(0).normal(size=20_000)
    loc = np.zeros_like(y)
    assert miscalibration_area(y, loc, np.ones_like(y)) < 0.01
    assert miscalibration_area(y, loc, np.full_like(y, 0.1)) > 0.35  # overconfident
    assert miscalibration_area(y, loc, np.full_like(y, 10.0)) > 0.35  # underconfident


def test_plan_shares_keys_with_the_random_baseline() -> None:
    campaign = Campaign("mp18_comp", "e_form", "random", 2, 0.01, 0.02, 0.21)
    plan = campaign.plan(38460)
    assert plan.fractions == tuple(round(0.01 + 0.02 * i, 6) for i in range(11))
    assert plan.sizes[0] == size_of(0.01, 38460) and plan.batch(10) == 0
    baseline = random_cells("mp18_comp", "e_form", ["xgb"], 38460, fractions=[0.01, 0.21], seeds=[2])
    assert {c.key() for c in baseline} <= {campaign.cell("xgb", s, plan).key() for s in range(len(plan))}
    with pytest.raises(ValueError, match="less than one row per step"):
        Campaign("mp18_comp", "e_form", "qbc", 0, 0.01, 1e-6, 0.02).plan(38460)


def test_map_tasks_passes_keywords_and_keeps_serial_order() -> None:
    # Local processes and Dask are exercised through run_cells in test_runner.py.
    assert list(map_tasks(size_of, [0.1, 0.25, 0.5], n_pool=100)) == [10, 25, 50]


# --------------------------------------------------------------------------------------------------
# The loop.
# --------------------------------------------------------------------------------------------------
def test_random_campaign_reproduces_the_baseline(context: RunContext, tmp_path: Path) -> None:
    report = run_campaign(_campaign("random", seed=1), context)
    assert report.steps_run == 3
    baseline = RunContext(str(tmp_path / "baseline"), "quick", n_threads=1)
    data = experiment_data(baseline, "mp18_small", "e_form")
    run_cells(random_cells("mp18_small", "e_form", ["xgb", "rf"], len(data.pool), fractions=[0.05, 0.1, 0.15],
                           seeds=[1]), baseline, progress=False)
    pd.testing.assert_frame_equal(_scores(context.out_dir), _scores(baseline.out_dir))
    selection = ResultsStore(context.out_dir).load_selection("al_mp18_small_e_form_s0_random_seed1")
    permutation = np.random.default_rng(1).permutation(len(data.pool))
    assert selection["ids"] == [str(i) for i in data.pool.ids[permutation[: size_of(0.15, len(data.pool))]]]


def test_random_campaign_reuses_the_baselines_stored_cells(context: RunContext, tmp_path: Path) -> None:
    data = experiment_data(context, "mp18_small", "e_form")
    run_cells(random_cells("mp18_small", "e_form", ["xgb", "rf"], len(data.pool), fractions=[0.05, 0.1],
                           seeds=[1]), context, progress=False)
    before = ResultsStore(context.out_dir).read()
    run_campaign(_campaign("random", seed=1), context)
    diagnostics = DiagnosticsTable(context.out_dir).read().sort_values("step")
    assert diagnostics["reused_cells"].tolist() == [True, True, False]
    reused = diagnostics[diagnostics["reused_cells"]]
    assert reused["fit_seconds"].eq(0).all() and reused["spearman_score_vs_error"].isna().all()
    assert diagnostics["batch_size"].tolist() == [
        size_of(0.1, len(data.pool)) - size_of(0.05, len(data.pool)),
        size_of(0.15, len(data.pool)) - size_of(0.1, len(data.pool)), 0]
    after = ResultsStore(context.out_dir).read()
    keys = ["model", "train_size", "eval_set"]
    kept = after.merge(before, on=keys, suffixes=("", "_before"))
    assert len(kept) == len(before) and (kept["fit_seconds"] == kept["fit_seconds_before"]).all()
    # the same scores as a campaign that fits every step itself
    alone = RunContext(str(tmp_path / "alone"), "quick", n_threads=1)
    run_campaign(_campaign("random", seed=1), alone)
    pd.testing.assert_frame_equal(_scores(context.out_dir), _scores(alone.out_dir))
    assert not DiagnosticsTable(alone.out_dir).read()["reused_cells"].any()


def test_campaigns_share_the_initial_set_and_never_repeat_a_row(context: RunContext) -> None:
    strategies = ["qbc", "rf_u", "xgb_u"]
    report = run_campaigns([_campaign(s) for s in strategies], context, progress=False)
    assert report.n_skipped == 0 and report.steps_run == 9
    data = experiment_data(context, "mp18_small", "e_form")
    plan = _campaign("qbc").plan(len(data.pool))
    store = ResultsStore(context.out_dir)
    permutation = np.random.default_rng(0).permutation(len(data.pool))
    initial = [str(i) for i in data.pool.ids[permutation[: plan.sizes[0]]]]
    for strategy in strategies:
        selection = store.load_selection(f"al_mp18_small_e_form_s0_{strategy}_seed0")
        assert len(selection["ids"]) == len(set(selection["ids"])) == plan.sizes[-1]
        assert selection["ids"][: plan.sizes[0]] == initial and selection["finished"]
    scores = store.read()
    cells = scores.groupby(["method", "selector", "model", "train_size"]).size()
    assert len(cells) == 3 * 2 * 3 and set(scores["selector"]) == {"xgb+rf", "rf", "xgb_ibug"}
    diagnostics = DiagnosticsTable(context.out_dir).read()
    assert len(diagnostics) == 9 and diagnostics.loc[diagnostics["step"] == 2, "batch_size"].eq(0).all()
    uncertain = diagnostics[diagnostics["strategy"].isin(["rf_u", "xgb_u"])]
    calibration = ["id_test_nll", "id_test_miscalibration_area", "id_test_coverage_90"]
    assert uncertain[calibration].notna().all().all()
    assert diagnostics["spearman_score_vs_error"].between(-1, 1).all()

    # QBC's first batch is the top disagreement of XGB and RF trained on the initial set.
    initial_rows, candidates = permutation[: plan.sizes[0]], permutation[plan.sizes[0]:]
    _, xgb = fit_and_score("xgb", data, initial_rows, profile="quick", seed=0)
    _, rf = fit_and_score("rf", data, initial_rows, profile="quick", seed=0)
    disagreement = np.abs(rf.predict(data.pool.X[candidates]) - xgb.predict(data.pool.X[candidates]))
    expected = candidates[np.argsort(-disagreement, kind="stable")[: plan.batch(0)]]
    qbc = store.load_selection("al_mp18_small_e_form_s0_qbc_seed0")["ids"]
    assert qbc[plan.sizes[0]: plan.sizes[1]] == [str(i) for i in data.pool.ids[expected]]

    # A second run finds everything done.
    assert run_campaigns([_campaign(s) for s in strategies], context, progress=False).n_skipped == 3


def test_interrupted_campaign_resumes_with_identical_results(context: RunContext, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    uninterrupted = RunContext(str(tmp_path / "uninterrupted"), "quick", n_threads=1)
    run_campaign(_campaign("xgb_u"), uninterrupted)

    real = active.step_diagnostics
    calls: list[int] = []

    def crash_in_second_step(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # step 1's score rows are stored, its checkpoint is not
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(active, "step_diagnostics", crash_in_second_step)
    args = [*CLI_ARGS, "--strategies", "xgb_u", "--seeds", "0", "--out", context.out_dir]
    assert run_main(run_al_main, args) == 130
    saved = ResultsStore(context.out_dir).load_selection("al_mp18_small_e_form_s0_xgb_u_seed0")
    assert saved["steps_done"] == 1 and not saved["finished"]

    monkeypatch.setattr(active, "step_diagnostics", real)
    resumed = run_campaign(_campaign("xgb_u"), context)
    assert (resumed.steps_skipped, resumed.steps_run) == (1, 2)
    pd.testing.assert_frame_equal(_scores(context.out_dir), _scores(uninterrupted.out_dir))
    pd.testing.assert_frame_equal(_diagnostics(context.out_dir), _diagnostics(uninterrupted.out_dir))
    name = "al_mp18_small_e_form_s0_xgb_u_seed0"
    assert (ResultsStore(context.out_dir).load_selection(name)
            == ResultsStore(uninterrupted.out_dir).load_selection(name))


# --------------------------------------------------------------------------------------------------
# Command line.
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("change", "message"), [
    (["--strategies", "qbc,uncertainty"], "unknown strategy 'uncertainty'"),
    (["--stop-frac", "1.5"], "need 0 < init_frac <= stop_frac <= 1"),
    (["--step-frac", "0.0001"], "less than one row per step"),
    (["--dataset", "nope"], "unknown dataset 'nope'"),
])
def test_bad_arguments_exit_2_with_a_reason(context: RunContext, capsys, change: list[str],
                                            message: str) -> None:
    args = [*CLI_ARGS, "--strategies", "random", "--seeds", "0", "--out", context.out_dir]
    args[args.index(change[0]) + 1] = change[1]
    assert run_main(run_al_main, args) == 2
    assert message in capsys.readouterr().err


def test_bad_seeds_and_help(capsys) -> None:
    with pytest.raises(SystemExit) as caught:
        run_al_main(["--seeds", "0,x"])
    assert caught.value.code == 2 and "seeds must be comma-separated integers" in capsys.readouterr().err
    with pytest.raises(SystemExit) as caught:
        run_al_main(["--help"])
    assert caught.value.code == 0
    shown = capsys.readouterr().out
    assert all(f"  {name} " in shown for name in selectors.strategy_names())


def test_a_longer_campaign_continues_a_shorter_one(context: RunContext, tmp_path: Path, capsys) -> None:
    direct = RunContext(str(tmp_path / "direct"), "quick", n_threads=1)
    run_campaign(_campaign("qbc"), direct)
    args = [*CLI_ARGS, "--strategies", "qbc", "--seeds", "0", "--out", context.out_dir]
    args[args.index("--stop-frac") + 1] = "0.1"
    assert run_main(run_al_main, args) == 0
    assert "ID test RMSE of XGB" in capsys.readouterr().out
    extended = run_campaign(_campaign("qbc"), context)  # stop 0.15: redoes step 1 to choose its batch
    assert (extended.steps_skipped, extended.steps_run) == (1, 2)
    pd.testing.assert_frame_equal(_scores(context.out_dir), _scores(direct.out_dir))
    pd.testing.assert_frame_equal(_diagnostics(context.out_dir), _diagnostics(direct.out_dir))
    name = "al_mp18_small_e_form_s0_qbc_seed0"
    saved = ResultsStore(context.out_dir).load_selection(name)
    assert saved == ResultsStore(direct.out_dir).load_selection(name)

    args[args.index("--step-frac") + 1] = "0.025"
    assert run_main(run_al_main, args) == 2
    assert "was made with other settings (step_frac=0.05" in capsys.readouterr().err
