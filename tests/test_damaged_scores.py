"""A damaged scores row is named (file and line), never counted as done, and refit on rerun."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from lessdata import files as lio
from lessdata.analysis import results
from lessdata.experiments.runner import (
    KEY_COLUMNS,
    SCORE_COLUMNS,
    Cell,
    ResultsStore,
    RunContext,
    experiment_data,
    run_cells,
    size_of,
)
from lessdata.experiments.store import row_problems

TIMINGS = ["fit_seconds", "predict_seconds"]


def _run(out: Path) -> tuple[RunContext, list[Cell]]:
    """Two small real cells (XGBoost on mp18_small) stored in ``out``."""
    context = RunContext(str(out), "quick")
    n_pool = len(experiment_data(context, "mp18_small", "e_form").pool)
    cells = [Cell("mp18_small", "e_form", "random", "", "xgb", 0, f, size_of(f, n_pool)) for f in (0.05, 0.1)]
    report = run_cells(cells, context, progress=False)
    assert report.n_run == 2
    return context, cells


def _cut_last_row(scores: Path, keep: int) -> int:
    """Cut the last line of ``scores`` to its first ``keep`` characters; returns that line's number."""
    lines = scores.read_text().splitlines()
    lines[-1] = lines[-1][:keep]
    scores.write_text("\n".join(lines))
    return len(lines)


def _table(out: Path) -> pd.DataFrame:
    """The stored rows as written, sorted, without timings (identical for identical fits)."""
    raw = lio.read_results_csv(Path(out) / "scores.csv", SCORE_COLUMNS)
    return raw.drop(columns=TIMINGS).sort_values([*KEY_COLUMNS, "eval_set"]).reset_index(drop=True)


@pytest.mark.parametrize(("where", "named", "cut_key"), [
    ("rmse", "empty: r2, fit_seconds, predict_seconds, profile", False),  # the reported truncation
    ("target", "empty: method, model, seed", True),  # cut inside the key: the cell is found by its place
], ids=["cut_in_rmse", "cut_in_key"])
def test_a_row_cut_short_is_named_not_done_and_refit(small_env: Path, tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture, where: str,
                                                     named: str, cut_key: bool) -> None:
    context, cells = _run(tmp_path)
    scores = tmp_path / "scores.csv"
    original = _table(tmp_path)
    last = original.iloc[-1]  # rows are sorted by cell: the last belongs to the larger cell
    assert last["train_size"] == cells[1].train_size
    header, *rows = scores.read_text().splitlines()
    fields = rows[-1].split(",")
    at = header.split(",").index(where)
    # Keep the fields before ``where`` and the first 4 characters of it (e.g. rmse "0.24" of "0.2402...").
    line = _cut_last_row(scores, len(",".join(fields[:at])) + 1 + 4)

    caplog.set_level(logging.WARNING, logger="lessdata.experiments.store")
    done = ResultsStore(tmp_path).done_keys()
    warned = [r.getMessage() for r in caplog.records if r.name == "lessdata.experiments.store"]
    assert len(warned) == 1
    assert warned[0].startswith(f"{scores} line {line}: damaged score row (")
    assert named in warned[0] and "not counted as done" in warned[0]
    assert ("key may be cut short" in warned[0]) is cut_key
    assert cells[1].key() not in done and cells[0].key() in done
    # The figures and the report read the same check: the damaged cell is left out there too.
    assert set(results.load_results(tmp_path).scores["train_size"]) == {cells[0].train_size}

    caplog.clear()
    report = run_cells(cells, context, progress=False)
    assert (report.n_run, report.n_skipped) == (1, 1)
    raw = lio.read_results_csv(scores, SCORE_COLUMNS)
    assert row_problems(raw) == {}
    assert raw.groupby([*KEY_COLUMNS, "eval_set"]).size().max() == 1
    # The refit gives the same rows back (same subset, same seed): the table is whole again.
    pd.testing.assert_frame_equal(_table(tmp_path), original)
    assert {cell.key() for cell in cells} <= ResultsStore(tmp_path).done_keys()
    caplog.clear()
    assert run_cells(cells, context, progress=False).n_run == 0
    # nothing damaged is left
    assert not [r for r in caplog.records if r.name == "lessdata.experiments.store"]


def test_unparsable_numbers_are_named_and_sound_tables_pass(tmp_path: Path,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    """Text where a number belongs is damage; an empty R² of a one-row set is not."""
    row = {"dataset": "d", "target": "t", "split": "s0", "method": "random", "selector": "", "model": "xgb",
           "seed": 0, "train_frac": 0.5, "train_size": 4, "eval_set": "id_test", "n_eval": 1, "mae": 0.1,
           "rmse": 0.1, "r2": float("nan"), "fit_seconds": 0.01, "predict_seconds": 0.01, "profile": "quick"}
    other = {**row, "train_frac": 1.0, "train_size": 8, "n_eval": 3, "r2": 0.5}
    store = ResultsStore(tmp_path)
    store.add([row, other])
    assert len(store.read()) == 2 and not caplog.records  # a NaN R² of one test row is sound
    text = store.scores_path.read_text().replace(",0.5,0.01,0.01,quick", ",0.5x,0.01,0.01,quick")
    store.scores_path.write_text(text)
    caplog.set_level(logging.WARNING, logger="lessdata.experiments.store")
    frame = store.read()
    assert len(frame) == 1 and frame["seed"].dtype == "int64" and frame["mae"].dtype == "float64"
    assert f"{store.scores_path} line 3: damaged score row (r2 '0.5x' is not a number)" in caplog.text
