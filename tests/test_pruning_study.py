"""prune_data.py end to end on real MP-2018 compositions: selection, cells, export, redundancy, resume."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from lessdata.analysis.summary import summarize
from lessdata.cli.scripts import prune_data_main, run_main
from lessdata.experiments.pruning_study import (
    REDUNDANCY_FALLBACK_FRACTION,
    guide_overrides,
    redundancy_fraction,
    selection_name,
)
from lessdata.experiments.runner import ResultsStore
from lessdata.selection import pruning
from lessdata.selection.pruning import PruningResult


@pytest.fixture(scope="module")
def pruned(session_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One XGB-guided pruning study of mp18_small, shared by the tests of this module."""
    out = tmp_path_factory.mktemp("study")
    args = ["--dataset", "mp18_small", "--target", "e_form", "--guide", "xgb", "--export", "0.5",
            "--out", str(out), "--no-progress"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LESSDATA_DATA_DIR", str(session_data_dir))
        assert run_main(prune_data_main, args) == 0
    return out


def test_prune_data_end_to_end(pruned: Path) -> None:
    store = ResultsStore(pruned)
    name = selection_name("mp18_small", "e_form", "xgb")
    selection = store.load_selection(name)
    result = PruningResult.load(store.selections_dir / f"{name}.npz")
    split = pd.read_json(pruned / "split_mp18_small_e_form_s0.json", typ="series")
    pool_ids = split["pool"]["ids"]
    assert sorted(selection["ids"]) == sorted(pool_ids)  # an ordering of the whole pool
    assert selection["round_sizes"] == result.round_sizes.tolist()

    scores = store.read()
    prune_rows = scores[scores["method"] == "prune"]
    assert set(prune_rows["selector"]) == {"xgb"}
    assert set(prune_rows["model"]) == {"xgb", "rf"}  # guide and transfer model
    full = prune_rows[prune_rows["train_frac"] == 1.0]
    # quick's guide (300 rounds) is not its evaluation XGB (500): the 100 % point is an evaluation cell of
    # every model; with a guide equal to the evaluation model it is the threshold fit, scored once.
    assert guide_overrides("quick", "xgb") == {"n_estimators": 300}
    assert set(full["model"]) == {"xgb", "rf"} and "unused" not in set(full["eval_set"])
    # Every evaluated size is a round's retained size, so the training set is that round's retained set.
    assert set(prune_rows["train_size"]) <= set(result.round_sizes.tolist())
    assert {"id_test", "unused", "ood_newest"} <= set(prune_rows["eval_set"])

    exported = pd.read_csv(pruned / "pruned_mp18_small_e_form_s0_xgb_0.5.csv")
    positions = result.retained_at(0.5)
    assert list(exported["id"]) == [pool_ids[i] for i in positions]
    assert exported.shape[1] == 3 + 145

    elements = pd.read_csv(pruned / "redundancy" / "mp18_small_e_form_s0_xgb_elements.csv")
    assert (elements["n_removed"] + elements["n_retained"] == elements["n_total"]).all()
    assert (pruned / "summary.csv").exists()


def test_redundancy_at_within_10pct_point(pruned: Path) -> None:
    """The tables compare at the guide's within-10 % point of its evaluated pruned curve (or the fallback)."""
    store = ResultsStore(pruned)
    name = next(path.stem for path in store.selections_dir.glob("prune_mp18_small_e_form_*xgb.npz"))
    result = PruningResult.load(store.selections_dir / f"{name}.npz")
    row = summarize(store.read()).query("method == 'prune' and selector == 'xgb' and model == 'xgb'").iloc[0]
    within = row["frac_within_10pct"]
    expected = within if pd.notna(within) and within < 1 else max(REDUNDANCY_FALLBACK_FRACTION,
                                                                   result.final_fraction)
    summary = pd.read_csv(pruned / "redundancy" / "mp18_small_e_form_s0_xgb_summary.csv").iloc[0]
    assert summary["retained_fraction"] == pytest.approx(expected, abs=0.5 / result.n_pool)
    assert summary["n_retained"] == len(result.retained_at(summary["retained_fraction"]))
    elements = pd.read_csv(pruned / "redundancy" / "mp18_small_e_form_s0_xgb_elements.csv")
    assert (elements["retained_fraction"] == summary["retained_fraction"]).all()
    assert {"p_value", "q_value", "enrichment_ci_low", "enrichment_ci_high", "significant"} <= set(elements)
    assert (elements["significant"] == (elements["q_value"] < 0.05)).all()


def test_rerun_does_no_fit(pruned: Path, small_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = ResultsStore(pruned).read()

    def refuse(*args, **kwargs):
        raise AssertionError("a finished pruning study was refitted")

    monkeypatch.setattr(pruning, "clone", refuse)
    args = ["--dataset", "mp18_small", "--target", "e_form", "--guide", "xgb", "--out", str(pruned),
            "--no-progress"]
    assert run_main(prune_data_main, args) == 0
    after = ResultsStore(pruned).read()
    pd.testing.assert_frame_equal(before, after)


def test_second_pruning_run_joins_the_curve(pruned: Path, small_env: Path, tmp_path: Path) -> None:
    """--prune-seeds adds an independent run (own selection, threshold and cells with that seed); its
    retained sizes differ from run 0's, and the analysis aligns them so the curve has two seeds."""
    from lessdata.analysis.summary import interval_summary  # noqa: PLC0415

    out = tmp_path / "study"
    shutil.copytree(pruned, out)
    args = ["--dataset", "mp18_small", "--target", "e_form", "--guide", "xgb", "--eval-models", "xgb",
            "--prune-seeds", "0,1", "--out", str(out), "--no-progress"]
    assert run_main(prune_data_main, args) == 0
    store = ResultsStore(out)
    first = PruningResult.load(store.selections_dir / f"{selection_name('mp18_small', 'e_form', 'xgb')}.npz")
    second_name = selection_name("mp18_small", "e_form", "xgb", seed=1)
    assert second_name.endswith("_seed1")
    second = PruningResult.load(store.selections_dir / f"{second_name}.npz")
    assert second.round_sizes.tolist() != first.round_sizes.tolist()  # a different run, not a copy
    assert (out / "prune_rounds_mp18_small_e_form_s0_xgb_seed1.csv").exists()
    rows = store.read().query("method == 'prune' and model == 'xgb' and eval_set == 'id_test'")
    assert set(rows["seed"]) == {0, 1}
    assert set(rows.loc[rows["seed"] == 1, "train_size"]) <= set(second.round_sizes.tolist())
    summary = interval_summary(out, n_boot=200).set_index(["model", "curve"])
    assert summary.loc[("xgb", "prune:xgb"), "n_seeds"] == 2
    assert summary.loc[("rf", "prune:xgb"), "n_seeds"] == 1  # the transfer model saw run 0 only
    transfer = summary.loc[("rf", "prune:xgb")]
    verdicts = {transfer[name] for name in transfer.index
                if name.startswith("diff_") and name.endswith("_verdict")}
    assert verdicts and verdicts <= {"one run: not called", "not measured"}  # one run is never called


def test_composition_only_refuses_alignn_before_pruning(small_env: Path, tmp_path: Path, capsys) -> None:
    args = ["--dataset", "mp18_small", "--eval-models", "xgb,alignn", "--out", str(tmp_path)]
    assert run_main(prune_data_main, args) == 2
    assert "needs crystal structures" in capsys.readouterr().err
    assert not list(tmp_path.glob("selections/*.npz"))


def test_bad_export_fraction(small_env: Path, tmp_path: Path, capsys) -> None:
    assert run_main(prune_data_main, ["--dataset", "mp18_small", "--export", "1.5", "--out",
                                      str(tmp_path)]) == 2
    assert "outside (0, 1]" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["0", "1.5"])
def test_bad_redundancy_fraction(tmp_path: Path, capsys, value: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run_main(prune_data_main, ["--dataset", "mp18_small", "--redundancy-fraction", value, "--out",
                                   str(tmp_path)])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "--redundancy-fraction" in error and "outside (0, 1]" in error


def test_redundancy_fraction_fallback_without_scores(tmp_path: Path) -> None:
    data = SimpleNamespace(dataset=SimpleNamespace(name="mp18_small", target="e_form"),
                           split=SimpleNamespace(label="s0"))
    result = SimpleNamespace(final_fraction=0.1, n_pool=1000)
    fraction, source = redundancy_fraction(tmp_path, data, result, "xgb")
    assert fraction == REDUNDANCY_FALLBACK_FRACTION and "fallback" in source
    result.final_fraction = 0.45  # pruning stopped above the fallback: compare at its final set
    assert redundancy_fraction(tmp_path, data, result, "xgb")[0] == 0.45
