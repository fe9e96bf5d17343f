"""The structure path end to end: the embedded dcdft crystals, 273 features, ALIGNN in the runner."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lessdata.cli.scripts import random_baseline_main, run_main
from lessdata.data.datasets import load_dataset
from lessdata.experiments.runner import ResultsStore


def test_dcdft_is_real_and_featurized() -> None:
    dataset = load_dataset("dcdft", "bulk_modulus", progress=False)
    assert len(dataset) == 71 and dataset.X.shape == (71, 273) and not np.isnan(dataset.X).any()
    assert dataset.has_structures
    position = {i: k for k, i in enumerate(dataset.ids)}
    # WIEN2k bulk moduli (GPa): diamond is the stiffest element, caesium among the softest.
    assert dataset.y[position["dcdft-C"]] > 200 > 5 > dataset.y[position["dcdft-Cs"]]


def test_alignn_rows_in_the_random_baseline(tmp_path: Path) -> None:
    args = ["--dataset", "dcdft", "--target", "bulk_modulus", "--models", "alignn,xgb", "--fractions",
            "0.5,1", "--seeds", "1", "--out", str(tmp_path), "--no-progress"]
    assert run_main(random_baseline_main, args) == 0
    scores = ResultsStore(tmp_path).read()
    alignn = scores[scores["model"] == "alignn"]
    assert set(alignn["train_frac"]) == {0.5, 1.0}
    assert set(alignn["eval_set"]) == {"id_test", "unused"}
    assert np.isfinite(alignn["rmse"]).all() and (alignn["fit_seconds"] > 0).all()
