"""One base class for bad input: the CLI turns a LessdataError into status 2; a bug keeps its traceback."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pytest

import lessdata
from lessdata import files as lio
from lessdata.analysis.results import load_results
from lessdata.cli.scripts import featurize_main, make_figures_main, random_baseline_main, run_main
from lessdata.data.datasets import DatasetError, MissingDataFileError
from lessdata.data.structures import _parse_all, parse_formula
from lessdata.errors import LessdataError, MissingInputError, StructuresRequiredError
from lessdata.splits.holdout import read_id_list


def _lessdata_exception_classes() -> list[type[BaseException]]:
    """Every exception class defined in a lessdata module (importing each module of the package)."""
    found = []
    for module_info in pkgutil.walk_packages(lessdata.__path__, prefix="lessdata."):
        module = importlib.import_module(module_info.name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__ == module.__name__:
                found.append(value)
    return found


def test_every_lessdata_exception_derives_from_the_base() -> None:
    classes = _lessdata_exception_classes()
    names = {cls.__name__ for cls in classes}
    assert {"LessdataError", "MissingInputError", "StructuresRequiredError", "DatasetError",
            "MissingDataFileError", "InvalidRowsError", "SettingsMismatchError",
            "UnknownSelectorError"} <= names
    assert [cls.__name__ for cls in classes if not issubclass(cls, LessdataError)] == []
    assert issubclass(LessdataError, ValueError)  # callers catching ValueError keep working


def test_missing_input_is_also_file_not_found(tmp_path: Path) -> None:
    assert issubclass(MissingInputError, FileNotFoundError)
    with pytest.raises(MissingDataFileError, match="no such file") as caught:
        read_id_list(tmp_path / "missing.txt")
    assert isinstance(caught.value, DatasetError) and isinstance(caught.value, FileNotFoundError)
    assert str(caught.value) == f"--id-test-ids {tmp_path / 'missing.txt'}: no such file (one id per line)"
    with pytest.raises(MissingInputError, match="no results in"):
        load_results(tmp_path / "nothing")


# --------------------------------------------------------------------------------------------------
# run_main: only LessdataError becomes status 2
# --------------------------------------------------------------------------------------------------
def _raising(error: BaseException):
    def main(argv: Sequence[str] | None = None) -> int:
        raise error
    return main


@pytest.mark.parametrize("error", [LessdataError("--foo 3 is too large; use at most 2"),
                                   StructuresRequiredError("--foo 3 is too large; use at most 2"),
                                   MissingInputError("--foo 3 is too large; use at most 2")])
def test_run_main_turns_input_errors_into_status_2(error: LessdataError, capsys) -> None:
    assert run_main(_raising(error), []) == 2
    captured = capsys.readouterr()
    assert captured.err == "error: --foo 3 is too large; use at most 2\n"
    assert captured.out == ""


@pytest.mark.parametrize("error", [RuntimeError("internal state broken"), ValueError("shapes differ"),
                                   KeyError("column"), FileNotFoundError("some internal file")])
def test_run_main_lets_bugs_keep_their_traceback(error: Exception, capsys) -> None:
    with pytest.raises(type(error)) as caught:
        run_main(_raising(error), [])
    assert caught.value is error
    assert "error:" not in capsys.readouterr().err


def test_run_main_interrupt(capsys) -> None:
    assert run_main(_raising(KeyboardInterrupt()), []) == 130
    assert capsys.readouterr().err.startswith("interrupted:")


# --------------------------------------------------------------------------------------------------
# Real command lines
# --------------------------------------------------------------------------------------------------
def _one_error_line(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


def test_cli_unknown_dataset(tmp_data_dir: Path, tmp_path: Path, capsys) -> None:
    assert run_main(featurize_main, ["--dataset", "nope"]) == 2
    assert "unknown dataset 'nope'; known datasets:" in _one_error_line(capsys)
    args = ["--dataset", "nope", "--models", "xgb", "--out", str(tmp_path / "out"), "--no-progress"]
    assert run_main(random_baseline_main, args) == 2
    line = _one_error_line(capsys)
    assert "unknown dataset 'nope'" in line and "featurize.py --input FILE --name NAME" in line


def test_cli_missing_id_test_ids_file(small_env: Path, tmp_path: Path, capsys) -> None:
    missing = tmp_path / "authors_test_ids.txt"
    args = ["--dataset", "mp18_small", "--models", "xgb", "--id-test-ids", str(missing), "--out",
            str(tmp_path / "out"), "--no-progress"]
    assert run_main(random_baseline_main, args) == 2
    assert _one_error_line(capsys) == f"error: --id-test-ids {missing}: no such file (one id per line)"


def test_cli_missing_results_folder(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "nothing"
    assert run_main(make_figures_main, ["--results", str(missing), "--out", str(tmp_path / "figs")]) == 2
    line = _one_error_line(capsys)
    assert f"no results in {missing}" in line and "codes/random_baseline.py --out" in line


def test_cli_damaged_scores_table(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "scores.csv").write_text("dataset,target\nmp18,e_form\nmp18,e_form,1,2\n")
    assert run_main(make_figures_main, ["--results", str(folder), "--out", str(tmp_path / "figs")]) == 2
    assert "scores.csv is not a readable results table (ParserError" in _one_error_line(capsys)
    pd.DataFrame({"dataset": ["mp18"], "target": ["e_form"]}).to_csv(folder / "scores.csv", index=False)
    assert run_main(make_figures_main, ["--results", str(folder), "--out", str(tmp_path / "figs")]) == 2
    assert "is not a lessdata scores table: it lacks the column(s) method" in _one_error_line(capsys)


def test_damaged_json_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text('{"profile": "quick",')
    with pytest.raises(LessdataError, match="settings.json is not valid JSON"):
        lio.read_json(path)
    scores = tmp_path / "scores.csv"
    scores.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(LessdataError, match="is not a readable results table"):
        lio.read_results_csv(scores, ["dataset"])


def test_parse_errors_read_without_the_class_name() -> None:
    _, errors = _parse_all(["Fe2O3", "Xx9"], parse_formula)
    assert errors[0] is None
    assert errors[1].startswith("parse: formula 'Xx9'") and "LessdataError" not in errors[1]
