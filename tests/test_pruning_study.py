"""prune_data.py end to end on real MP-2018 compositions: selection, cells, export, redundancy, resume."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from lessdata import pruning
from lessdata.cli import run_main
from lessdata.pruning import PruningResult
from lessdata.pruning_study import prune_data_main, selection_name
from lessdata.runner import ResultsStore


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
    split = pd.read_json(pruned / "split_mp18_small_e_form.json", typ="series")
    pool_ids = split["pool"]["ids"]
    assert sorted(selection["ids"]) == sorted(pool_ids)  # an ordering of the whole pool
    assert selection["round_sizes"] == result.round_sizes.tolist()

    scores = store.read()
    prune_rows = scores[scores["method"] == "prune"]
    assert set(prune_rows["selector"]) == {"xgb"}
    assert set(prune_rows["model"]) == {"xgb", "rf"}  # guide and transfer model
    full = prune_rows[prune_rows["train_frac"] == 1.0]
    assert set(full["model"]) == {"xgb"} and "unused" not in set(full["eval_set"])
    # Every evaluated size is a round's retained size, so the training set is that round's retained set.
    assert set(prune_rows["train_size"]) <= set(result.round_sizes.tolist())
    assert {"id_test", "unused", "ood_newest"} <= set(prune_rows["eval_set"])

    exported = pd.read_csv(pruned / "pruned_mp18_small_e_form_xgb_0.5.csv")
    positions = result.retained_at(0.5)
    assert list(exported["id"]) == [pool_ids[i] for i in positions]
    assert exported.shape[1] == 3 + 145

    elements = pd.read_csv(pruned / "redundancy" / "mp18_small_e_form_xgb_elements.csv")
    assert (elements["n_removed"] + elements["n_retained"] == elements["n_total"]).all()
    assert (pruned / "summary.csv").exists()


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


def test_composition_only_refuses_alignn_before_pruning(small_env: Path, tmp_path: Path, capsys) -> None:
    args = ["--dataset", "mp18_small", "--eval-models", "xgb,alignn", "--out", str(tmp_path)]
    assert run_main(prune_data_main, args) == 2
    assert "needs crystal structures" in capsys.readouterr().err
    assert not list(tmp_path.glob("selections/*.npz"))


def test_bad_export_fraction(small_env: Path, tmp_path: Path, capsys) -> None:
    assert run_main(prune_data_main, ["--dataset", "mp18_small", "--export", "1.5", "--out",
                                      str(tmp_path)]) == 2
    assert "outside (0, 1]" in capsys.readouterr().err
