"""The public Python API (lessdata.api, re-exported by the package), its README example and the command."""

from __future__ import annotations

import doctest
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.tree import DecisionTreeRegressor

import lessdata
from lessdata import api, config
from lessdata.cli import console
from lessdata.experiments import runner
from lessdata.experiments.active import Campaign, run_campaign
from lessdata.selection import pruning, strategies

README = config.REPO_ROOT / "README.md"


@pytest.mark.parametrize("module", [api, lessdata], ids=["api", "package"])
def test_doctests_pass(module) -> None:
    failed, attempted = doctest.testmod(module)
    assert failed == 0, f"{failed} of {attempted} doctests of {module.__name__} failed"
    if module is api:
        assert attempted >= 10  # the examples really ran


def test_public_names_resolve_and_import_stays_light() -> None:
    for name in lessdata.__all__:
        assert getattr(lessdata, name) is not None
    assert lessdata.prune is api.prune and lessdata.PruningResult is pruning.PruningResult
    with pytest.raises(AttributeError):
        _ = lessdata.not_a_name
    heavy = {"torch", "alignn", "xgboost", "matminer", "pymatgen", "sklearn"}
    code = f"import sys, lessdata; print(sorted({heavy!r} & {{m.split('.')[0] for m in sys.modules}}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.fixture()
def small_table(mp18_small) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pool and test arrays of the real 1,500-entry sample (formation energy), split 90/10."""
    rows = np.random.default_rng(0).permutation(len(mp18_small.ids))
    test, pool = rows[:150], rows[150:]
    y = mp18_small.y["e_form"]
    return mp18_small.X[pool], y[pool], mp18_small.X[test], y[test]


def test_prune_matches_the_engine(small_table) -> None:
    X, y, X_test, y_test = small_table
    guide = DecisionTreeRegressor(max_depth=8, random_state=0)
    settings = {"min_retained": 300, "max_rounds": 12, "random_state": 3}
    threshold, _ = pruning.pruning_threshold(guide, X, y, X_test, y_test, kappa=0.5)
    direct = pruning.prune(guide, X, y, threshold, progress=False, **settings)

    via_test_set = api.prune(guide, X, y, X_test=X_test, y_test=y_test, **settings)
    assert via_test_set.threshold == threshold
    np.testing.assert_array_equal(via_test_set.order, direct.order)
    np.testing.assert_array_equal(via_test_set.round_sizes, direct.round_sizes)

    columns = [f"f{i}" for i in range(X.shape[1])]
    frame = pd.DataFrame(X, columns=columns)
    via_frames = api.prune(guide, frame, pd.Series(y), threshold=threshold, **settings)
    np.testing.assert_array_equal(via_frames.order, direct.order)


def test_prune_threshold_needs_a_held_out_set() -> None:
    X, y = np.random.default_rng(0).normal(size=(400, 3)), np.arange(400.0)
    tree = DecisionTreeRegressor()
    with pytest.raises(ValueError, match="X_test"):
        api.prune(tree, X, y)
    with pytest.raises(ValueError, match="not both"):
        api.prune(tree, X, y, X_test=X, y_test=y, threshold=0.1)
    with pytest.raises(ValueError, match="both X_test and y_test"):
        api.prune(tree, X, y, X_test=X)
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    with pytest.raises(ValueError, match="numeric"):
        api.prune(tree, frame.assign(formula="NaCl"), y, threshold=0.1)
    with pytest.raises(ValueError, match="other columns"):
        api.prune(tree, frame, y, X_test=frame[["c", "b", "a"]], y_test=y)


class _Recorder(RegressorMixin, BaseEstimator):
    """Remembers the rows (column 0 holds the pool position) and the seed of every fit."""

    fits: list[tuple[np.ndarray, int]] = []

    def __init__(self, random_state: int | None = None) -> None:
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: np.ndarray) -> _Recorder:
        _Recorder.fits.append((X[:, 0].astype(np.int64), self.random_state))
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.full(len(X), self.mean_)


def test_random_subsets_are_the_runner_permutation_prefixes() -> None:
    n_pool, fractions, seeds = 250, [0.02, 0.3, 1.0], [4, 11]
    X = np.column_stack([np.arange(n_pool), np.random.default_rng(1).normal(size=n_pool)])
    y = np.random.default_rng(2).normal(size=n_pool)
    _Recorder.fits = []
    table = api.random_subsets(_Recorder(random_state=99), X, y, X[:20], y[:20], fractions=fractions,
                               seeds=seeds)
    assert list(table.columns) == api.RANDOM_SUBSET_COLUMNS
    assert table[["seed", "fraction"]].values.tolist() == [[s, f] for s in seeds for f in fractions]
    expected = [(runner.pool_permutation(s, n_pool)[: runner.size_of(f, n_pool)], s)
                for s in seeds for f in fractions]
    assert len(_Recorder.fits) == len(expected)
    for (rows, seed), (want_rows, want_seed) in zip(_Recorder.fits, expected, strict=True):
        np.testing.assert_array_equal(rows, want_rows)
        assert seed == want_seed
    assert table["train_size"].tolist() == [runner.size_of(f, n_pool) for _ in seeds for f in fractions]
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        api.random_subsets(_Recorder(), X, y, X, y, fractions=[0.0])


# --------------------------------------------------------------------------------------------------
# Active learning on a user's arrays.
# --------------------------------------------------------------------------------------------------
def test_active_learning_docstring_example_runs() -> None:
    runner_ = doctest.DocTestRunner()
    for test in doctest.DocTestFinder().find(api.active_learning, "active_learning", globs={}):
        runner_.run(test)
    failed, attempted = runner_.summarize(verbose=False)
    assert failed == 0 and attempted >= 8
    assert '"qbc"' in api.active_learning.__doc__  # the documented example is a QBC campaign


def test_active_learning_runs_the_campaign_loop(small_env: Path, tmp_path: Path) -> None:
    """On a registered dataset's pool and test set, QBC picks the rows and scores of `lessdata al`."""
    context = runner.RunContext(str(tmp_path / "out"), "quick", n_threads=1)
    run_campaign(Campaign("mp18_small", "e_form", "qbc", 0, 0.05, 0.05, 0.15), context)
    data = runner.experiment_data(context, "mp18_small", "e_form")
    result = lessdata.active_learning("qbc", data.pool.X, data.pool.y, X_test=data.test.X, y_test=data.test.y,
                                      start_frac=0.05, step=0.05, stop_frac=0.15)
    campaign = runner.ResultsStore(context.out_dir).load_selection("al_mp18_small_e_form_s0_qbc_seed0")
    assert [str(i) for i in data.pool.ids[result.order]] == campaign["ids"]
    assert list(result.sizes) == campaign["sizes"] and list(result.fractions) == campaign["fractions"]
    assert result.step_added.tolist() == np.repeat([0, 1, 2], np.diff([0, *result.sizes])).tolist()
    stored = runner.ResultsStore(context.out_dir).read().replace({"eval_set": {"id_test": "test"}})
    merged = result.scores.merge(stored, on=["model", "train_size", "eval_set"], suffixes=("", "_stored"))
    assert len(merged) == len(result.scores) == 3 * 2 * 2  # steps x models x (test, unused)
    for column in ("mae", "rmse", "r2"):  # equal up to the CSV's round trip
        np.testing.assert_allclose(merged[column], merged[f"{column}_stored"], rtol=1e-12)
    assert (merged["n_eval"] == merged["n_eval_stored"]).all()


def test_active_learning_runs_a_users_strategy_on_dataframes() -> None:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(100, 3)), columns=["a", "b", "c"])
    y = pd.Series(X["a"] * 2 + rng.normal(scale=0.1, size=100))
    calls: list[dict] = []

    def lowest_first(models, X_unlabelled, n, rng):
        predicted = models["tree"].predict(X_unlabelled)
        calls.append({"models": sorted(models), "n": n, "rows": len(X_unlabelled),
                      "seed": models["tree"].random_state, "predicted": predicted,
                      "rng": isinstance(rng, np.random.Generator)})
        return strategies.top_n(-predicted, n), -predicted

    result = lessdata.active_learning(lowest_first, X, y, models={"tree": DecisionTreeRegressor(max_depth=3)},
                                      n_start=20, step=10, stop_frac=0.5, random_state=7)
    assert result.strategy == "lowest_first" and result.sizes == (20, 30, 40, 50)
    assert [(c["n"], c["rows"], c["seed"], c["models"], c["rng"]) for c in calls] == [
        (10, 80, 7, ["tree"], True), (10, 70, 7, ["tree"], True), (10, 60, 7, ["tree"], True),
        (0, 50, 7, ["tree"], True)]
    np.testing.assert_array_equal(result.order[:20], runner.pool_permutation(7, 100)[:20])
    assert len(set(result.order)) == 50 and result.train_rows(1).tolist() == result.order[:30].tolist()
    # each step's batch: the strategy's choice among the unused rows, listed in the seed's permutation order
    permutation = runner.pool_permutation(7, 100)
    for step, call in enumerate(calls[:-1]):
        candidates = permutation[~np.isin(permutation, result.train_rows(step))]
        batch = result.order[result.sizes[step]: result.sizes[step + 1]]
        np.testing.assert_array_equal(batch, candidates[strategies.top_n(-call["predicted"], 10)])
        assert (result.step_added[np.isin(result.order, batch)] == step + 1).all()
        assert call["predicted"][np.isin(candidates, batch)].max() <= call["predicted"][
            ~np.isin(candidates, batch)].min()
    scores = result.scores
    assert scores["eval_set"].unique().tolist() == ["unused"]  # no test set given
    assert scores["model"].unique().tolist() == ["tree"] and scores["n_eval"].tolist() == [80, 70, 60, 50]
    assert scores["train_frac"].tolist() == [0.2, 0.3, 0.4, 0.5]

    def indices_only(models, X_unlabelled, n, rng):
        return np.arange(n)

    with pytest.raises(ValueError, match=r"must return \(indices, scores\)"):
        lessdata.active_learning(indices_only, X, y, models={"tree": DecisionTreeRegressor()}, n_start=20,
                                 step=10, stop_frac=0.5)


def test_random_active_learning_is_the_random_baseline() -> None:
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(200, 4)), rng.normal(size=200)
    tree = DecisionTreeRegressor(max_depth=4)
    result = lessdata.active_learning("random", X, y, X_test=X[:30], y_test=y[:30], models={"tree": tree},
                                      start_frac=0.1, step=0.1, stop_frac=0.3, random_state=3)
    np.testing.assert_array_equal(result.order, runner.pool_permutation(3, 200)[:60])
    baseline = api.random_subsets(tree, X, y, X[:30], y[:30], fractions=[0.1, 0.2, 0.3], seeds=[3])
    test = result.scores[result.scores["eval_set"] == "test"].reset_index(drop=True)
    pd.testing.assert_frame_equal(test[["train_size", "mae", "rmse", "r2"]],
                                  baseline[["train_size", "mae", "rmse", "r2"]])


@pytest.mark.parametrize(("change", "message"), [
    ({"y": np.arange(99.0)}, r"y must be 1-D with one value per row of its features \(100\)"),
    ({"strategy": "uncertainty"}, "strategy='uncertainty' is not a registered strategy; pass one of random"),
    ({"strategy": 3}, "or your own function strategy"),
    ({"models": ("xgb",)}, r"strategy 'qbc' reads the step's xgb and rf model\(s\); add rf to models="),
    ({"models": ("knn",)}, "'knn' is not one: pass your own estimators by name"),
    ({"models": {"knn": "KNeighborsRegressor"}}, r"models\['knn'\] must be an unfitted scikit-learn"),
    ({"X_test": np.zeros((5, 3))}, "pass both X_test and y_test"),
    ({"X_test": np.zeros((5, 2)), "y_test": np.zeros(5)}, "X_test has 2 features, X has 3"),
    ({"y": np.r_[np.nan, np.arange(99.0)]}, "y has 1 non-finite values"),
    ({"start_frac": 0.1, "n_start": 10}, "start_frac= .* or n_start= .*, not both"),
    ({"n_start": 80}, r"n_start must be a row count from 1 to stop_frac x the pool \(35\)"),
    ({"step": 0.001}, "step=0.001 adds less than one row per step to a pool of 100"),
    ({"step": -2}, "step must be a fraction of the pool"),
    ({"stop_frac": 1.5}, r"stop_frac must be in \(0, 1\]"),
    ({"profile": "fast"}, "fast"),
])
def test_active_learning_bad_input_names_the_argument(change: dict, message: str) -> None:
    X, y = np.random.default_rng(0).normal(size=(100, 3)), np.arange(100.0)
    arguments = {"strategy": "qbc", "X": X, "y": y, **change}
    with pytest.raises(ValueError, match=message):
        lessdata.active_learning(arguments.pop("strategy"), arguments.pop("X"), arguments.pop("y"),
                                 **arguments)


def readme_python_block(section: str = "## Use it from Python") -> str:
    """The first ```python block of a README section."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n{section}\n")
    end = text.find("\n## ", start + 1)
    match = re.search(r"```python\n(.*?)```", text[start:end if end > 0 else None], re.DOTALL)
    assert match, f"no python code block under {section!r} in README.md"
    return match.group(1)


def test_readme_example_runs_on_a_users_table(mp18_small, tmp_path: Path) -> None:
    code = readme_python_block()
    assert 5 <= len(code.strip().splitlines()) <= 16
    csv_name = re.search(r"read_csv\(\"([^\"]+)\"\)", code).group(1)
    n_rows = 1000  # of the real sample: the example's default settings (stop at 300) still reach 50 %
    table = pd.DataFrame(mp18_small.X[:n_rows], columns=mp18_small.feature_names)
    table.insert(0, "id", mp18_small.ids[:n_rows])
    table["e_form"] = mp18_small.y["e_form"][:n_rows]
    table.to_csv(tmp_path / csv_name, index=False)
    # As a user runs it: a fresh interpreter in the folder with the CSV.  One OpenMP thread, because
    # XGBoost's default (every core) crawls when the test run already keeps the cores busy.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.search(r"^\d+ rounds; pruned sets reachable down to \d+% of the pool$", done.stdout,
                     re.MULTILINE), done.stdout
    kept = pd.read_csv(tmp_path / "kept_ids.csv")["id"]
    assert 300 <= len(kept) <= 0.5 * 0.9 * n_rows
    assert kept.isin(table["id"]).all() and kept.is_unique


def test_console_help_lists_the_subcommands() -> None:
    out = subprocess.run([sys.executable, "-m", "lessdata.cli.console", "--help"], capture_output=True,
                         text=True, check=True, timeout=60).stdout
    for name in ("featurize", "random", "prune", "al", "figures"):
        assert re.search(rf"^  {name}\s+\S", out, re.MULTILINE), name
    unknown = subprocess.run([sys.executable, "-m", "lessdata.cli.console", "nope"], capture_output=True,
                             text=True, timeout=60)
    assert unknown.returncode == 2 and "unknown command" in unknown.stderr


@pytest.mark.parametrize("command", list(console.COMMANDS))
def test_console_subcommand_help_is_the_scripts_own(command: str, capsys) -> None:
    with pytest.raises(SystemExit) as stopped:  # argparse's --help exits after printing
        console.main([command, "--help"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: lessdata {command} ")


def test_console_input_errors_exit_2(capsys) -> None:
    assert console.main(["prune", "--export", "2"]) == 2  # run_main turns the input error into status 2
    assert capsys.readouterr().err.startswith("error:")


def test_installed_lessdata_script() -> None:
    script = Path(sys.executable).with_name("lessdata")
    if not script.exists():
        pytest.skip("the `lessdata` entry point is not installed here (rerun setup_env.bash)")
    out = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=True, timeout=60)
    assert "prune" in out.stdout
