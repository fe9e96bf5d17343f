"""Subset samplers and the diverse-QBC strategy on constructed cases with a known answer, and end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lessdata import config
from lessdata.analysis.results import load_results
from lessdata.cli.scripts import (
    make_figures_main,
    prune_data_main,
    run_al_main,
    run_main,
    select_subsets_main,
)
from lessdata.errors import LessdataError
from lessdata.experiments.runner import ResultsStore
from lessdata.reporting.breakdown_figures import plot_selectors
from lessdata.selection import registry as selectors
from lessdata.selection import samplers, strategies
from lessdata.selection.pruning import PruningResult


def duplicated_pool(n_distinct: int = 150, dims: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n_distinct`` distinct rows, each listed twice in shuffled order; returns (X, twin group)."""
    rng = np.random.default_rng(seed)
    distinct = rng.normal(size=(n_distinct, dims))
    group = rng.permutation(np.repeat(np.arange(n_distinct), 2))
    return distinct[group], group


@pytest.mark.parametrize("name", ["kcenter", "direct", "direct_maml"])
def test_coverage_samplers_never_take_both_copies_before_covering_the_rest(name: str) -> None:
    X, group = duplicated_pool()
    sampler = selectors.get(name).sampler
    for n in (40, 150):
        chosen = sampler(samplers.PoolView(X), n, np.random.default_rng(1))
        assert len(chosen) == n and len(np.unique(chosen)) == n
        assert len(np.unique(group[chosen])) == n  # one copy of each distinct row at most


def test_farthest_point_order_on_a_line() -> None:
    points = np.array([[0.0], [1.0], [2.0], [10.0], [6.0]], dtype=np.float32)
    # From 0: 10 is farthest; then 6 (4 from 10, 6 from 0) is nearer than 2?  Distances to {0, 10}:
    # 1 -> 1, 2 -> 2, 6 -> 4: so 6, then 2 (2 from 0), then 1.
    assert farthest(points, 0) == [0, 3, 4, 2, 1]


def farthest(points: np.ndarray, start: int) -> list[int]:
    return samplers.farthest_point_order(points, len(points), start).tolist()


def test_direct_fills_a_short_clustering_with_distinct_rows_first(monkeypatch: pytest.MonkeyPatch) -> None:
    X, group = duplicated_pool(n_distinct=12)
    # Birch stopping at 8 clusters: the 4 entries beyond them must be the 4 distinct rows not yet taken.
    monkeypatch.setattr(samplers, "_birch_clusters", lambda points, n: np.arange(len(points)) % 8)
    chosen = samplers.direct_sampler(samplers.PoolView(X), 12, np.random.default_rng(0))
    assert len(np.unique(group[chosen])) == 12


def test_farthest_point_order_continues_from_covered_points() -> None:
    points = np.array([[0.0], [1.0], [2.0], [10.0], [6.0], [0.0]], dtype=np.float32)
    # Covered {0, 10}: 6 is farthest (4), then 2, then 1; the copy of 0 (distance 0) comes last.
    order = samplers.farthest_point_order(points, 4, 0, covered=np.array([0, 3]))
    assert order.tolist() == [4, 2, 1, 5]


def test_direct_takes_one_entry_per_separated_cluster() -> None:
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [50, 0], [0, 50], [50, 50], [25, 100]], dtype=float)
    X = np.vstack([centre + rng.normal(scale=0.5, size=(40, 2)) for centre in centres])
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    chosen = samplers.direct_sampler(samplers.PoolView(X), 5, np.random.default_rng(0))
    assert sorted(chosen // 40) == [0, 1, 2, 3, 4]


def test_published_direct_takes_one_entry_per_cluster_also_beside_a_dense_region() -> None:
    """maml's DIRECT clusters into exactly n groups: a dense region holding most rows still gets one
    pick, not several (the leaf-cluster variant ranks clusters by size)."""
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [50, 0], [0, 50], [50, 50], [25, 100]], dtype=float)
    sizes = [400, 15, 15, 15, 15]
    X = np.vstack([centre + rng.normal(scale=0.5, size=(size, 2)) for centre, size in zip(centres, sizes,
                                                                                          strict=True)])
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    cluster = np.repeat(np.arange(5), sizes)
    for seed in (0, 1):
        chosen = samplers.direct_maml_sampler(samplers.PoolView(X), 5, np.random.default_rng(seed))
        assert sorted(cluster[chosen]) == [0, 1, 2, 3, 4]
    again = samplers.direct_maml_sampler(samplers.PoolView(X), 5, np.random.default_rng(1))
    assert again.tolist() == chosen.tolist()


def test_stratified_round_robin_allocates_evenly_and_uses_up_small_strata() -> None:
    strata = np.array([0] * 6 + [1] * 1 + [2] * 3)
    order = samplers.stratified_round_robin(strata, len(strata), np.random.default_rng(0))
    assert sorted(order.tolist()) == list(range(10))
    # First pass: one of each, hardest (latest round) first; then the strata that still have entries.
    assert strata[order[:3]].tolist() == [2, 1, 0]
    assert np.bincount(strata[order[:7]], minlength=3).tolist() == [3, 1, 3]
    assert np.bincount(strata[order[:9]], minlength=3).tolist() == [5, 1, 3]


def test_pruning_coverage_reads_removal_rounds_and_needs_them() -> None:
    removal_round = np.array([0, 0, 0, 0, 1, 1, 2, -1, -1])
    result = PruningResult(removal_round, np.zeros(9), np.array([9, 5, 3, 2]), 0.1, np.zeros(3),
                           np.zeros(3), np.zeros(3), np.zeros(3, dtype=int), ["threshold"] * 3,
                           "min_retained", {})
    assert samplers.pruning_strata(result).tolist() == [0, 0, 0, 0, 1, 1, 2, 3, 3]
    chosen = samplers.pruning_coverage_sampler(samplers.PoolView(np.zeros((9, 2)), result), 4,
                                               np.random.default_rng(0))
    # Four entries: one per stratum (the study's pruning at 4 would keep rounds 2 and 3 only).
    assert sorted(samplers.pruning_strata(result)[chosen].tolist()) == [0, 1, 2, 3]
    with pytest.raises(LessdataError, match="prune_data.py"):
        samplers.pruning_coverage_sampler(samplers.PoolView(np.zeros((9, 2))), 4, np.random.default_rng(0))


class FixedModel:
    """A fitted-model stand-in that returns stored predictions for the candidate rows."""

    def __init__(self, predictions: np.ndarray) -> None:
        self.predictions = predictions

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.predictions[: len(X)]


def test_diverse_qbc_spreads_the_batch_where_plain_qbc_crowds_it() -> None:
    rng = np.random.default_rng(0)
    crowd = rng.normal(scale=0.01, size=(20, 3))  # 20 near-copies with the largest disagreement
    spread = rng.normal(scale=5.0, size=(80, 3))
    X = np.vstack([crowd, spread])
    disagreement = np.r_[np.full(20, 2.0), np.linspace(1.5, 0.1, 80)]
    models = {"rf": FixedModel(disagreement), "xgb": FixedModel(np.zeros(100))}
    plain, _ = strategies.qbc_query(models, X, 5, np.random.default_rng(0))
    diverse, scores = strategies.diverse_qbc_query(models, X, 5, np.random.default_rng(0))
    assert (plain < 20).all()
    assert len(np.unique(diverse)) == 5 and (diverse < 20).sum() <= 2
    assert np.array_equal(scores, disagreement)
    assert (disagreement[diverse] >= np.sort(disagreement)[-50]).all()  # all from the 10 x 5 shortlist


def test_samplers_run_through_cli_scores_figure_and_report(small_env: Path, tmp_path: Path, capsys,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # Lighter trees and a coarser pruning floor keep the real pipeline to seconds on 1,350 entries.
    monkeypatch.setenv(config.PROFILE_PATCH_ENV, json.dumps({"quick": {
        "model_overrides": {"xgb": {"n_estimators": 60}},
        "prune": {"min_remove_frac": 0.05, "guide_overrides": {"xgb": {"n_estimators": 40}}}}}))
    with pytest.raises(SystemExit):
        select_subsets_main(["--help"])
    assert "kcenter    k-center coverage" in capsys.readouterr().out
    out = tmp_path / "study"
    common = ["--dataset", "mp18_small", "--target", "e_form", "--profile", "quick", "--no-progress",
              "--out", str(out), "--n-jobs", "2"]
    sampled = [*common, "--methods", "kcenter,direct,prune_cov", "--fractions", "0.1,0.25,0.5",
               "--seeds", "2"]
    # The stratified pruning order needs the pruning first: a clear refusal, nothing written.
    assert run_main(select_subsets_main, sampled) == 2
    assert "run prune_data.py --guide xgb" in capsys.readouterr().err
    assert run_main(prune_data_main, [*common, "--eval-models", "xgb", "--eval-fractions", "0.25,0.5"]) == 0
    assert run_main(select_subsets_main, sampled) == 0
    scores = ResultsStore(out).read()
    for method, selector in (("kcenter", ""), ("direct", ""), ("prune_cov", "xgb")):
        rows = scores[(scores["method"] == method) & (scores["eval_set"] == "id_test")]
        assert set(rows["selector"]) == {selector}
        assert sorted(rows["train_frac"].unique()) == [0.1, 0.25, 0.5] and set(rows["seed"]) == {0, 1}
    # The label-free orderings differ by seed only where they start; nested prefixes share rows.
    stored = ResultsStore(out).load_selection("subset_kcenter_mp18_small_e_form_s0_seed0")
    assert stored["nested"] and stored["seconds"] >= 0 and len(stored["ids"]) == round(0.5 * stored["n_pool"])
    capsys.readouterr()
    assert run_main(select_subsets_main, sampled) == 0  # resumed: nothing to redo
    assert "0 cells run" in capsys.readouterr().out
    # A random baseline for the comparison, then figure (g) and the report's table.
    from lessdata.cli.scripts import random_baseline_main  # noqa: PLC0415

    assert run_main(random_baseline_main, [*common, "--models", "xgb", "--fractions", "0.1,0.25,0.5,1",
                                           "--seeds", "1"]) == 0
    assert run_main(run_al_main, [*common, "--strategies", "qbc,qbc_diverse", "--seeds", "0", "--init-frac",
                                  "0.1", "--step-frac", "0.1", "--stop-frac", "0.3"]) == 0
    plot = plot_selectors(load_results(out).scores)
    assert plot.figure is not None
    assert {"kcenter", "direct", "prune_cov", "random", "prune"} <= set(plot.data["method"])
    figs = tmp_path / "figs"
    assert run_main(make_figures_main, ["--results", str(out), "--out", str(figs), "--quiet"]) == 0
    report = (out / "REPORT.md").read_text()
    section = report.split("## Selectors compared", 1)[1].split("\n## ", 1)[0]
    for label in ("k-center *", "DIRECT variant (largest leaves) *", "pruned (stratified) *",
                  "QBC (diverse) *", "| random |", "QBC (diverse) − QBC, ID-test RMSE: 10 %"):
        assert label in section
    assert (figs / "fig_g_selectors.png").is_file()
    table = pd.read_csv(out / "summary.csv")
    assert {"kcenter", "direct", "prune_cov"} <= set(table["curve"])
