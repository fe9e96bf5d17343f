"""The runner: identical scores whatever the executor, resume after a crash, argument errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from lessdata import runner
from lessdata.cli import random_baseline_main, run_main
from lessdata.runner import ResultsStore, RunContext, experiment_data, run_cells

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
    assert (summary["frac_within_10pct"] <= 1.0).all()
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
    (["--seeds", "0"], "--seeds must be at least 1"),
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
