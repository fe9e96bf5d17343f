"""The runner: identical scores whatever the executor, resume after a crash, argument errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lessdata.cli.scripts import random_baseline_main, run_main, select_subsets_main
from lessdata.experiments import runner
from lessdata.experiments.runner import ResultsStore, RunContext, experiment_data, run_cells

SCORES = ["dataset", "target", "method", "selector", "model", "seed", "train_frac", "train_size",
          "eval_set", "n_eval", "mae", "rmse", "r2"]
ARGS = ["--dataset", "mp18_small", "--target", "e_form", "--models", "xgb,rf", "--fractions",
        "0.05,0.2,1", "--seeds", "2", "--no-progress"]


def _scores(out: Path) -> pd.DataFrame:
    return ResultsStore(out).read()[SCORES].sort_values(SCORES[:9]).reset_index(drop=True)


@pytest.fixture()
def serial_run(small_env: Path, tmp_path: Path) -> Path:
    out = tmp_path / "serial"
    assert run_main(random_baseline_main, [*ARGS, "--out", str(out)]) == 0
    return out


def test_random_baseline_rows_and_summary(serial_run: Path) -> None:
    scores = ResultsStore(serial_run).read()
    # 2 models x 2 seeds x 3 sizes; id_test + ood_newest everywhere, unused below the full pool.
    assert scores.groupby(runner.KEY_COLUMNS).ngroups == 12
    assert set(scores["eval_set"]) == {"id_test", "unused", "ood_newest"}
    assert (scores[scores["train_frac"] == 1.0]["eval_set"] != "unused").all()
    assert (scores["method"] == "random").all() and (scores["selector"] == "").all()
    summary = pd.read_csv(serial_run / "summary.csv")
    assert set(summary["model"]) == {"xgb", "rf"}
    assert {"full_rmse_lo", "full_rmse_hi", "within10_rmse", "within10_mae"} <= set(summary.columns)
    assert (summary["full_rmse_lo"] <= summary["full_rmse"]).all()
    assert (summary["full_rmse"] <= summary["full_rmse_hi"]).all()
    assert list((serial_run / "manifests").glob("random_baseline_*.json"))


def test_parallel_and_dask_give_identical_scores(serial_run: Path, tmp_path: Path) -> None:
    parallel = tmp_path / "parallel"
    assert run_main(random_baseline_main, [*ARGS, "--out", str(parallel), "--n-jobs", "2"]) == 0
    pd.testing.assert_frame_equal(_scores(serial_run), _scores(parallel))

    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        on_dask = tmp_path / "dask"
        assert run_main(random_baseline_main,
                        [*ARGS, "--out", str(on_dask), "--scheduler", cluster.scheduler_address]) == 0
    pd.testing.assert_frame_equal(_scores(serial_run), _scores(on_dask))


def test_resume_after_crash_runs_only_the_missing_cells(serial_run: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "crashed"
    real = runner.execute_cell
    calls: list[runner.Cell] = []

    def crash_after_five(cell: runner.Cell, context: RunContext) -> list[dict]:
        if len(calls) == 5:
            raise KeyboardInterrupt
        calls.append(cell)
        return real(cell, context)

    monkeypatch.setattr(runner, "execute_cell", crash_after_five)
    assert run_main(random_baseline_main, [*ARGS, "--out", str(out)]) == 130
    assert ResultsStore(out).read().groupby(runner.KEY_COLUMNS).ngroups == 5

    resumed: list[runner.Cell] = []
    monkeypatch.setattr(runner, "execute_cell", lambda cell, context: resumed.append(cell) or real(
        cell, context))
    assert run_main(random_baseline_main, [*ARGS, "--out", str(out)]) == 0
    assert len(resumed) == 7 and not {c.key() for c in resumed} & {c.key() for c in calls}
    pd.testing.assert_frame_equal(_scores(serial_run), _scores(out))
    # A third run has nothing left to do.
    resumed.clear()
    assert run_main(random_baseline_main, [*ARGS, "--out", str(out)]) == 0
    assert resumed == []


def test_store_keeps_concurrent_writers_rows(small_env: Path, tmp_path: Path) -> None:
    context = RunContext(str(tmp_path), "quick")
    data = experiment_data(context, "mp18_small", "e_form")
    cells = [runner.Cell("mp18_small", "e_form", "random", "", "rf", 0, f, runner.size_of(f, len(data.pool)))
             for f in (0.05, 0.1)]
    run_cells(cells[:1], context, progress=False)
    run_cells(cells, context, progress=False)
    assert ResultsStore(tmp_path).read().groupby(runner.KEY_COLUMNS).ngroups == 2


@pytest.mark.parametrize(("change", "message"), [
    (["--dataset", "nope"], "unknown dataset 'nope'"),
    (["--target", "density"], "has no target 'density'"),
    (["--models", "xgb,svm"], "unknown model 'svm'"),
])
def test_bad_arguments_exit_2_with_a_reason(small_env: Path, tmp_path: Path, capsys, change: list[str],
                                            message: str) -> None:
    args = [*ARGS, "--out", str(tmp_path)]
    flag = change[0]
    args[args.index(flag) + 1] = change[1]
    assert run_main(random_baseline_main, args) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("fraction", ["0", "1.5", "-0.1"])
def test_fraction_outside_unit_interval(small_env: Path, tmp_path: Path, capsys, fraction: str) -> None:
    args = [*ARGS, "--out", str(tmp_path)]
    args[args.index("--fractions") + 1] = f"0.1,{fraction}"
    with pytest.raises(SystemExit) as caught:
        random_baseline_main(args)
    assert caught.value.code == 2
    assert "outside (0, 1]" in capsys.readouterr().err


@pytest.mark.parametrize("main", [random_baseline_main, select_subsets_main])
@pytest.mark.parametrize("seeds", ["0", "two"])
def test_seed_count_below_one_or_not_a_number(small_env: Path, tmp_path: Path, capsys, main,
                                              seeds: str) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--dataset", "mp18_small", "--seeds", seeds, "--out", str(tmp_path)])
    assert caught.value.code == 2
    assert "argument --seeds:" in capsys.readouterr().err


def test_predictions_are_stored_and_reproduce_the_scores(serial_run: Path) -> None:
    """Every cell's ID-test predictions are kept, so intervals need no refit; they give its RMSE back."""
    store = ResultsStore(serial_run)
    keys, vectors = store.predictions.read("id_test")
    scores = store.read()
    id_rows = scores[scores["eval_set"] == "id_test"]
    assert len(keys) == len(id_rows) == 12
    truth = store.predictions.truth("mp18_small", "e_form", "s0")
    assert set(truth) == {"id_test", "ood_newest"}
    for position in range(len(keys)):
        key = keys.iloc[position]
        row = id_rows[(id_rows["model"] == key["model"]) & (id_rows["seed"] == key["seed"])
                      & (id_rows["train_size"] == key["train_size"])].iloc[0]
        rmse = float(np.sqrt(np.mean((vectors[position] - truth["id_test"]) ** 2)))
        assert rmse == pytest.approx(row["rmse"], rel=1e-5)


def test_a_folder_refuses_rows_of_another_profile(serial_run: Path, capsys: pytest.CaptureFixture) -> None:
    """quick rows and paper rows never mix: the second profile is refused with a clear message."""
    before = _scores(serial_run)
    assert run_main(random_baseline_main, [*ARGS, "--out", str(serial_run), "--profile", "paper"]) == 2
    assert "other settings" in capsys.readouterr().err
    pd.testing.assert_frame_equal(before, _scores(serial_run))  # nothing was added or replaced


def test_settings_hash_follows_every_hyperparameter(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from lessdata import config

    quick = config.study_settings("quick")
    assert quick != config.study_settings("paper")
    monkeypatch.setitem(config.RF_PARAMS, "max_features", 0.5)
    assert config.study_settings("quick") != quick
    store = ResultsStore(tmp_path / "study")
    store.claim(quick)
    store.claim(quick)  # the same settings again: fine
    with pytest.raises(runner.SettingsMismatchError, match="settings_sha256"):
        store.claim(config.study_settings("quick"))


def test_profile_patch_changes_settings_and_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    from lessdata import config

    quick = config.study_settings("quick")
    patch = {"quick": {"al": {"step_frac": 0.03}, "model_overrides": {"rf": {"n_estimators": 50}}}}
    monkeypatch.setenv(config.PROFILE_PATCH_ENV, json.dumps(patch))
    assert config.profile("quick")["al"] == {**config.PROFILES["quick"]["al"], "step_frac": 0.03}
    assert config.model_params("rf", "quick")["n_estimators"] == 50
    assert config.model_params("xgb", "quick") == {**config.XGB_PARAMS, **config.PROFILES["quick"][
        "model_overrides"]["xgb"]}
    assert config.study_settings("quick") != quick
    monkeypatch.setenv(config.PROFILE_PATCH_ENV, "{not json")
    with pytest.raises(ValueError, match="LESSDATA_PROFILE_PATCH is not valid JSON"):
        config.profile("quick")
    monkeypatch.setenv(config.PROFILE_PATCH_ENV, '{"fast": {}}')
    with pytest.raises(ValueError, match="keyed by profile names"):
        config.profile("quick")


def test_ood_none_and_given_test_ids(small_env: Path, tmp_path: Path) -> None:
    """--ood none runs on the whole table; --id-test-ids reuses a hold-out; --split-seeds repeats it."""
    out = tmp_path / "whole"
    base = ["--dataset", "mp18_small", "--target", "e_form", "--models", "xgb", "--fractions", "0.1",
            "--seeds", "1", "--no-progress", "--ood", "none", "--out", str(out)]
    assert run_main(random_baseline_main, [*base, "--split-seeds", "0,1"]) == 0
    scores = ResultsStore(out).read()
    assert set(scores["split"]) == {"s0", "s1"} and set(scores["eval_set"]) == {"id_test", "unused"}
    test_ids = experiment_data(RunContext(str(out), ood=()), "mp18_small", "e_form").test.ids
    id_file = tmp_path / "ids.txt"
    id_file.write_text("\n".join(test_ids[:100]))
    assert run_main(random_baseline_main, [*base, "--id-test-ids", str(id_file)]) == 0
    scores = ResultsStore(out).read()
    given = scores[~scores["split"].isin(["s0", "s1"])]
    assert given["split"].str.startswith("ids-").all()
    assert set(given.loc[given["eval_set"] == "id_test", "n_eval"]) == {100}
    assert run_main(random_baseline_main, [*base, "--id-test-ids", str(id_file), "--split-seeds", "1"]) == 2


def test_profile_patch_refuses_unknown_keys_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    from lessdata import config

    cases = {
        '{"quick": {"al": {"step_fraction": 0.03}}}': "unknown key 'quick.al.step_fraction'",
        '{"quick": {"prunning": {}}}': "unknown key 'quick.prunning'",
        '{"paper": {"model_overrides": {"xgboost": {"n_estimators": 5}}}}': "unknown model",
        '{"quick": {"model_overrides": {"rf": {"n_estimator": 5}}}}':
            r"unknown hyperparameter\(s\) \['n_estimator'\]",
    }
    for text, message in cases.items():
        monkeypatch.setenv(config.PROFILE_PATCH_ENV, text)
        with pytest.raises(ValueError, match=message):
            config.profile("quick")
    # Keys the profiles leave out on purpose, and estimator parameters they do not set, are accepted.
    monkeypatch.setenv(config.PROFILE_PATCH_ENV, json.dumps({"paper": {"prune": {
        "threshold": "oof", "guide_overrides": {"xgb": {"max_bin": 64}}}}}))
    assert config.profile("paper")["prune"]["threshold"] == "oof"
