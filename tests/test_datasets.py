"""The embedded dataset, user tables with every kind of bad input, cleaning counts and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lessdata.cli.scripts import featurize_main, run_main
from lessdata.data import builders, datasets
from lessdata.data.datasets import DatasetError, load_dataset
from lessdata.data.user_tables import InvalidRowsError, read_table, register_user_dataset


def test_mp18_comp_is_the_real_mp2018_join(mp18_table: pd.DataFrame) -> None:
    meta = json.loads((datasets.dataset_dir("mp18_comp") / "dataset.json").read_text())
    assert len(mp18_table) == 47_483
    assert mp18_table.index.is_unique and mp18_table.index.str.startswith("mp-").all()
    assert mp18_table["formula"].nunique() == 34_463
    assert mp18_table["e_form"].min() == pytest.approx(-4.52, abs=0.01)
    assert mp18_table["e_form"].max() == pytest.approx(2.94, abs=0.01)
    assert (mp18_table["bandgap"] == 0).mean() == pytest.approx(0.2875, abs=0.0005)
    assert set(mp18_table["megnet_split"]) == {"train", "val", "test"}
    assert meta["counts"]["joined"] == 47_483
    assert meta["sources"]["jarvis-leaderboard"]["sha256"] == builders.MP18_LEADERBOARD["sha256"]
    # A second call finds the table and does not rebuild it.
    before = datasets.dataset_dir("mp18_comp").joinpath("table.parquet").stat().st_mtime_ns
    builders.build_mp18_comp()
    assert datasets.dataset_dir("mp18_comp").joinpath("table.parquet").stat().st_mtime_ns == before


def test_full_mp18_comp_features(mp18_table: pd.DataFrame) -> None:
    """The whole embedded set featurizes to 145 columns; the rows that fail are counted, not hidden."""
    dataset = load_dataset("mp18_comp", "e_form", progress=False)
    assert dataset.X.shape[1] == 145
    assert not np.isnan(dataset.X).any()
    dropped = sum(step["dropped"] for step in dataset.cleaning)
    assert len(dataset) + dropped == len(mp18_table)
    assert len(dataset) > 47_000
    assert np.allclose(dataset.X.mean(axis=0), 0, atol=1e-6)


def test_resolve_aliases_and_unknown() -> None:
    assert datasets.resolve("JARVIS18").key == "jarvis"
    assert datasets.resolve("mp21").key == "mp"
    assert datasets.resolve("OQMD14").key == "oqmd1.0"
    with pytest.raises(DatasetError, match="unknown dataset 'nope'.*mp18_comp"):
        datasets.resolve("nope")


def _write(path: Path, rows: list[dict]) -> Path:
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


REAL_ROWS = [
    {"id": "mp-1143", "formula": "Al2O3", "e_form": -3.44, "bandgap": 5.85},
    {"id": "mp-2534", "formula": "GaAs", "e_form": -0.43, "bandgap": 0.19},
    {"id": "mp-149", "formula": "Si", "e_form": 0.0, "bandgap": 0.61},
    {"id": "mp-22862", "formula": "NaCl", "e_form": -2.08, "bandgap": 5.0},
    {"id": "mp-19017", "formula": "LiFePO4", "e_form": -2.53, "bandgap": 3.7},
]


def test_register_and_clean_user_composition_table(tmp_data_dir: Path, tmp_path: Path) -> None:
    rows = [*REAL_ROWS,
            {"id": "x-missing", "formula": "MgO", "e_form": None, "bandgap": 4.5},
            {"id": "x-high", "formula": "N2", "e_form": 6.0, "bandgap": 0.0}]
    source = _write(tmp_path / "mine.csv", rows)
    spec = register_user_dataset(source, "mine", id_col="id", formula_col="formula",
                                 targets=["e_form", "bandgap"], progress=False)
    assert spec.key == "mine" and spec.input_kind == "composition"
    dataset = load_dataset("mine", "e_form", progress=False)
    steps = {step["rule"]: step["dropped"] for step in dataset.cleaning}
    assert steps["missing e_form"] == 1
    assert steps["e_form > 5 eV/atom"] == 1
    assert list(dataset.ids) == [row["id"] for row in REAL_ROWS]
    assert dataset.X.shape == (5, 145)
    # For the band gap the missing e_form row stays (its band gap is known); the e_form > 5 rule drops
    # the N2 row whatever the target, as in the study.
    assert len(load_dataset("mine", "bandgap", progress=False)) == 6
    # Featurization is cached: the second load reads the parquet.
    assert load_dataset("mine", "e_form", progress=False).provenance["features_from_cache"]


def test_every_bad_row_is_listed_and_nothing_is_written(tmp_data_dir: Path, tmp_path: Path) -> None:
    rows = [*REAL_ROWS,
            {"id": "mp-149", "formula": "SiC", "e_form": -0.2, "bandgap": 2.3},  # duplicate id
            {"id": "bad-1", "formula": "Xx2O3", "e_form": -1.0, "bandgap": 1.0},  # unknown element
            {"id": "bad-2", "formula": "((Fe", "e_form": -1.0, "bandgap": 1.0},  # unparsable
            {"id": "bad-3", "formula": "ZnO", "e_form": "abc", "bandgap": 3.3}]  # non-numeric target
    source = _write(tmp_path / "bad.csv", rows)
    with pytest.raises(InvalidRowsError) as caught:
        register_user_dataset(source, "bad", id_col="id", formula_col="formula",
                              targets=["e_form", "bandgap"], progress=False)
    message = str(caught.value)
    assert str(source) in message and "--skip-invalid" in message
    problems = caught.value.problems
    assert set(problems["id"]) == {"mp-149", "bad-1", "bad-2", "bad-3"}
    assert {"formula", "e_form", "id"} <= set(problems["column"])
    assert "Xx" in message and "'abc'" in message and "duplicate id" in message
    assert not (tmp_data_dir / "bad").exists()

    register_user_dataset(source, "bad", id_col="id", formula_col="formula",
                          targets=["e_form", "bandgap"], skip_invalid=True, progress=False)
    skipped = pd.read_csv(tmp_data_dir / "bad" / "skipped_rows.csv")
    assert len(skipped) == len(problems)
    kept = load_dataset("bad", "bandgap", progress=False)
    assert set(kept.ids) == {"mp-1143", "mp-2534", "mp-22862", "mp-19017"}


@pytest.mark.parametrize(("kwargs", "pattern"), [
    ({"id_col": "nope"}, r"no column 'nope' \(given by --id-col\).*columns are: id, formula"),
    ({"targets": ["gap"]}, r"no column 'gap' \(given by --targets\)"),
    ({"formula_col": None, "structure_col": None}, "exactly one of --formula-col or --structure-col"),
    ({"name": "mp18"}, "built-in dataset"),
    ({"name": "../evil"}, "must start with a letter"),
])
def test_registration_argument_errors(tmp_data_dir: Path, tmp_path: Path, kwargs: dict,
                                      pattern: str) -> None:
    source = _write(tmp_path / "ok.csv", REAL_ROWS)
    arguments = {"name": "ok", "id_col": "id", "formula_col": "formula", "targets": ["e_form"], **kwargs}
    name = arguments.pop("name")
    with pytest.raises(DatasetError, match=pattern):
        register_user_dataset(source, name, progress=False, **arguments)


def test_missing_empty_and_unknown_files(tmp_data_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="input file not found"):
        read_table(tmp_path / "absent.csv")
    (tmp_path / "empty.csv").write_text("id,formula,e_form\n")
    with pytest.raises(DatasetError, match="empty.csv: the table is empty"):
        read_table(tmp_path / "empty.csv")
    (tmp_path / "table.xlsx").write_text("x")
    with pytest.raises(DatasetError, match="unsupported file type"):
        read_table(tmp_path / "table.xlsx")


def test_json_and_parquet_tables(tmp_data_dir: Path, tmp_path: Path) -> None:
    frame = pd.DataFrame(REAL_ROWS)
    frame.to_json(tmp_path / "t.json", orient="records")
    frame.to_parquet(tmp_path / "t.parquet")
    for suffix in ("json", "parquet"):
        register_user_dataset(tmp_path / f"t.{suffix}", f"t_{suffix}", id_col="id", formula_col="formula",
                              targets=["bandgap"], progress=False)
        assert len(load_dataset(f"t_{suffix}", "bandgap", progress=False)) == 5


def test_featurize_cli_errors_are_one_line(tmp_data_dir: Path, capsys: pytest.CaptureFixture) -> None:
    assert run_main(featurize_main, ["--dataset", "nope"]) == 2
    assert "error: unknown dataset 'nope'" in capsys.readouterr().err
    assert run_main(featurize_main, ["--dataset", "mp18_comp", "--target", "density"]) == 2
    assert "has no target 'density'" in capsys.readouterr().err
    assert run_main(featurize_main, ["--input", "x.csv", "--name", "x"]) == 2
    assert "--input also needs --id-col, --targets" in capsys.readouterr().err


def test_featurize_cli_lists_registry(capsys: pytest.CaptureFixture) -> None:
    assert run_main(featurize_main, ["--list"]) == 0
    listing = capsys.readouterr().out
    for key in ("mp18_comp", "jarvis22", "oqmd1.0", "JARVIS18", "MP21"):
        assert key in listing
