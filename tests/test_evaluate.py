"""The evaluator: metrics equal scikit-learn's; every evaluation set is scored."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from lessdata.evaluation.evaluate import fit_and_score, prepare
from lessdata.evaluation.metrics import metrics


def test_metrics_equal_sklearn() -> None:
    rng = np.random.default_rng(0)
    truth, predicted = rng.normal(size=50), rng.normal(size=50)
    scores = metrics(truth, predicted)
    assert scores["mae"] == mean_absolute_error(truth, predicted)
    assert scores["rmse"] == pytest.approx(np.sqrt(mean_squared_error(truth, predicted)), rel=1e-12)
    assert scores["r2"] == r2_score(truth, predicted)


def test_fit_and_score_every_set(small_env: Path, tmp_path: Path) -> None:
    data = prepare("mp18_small", "e_form", ood=["newest"], split_dir=tmp_path)
    assert (tmp_path / "split_mp18_small_e_form_s0.json").exists()
    assert (tmp_path / "coverage_mp18_small_e_form_s0.csv").exists()
    train = np.arange(0, len(data.pool), 2)
    rows, model = fit_and_score("xgb", data, train, profile="quick", seed=0)
    by_set = {row["eval_set"]: row for row in rows}
    assert set(by_set) == {"id_test", "unused", "ood_newest"}
    assert by_set["unused"]["n_eval"] == len(data.pool) - len(train)
    predicted = model.predict(data.test.X)
    assert by_set["id_test"]["rmse"] == pytest.approx(
        np.sqrt(mean_squared_error(data.test.y, predicted)), rel=1e-12)
    assert all(row["train_size"] == len(train) for row in rows)
    # Real signal: formation energy from composition is learnable.
    assert by_set["id_test"]["r2"] > 0.5
    # On the full pool there is no unused set.
    rows, _ = fit_and_score("rf", data, np.arange(len(data.pool)), profile="quick", seed=0)
    assert {row["eval_set"] for row in rows} == {"id_test", "ood_newest"}
    with pytest.raises(ValueError, match="empty subset"):
        fit_and_score("rf", data, np.array([], dtype=int))


def test_composition_only_data_refuses_alignn(small_env: Path, tmp_path: Path) -> None:
    data = prepare("mp18_small", "e_form", split_dir=tmp_path)
    with pytest.raises(ValueError, match="needs crystal structures.*--structure-col"):
        data.pool.model_input("alignn")
