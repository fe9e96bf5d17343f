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
from lessdata import api, config, console, pruning, runner

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
    out = subprocess.run([sys.executable, "-m", "lessdata.console", "--help"], capture_output=True,
                         text=True, check=True, timeout=60).stdout
    for name in ("featurize", "random", "prune", "al", "figures"):
        assert re.search(rf"^  {name}\s+\S", out, re.MULTILINE), name
    unknown = subprocess.run([sys.executable, "-m", "lessdata.console", "nope"], capture_output=True,
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
