"""One registration is all a new selection method needs: CLI, scores.csv, figures and REPORT.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lessdata.analysis.results import load_results
from lessdata.cli.scripts import make_figures_main, run_al_main, run_main
from lessdata.errors import LessdataError
from lessdata.experiments import active
from lessdata.experiments.runner import ResultsStore
from lessdata.reporting import styles
from lessdata.reporting.figures import make_all
from lessdata.selection import registry as selectors
from lessdata.selection import strategies


def lowest_prediction_query(models: dict[str, Any], X_unlabelled: np.ndarray, n: int,
                            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A toy strategy: the candidates the step's XGB predicts lowest (most stable compounds)."""
    scores = -np.asarray(models["xgb"].predict(X_unlabelled), dtype=float)
    return strategies.top_n(scores, n), scores


@pytest.fixture()
def toy_selector():
    record = selectors.register(selectors.Selector(
        "toy_lowest", "active", "toy: the lowest predicted formation energies first", "Toy",
        query=lowest_prediction_query, models=("xgb",)),
        style=styles.MethodStyle("Toy lowest-first", (0, (2.0, 2.0)), "full"))
    yield record
    selectors.unregister(record.name)


def test_a_registered_strategy_runs_through_cli_scores_figures_and_report(
        toy_selector, small_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setattr(active, "threads_per_worker", lambda n_workers: 1)
    with pytest.raises(SystemExit):
        run_al_main(["--help"])
    assert "toy_lowest  toy: the lowest predicted" in capsys.readouterr().out
    out, figs = tmp_path / "study", tmp_path / "figs"
    args = ["--dataset", "mp18_small", "--target", "e_form", "--strategies", "random,toy_lowest",
            "--seeds", "0", "--init-frac", "0.05", "--step-frac", "0.05", "--stop-frac", "0.15",
            "--no-progress", "--out", str(out), "--n-jobs", "2"]
    # Two campaigns in two worker processes: the record travels with the task (the workers never ran
    # the register call of this test).
    assert run_main(run_al_main, args) == 0
    scores = ResultsStore(out).read()
    toy = scores[scores["method"] == "toy_lowest"]
    assert set(toy["selector"]) == {"xgb"} and sorted(toy["train_frac"].unique()) == [0.05, 0.1, 0.15]
    # It chose other rows than random after the shared initial set.
    random_rows = scores[(scores["method"] == "random") & (scores["model"] == "xgb")
                         & (scores["eval_set"] == "id_test")].set_index("train_frac")["rmse"]
    toy_rows = toy[(toy["model"] == "xgb") & (toy["eval_set"] == "id_test")].set_index("train_frac")["rmse"]
    assert toy_rows[0.05] == random_rows[0.05] and toy_rows[0.15] != random_rows[0.15]

    plots = {plot.name: plot for plot in make_all(load_results(out))}
    drawn = plots["fig_d_active_learning"]
    assert drawn.figure is not None and "toy_lowest" in set(drawn.data["method"])
    labels = [text.get_text() for legend in drawn.figure.legends for text in legend.get_texts()]
    assert "Toy lowest-first" in labels
    assert run_main(make_figures_main, ["--results", str(out), "--out", str(figs), "--quiet"]) == 0
    assert (figs / "fig_d_active_learning.png").is_file()
    assert "| Toy |" in (out / "REPORT.md").read_text()


def test_registry_refuses_unknown_and_duplicate_names() -> None:
    with pytest.raises(LessdataError, match="unknown strategy 'nope'; choose from random, qbc"):
        selectors.check_strategies(["random", "nope"])
    with pytest.raises(LessdataError, match="already registered"):
        selectors.register(selectors.get("qbc"))
    with pytest.raises(LessdataError, match="needs a query function"):
        selectors.Selector("bad", "active", "")
    assert selectors.ordered(["zeta", "qbc", "random"]) == ["random", "qbc", "zeta"]
    assert styles.method_style("prune_transfer").label == "pruned, other model"
