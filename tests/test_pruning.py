"""Tests of the pruning algorithm and the redundancy analysis on small real data.

Data: ~1,500 real Materials Project entries from matminer's bundled transport database (formula and
p-type Seebeck coefficient ``S_p``), featurized with matminer's Magpie ElementProperty preset; scikit-learn's
bundled diabetes set for the fast edge cases; pymatgen's bundled example structures for space groups.
Models are light (30-tree depth-4 XGBoost, one thread) and ``min_retained`` is scaled down so the file runs in
well under a minute on two cores.
"""

from __future__ import annotations

import math
import tarfile
from pathlib import Path

import matminer
import numpy as np
import pandas as pd
import pymatgen.util
import pytest
from matminer.featurizers.composition import ElementProperty
from pymatgen.core import Composition, Structure
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer
from scipy import stats
from sklearn.datasets import load_diabetes
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold, cross_val_predict, train_test_split

from lessdata.analysis.intervals import benjamini_hochberg
from lessdata.errors import LessdataError
from lessdata.models.factory import make_model
from lessdata.selection.pruning import (
    RULE_CAPPED,
    RULE_MINIMUM,
    RULE_THRESHOLD,
    STOP_MAX_ROUNDS,
    STOP_MIN_RETAINED,
    PruningResult,
    RoundInfo,
    prune,
    pruning_threshold,
    settings_from_profile,
    split_retained,
)
from lessdata.selection.redundancy import (
    crystal_system,
    enrichment_statistics,
    redundancy_composition,
    retained_mask,
)

TRANSPORT_TAR = (Path(matminer.__file__).parent / "utils" / "data_files" / "mp_transport"
                 / "transport_database.tar.xz")
N_ENTRIES = 1500
#: Pruning settings scaled to the 1,350-entry pool: 5 % minimum removal (68 entries), stop at 150.
SETTINGS = {"min_remove_frac": 0.05, "min_retained": 150}


class SimulatedKillError(RuntimeError):
    """Raised from a callback to simulate a run killed after a given round."""


def guide():
    """The light guiding model used throughout (deterministic, single-threaded)."""
    return make_model("xgb", profile="quick", n_estimators=30, max_depth=4, n_threads=1,
                      random_state=0)


@pytest.fixture(scope="module")
def transport() -> dict:
    """Real MP entries: ids, formulas, Magpie features, ``S_p`` target; split pool/test 90/10."""
    with tarfile.open(TRANSPORT_TAR) as archive:
        frame = pd.read_csv(archive.extractfile("transport_database.csv"))
    frame = frame.sample(N_ENTRIES, random_state=0).reset_index(drop=True)
    featurizer = ElementProperty.from_preset("magpie")
    featurizer.set_n_jobs(1)
    features = np.asarray(featurizer.featurize_many([Composition(f) for f in frame["pretty_formula"]],
                                                    pbar=False), dtype=np.float64)
    positions = np.arange(N_ENTRIES)
    pool, test = train_test_split(positions, test_size=0.1, random_state=0)
    pool = np.sort(pool)
    target = frame["S_p"].to_numpy(dtype=np.float64)
    threshold, full_model = pruning_threshold(guide(), features[pool], target[pool], features[test],
                                              target[test])
    return {
        "ids": frame["mp_id"].to_numpy()[pool], "formulas": frame["pretty_formula"].to_numpy()[pool],
        "X": features[pool], "y": target[pool], "X_test": features[test], "y_test": target[test],
        "threshold": threshold, "full_model": full_model,
    }


@pytest.fixture(scope="module")
def reference(transport: dict) -> PruningResult:
    """One uninterrupted run that the other tests compare against."""
    return prune(guide(), transport["X"], transport["y"], transport["threshold"], progress=False, **SETTINGS)


@pytest.fixture(scope="module")
def diabetes() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled real diabetes regression set (442 entries)."""
    return load_diabetes(return_X_y=True)


# ---- threshold and split ---------------------------------------------------------------------------
def test_threshold_is_kappa_times_id_mae(transport: dict) -> None:
    prediction = transport["full_model"].predict(transport["X_test"])
    mae = float(np.mean(np.abs(prediction - transport["y_test"])))
    assert transport["threshold"] == pytest.approx(0.5 * mae)
    template = guide()
    threshold, _ = pruning_threshold(template, transport["X"], transport["y"], transport["X_test"],
                                     transport["y_test"], kappa=0.25)
    assert threshold == pytest.approx(0.25 * mae)
    assert not hasattr(template, "_Booster"), "the template must stay unfitted (a clone is fitted)"


@pytest.mark.parametrize("size", [2, 7, 300, 1351])
def test_split_reproduces_sklearn_train_test_split(size: int) -> None:
    retained = np.sort(np.random.default_rng(size).choice(5000, size, replace=False))
    for seed in (0, 1, 17):
        train, test = split_retained(retained, seed, 0.2)
        expected_train, expected_test = train_test_split(retained, test_size=0.2, random_state=seed)
        np.testing.assert_array_equal(train, expected_train)
        np.testing.assert_array_equal(test, expected_test)


# ---- invariants ------------------------------------------------------------------------------------
def test_invariants(reference: PruningResult, transport: dict) -> None:
    result = reference
    n_pool = transport["y"].size
    min_remove = math.ceil(SETTINGS["min_remove_frac"] * n_pool)
    assert result.n_pool == n_pool and result.n_rounds > 5
    assert result.stop_reason == STOP_MIN_RETAINED

    # Retained + removed = pool; everybody removed at most once (one round per entry by construction),
    # and the per-round counts agree with the size sequence.
    removed_per_round = np.bincount(result.removal_round[result.removal_round >= 0],
                                    minlength=result.n_rounds)
    assert removed_per_round.size == result.n_rounds
    np.testing.assert_array_equal(removed_per_round, -np.diff(result.round_sizes))
    assert np.count_nonzero(result.removal_round == -1) == result.round_sizes[-1]
    assert result.round_sizes[0] == n_pool
    assert np.all(np.diff(result.round_sizes) < 0), "sizes must strictly decrease"
    assert np.isnan(result.removal_error[result.removal_round == -1]).all()
    assert np.isfinite(result.removal_error[result.removal_round >= 0]).all()

    for index, (before, rule) in enumerate(zip(result.round_sizes[:-1], result.round_rule, strict=True)):
        n_test = math.ceil(0.2 * before)
        minimum = min(min_remove, n_test)
        removed = before - result.round_sizes[index + 1]
        errors = result.removal_error[result.removal_round == index]
        assert minimum <= removed <= n_test
        if rule == RULE_THRESHOLD:
            assert np.all(errors < result.threshold)
            assert removed == result.round_below_threshold[index]
        elif rule == RULE_MINIMUM:
            assert removed == minimum
            assert result.round_below_threshold[index] < minimum
    assert RULE_MINIMUM in result.round_rule and RULE_THRESHOLD in result.round_rule

    # Stop rule: final size >= min_retained, and one more minimum removal would go below it.
    final = result.round_sizes[-1]
    assert final >= SETTINGS["min_retained"]
    assert final - min(min_remove, math.ceil(0.2 * final)) < SETTINGS["min_retained"]


def test_order_is_rounds_then_errors_then_retained(reference: PruningResult) -> None:
    order = reference.order
    np.testing.assert_array_equal(np.sort(order), np.arange(reference.n_pool))
    rounds = reference.removal_round[order]
    n_removed = reference.n_pool - reference.round_sizes[-1]
    assert np.all(np.diff(rounds[:n_removed]) >= 0) and np.all(rounds[n_removed:] == -1)
    errors = reference.removal_error[order[:n_removed]]
    same_round = np.diff(rounds[:n_removed]) == 0
    assert np.all(np.diff(errors)[same_round] >= 0), "within a round, ascending absolute error"
    assert np.all(np.diff(order[n_removed:]) > 0), "final retained set in ascending pool position"


def test_deterministic(reference: PruningResult, transport: dict) -> None:
    again = prune(guide(), transport["X"], transport["y"], transport["threshold"], progress=False,
                  **SETTINGS)
    np.testing.assert_array_equal(again.order, reference.order)
    np.testing.assert_array_equal(again.removal_round, reference.removal_round)
    np.testing.assert_array_equal(again.removal_error, reference.removal_error)


# ---- resume ----------------------------------------------------------------------------------------
def test_resume_after_interruption(reference: PruningResult, transport: dict, tmp_path: Path) -> None:
    checkpoint = tmp_path / "prune.npz"
    stop_after = 3
    seen: list[RoundInfo] = []

    def interrupt(info: RoundInfo) -> None:
        seen.append(info)
        if info.round == stop_after:
            raise SimulatedKillError

    with pytest.raises(SimulatedKillError):
        prune(guide(), transport["X"], transport["y"], transport["threshold"], progress=False,
              checkpoint=checkpoint, callback=interrupt, **SETTINGS)
    partial = PruningResult.load(checkpoint)
    assert partial.n_rounds == stop_after + 1 and partial.stop_reason is None
    assert [info.size_before for info in seen] == list(reference.round_sizes[:stop_after + 1])

    resumed_rounds: list[int] = []
    resumed = prune(guide(), transport["X"], transport["y"], transport["threshold"], progress=False,
                    checkpoint=checkpoint, callback=lambda info: resumed_rounds.append(info.round),
                    **SETTINGS)
    assert resumed_rounds[0] == stop_after + 1, "finished rounds are not redone"
    np.testing.assert_array_equal(resumed.order, reference.order)
    np.testing.assert_array_equal(resumed.removal_round, reference.removal_round)
    np.testing.assert_array_equal(resumed.round_sizes, reference.round_sizes)
    # A finished checkpoint returns at once, without fitting anything.
    done = prune(guide(), transport["X"], transport["y"], transport["threshold"], progress=False,
                 checkpoint=checkpoint, callback=lambda info: pytest.fail("no round expected"), **SETTINGS)
    np.testing.assert_array_equal(done.order, reference.order)


def test_max_rounds_then_more(reference: PruningResult, transport: dict, tmp_path: Path) -> None:
    checkpoint = tmp_path / "prune.npz"
    short = prune(guide(), transport["X"], transport["y"], transport["threshold"], progress=False,
                  checkpoint=checkpoint, max_rounds=2, **SETTINGS)
    assert short.n_rounds == 2 and short.stop_reason == STOP_MAX_ROUNDS
    np.testing.assert_array_equal(short.round_sizes, reference.round_sizes[:3])
    full = prune(guide(), transport["X"], transport["y"], transport["threshold"], progress=False,
                 checkpoint=checkpoint, **SETTINGS)
    np.testing.assert_array_equal(full.order, reference.order)
    assert full.stop_reason == STOP_MIN_RETAINED
    # Asking a finished checkpoint for fewer rounds truncates, as an uninterrupted short run would.
    again_short = prune(guide(), transport["X"], transport["y"], transport["threshold"], progress=False,
                        checkpoint=checkpoint, max_rounds=2, **SETTINGS)
    np.testing.assert_array_equal(again_short.removal_round, short.removal_round)
    np.testing.assert_array_equal(again_short.order, short.order)


def test_mismatched_checkpoint_refused(transport: dict, tmp_path: Path) -> None:
    checkpoint = tmp_path / "prune.npz"
    X, y, threshold = transport["X"], transport["y"], transport["threshold"]
    prune(guide(), X, y, threshold, progress=False, checkpoint=checkpoint, max_rounds=1, **SETTINGS)
    changed_y = y.copy()
    changed_y[0] += 1.0
    with pytest.raises(ValueError, match="data_checksum"):
        prune(guide(), X, changed_y, threshold, progress=False, checkpoint=checkpoint, **SETTINGS)
    with pytest.raises(ValueError, match="threshold"):
        prune(guide(), X, y, threshold * 1.01, progress=False, checkpoint=checkpoint, **SETTINGS)
    with pytest.raises(ValueError, match="min_retained"):
        prune(guide(), X, y, threshold, progress=False, checkpoint=checkpoint, min_remove_frac=0.05,
              min_retained=200)
    other_model = make_model("xgb", profile="quick", n_estimators=31, max_depth=4, n_threads=1)
    with pytest.raises(ValueError, match="estimator"):
        prune(other_model, X, y, threshold, progress=False, checkpoint=checkpoint, **SETTINGS)
    (tmp_path / "junk.npz").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable"):
        prune(guide(), X, y, threshold, progress=False, checkpoint=tmp_path / "junk.npz", **SETTINGS)


def test_save_load_roundtrip(reference: PruningResult, tmp_path: Path) -> None:
    loaded = PruningResult.load(reference.save(tmp_path / "result.npz"))
    for name in ("removal_round", "removal_error", "round_sizes", "order", "fit_seconds",
                 "round_below_threshold"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(reference, name))
    assert loaded.round_rule == reference.round_rule and loaded.threshold == reference.threshold
    assert loaded.params == reference.params and loaded.stop_reason == reference.stop_reason


# ---- selections ------------------------------------------------------------------------------------
def test_retained_at_and_top_fraction(reference: PruningResult) -> None:
    n_pool = reference.n_pool
    np.testing.assert_array_equal(reference.retained_at(1.0), np.arange(n_pool))
    for fraction in (0.9, 0.5, 0.3, 0.2, reference.final_fraction):
        retained = reference.retained_at(fraction)
        round_index = reference.round_at(fraction)
        # + 1e-9: final_fraction * n_pool is the final size up to float rounding (182 / 1350 * 1350)
        assert retained.size == reference.round_sizes[round_index] <= fraction * n_pool + 1e-9
        if round_index > 0:
            assert reference.round_sizes[round_index - 1] > fraction * n_pool, "the *first* such round"
        top = reference.top_fraction(fraction)
        assert top.size == math.ceil(round(fraction * n_pool, 9))
        assert set(retained) <= set(top), "top_fraction adds part of the previous round to retained_at"
        extra = np.setdiff1d(top, retained)
        if extra.size:
            assert np.all(reference.removal_round[extra] == round_index - 1)
    # The two definitions coincide exactly at round sizes.
    for round_index, size in enumerate(reference.round_sizes):
        fraction = size / n_pool
        np.testing.assert_array_equal(np.sort(reference.top_fraction(fraction)),
                                      reference.retained_at_round(round_index))
    with pytest.raises(ValueError, match="never reached"):
        reference.retained_at(reference.final_fraction / 2)
    with pytest.raises(ValueError, match="unranked"):
        reference.top_fraction(reference.final_fraction / 2)
    frame = reference.rounds_frame()
    assert len(frame) == reference.n_rounds and frame["n_removed"].sum() == n_pool - reference.round_sizes[-1]
    assert (frame["fit_seconds"] <= frame["seconds"]).all()


# ---- edge cases on the diabetes set ----------------------------------------------------------------
def test_tail_rounds_remove_whole_held_out_split(diabetes: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = diabetes
    # 20 % minimum quota (89 entries): once the retained set is below 445 entries every 20 % split is
    # smaller than the quota; with a zero threshold nothing qualifies, so the whole split goes.
    result = prune(RandomForestRegressor(n_estimators=10, random_state=0, n_jobs=1), X, y, 0.0,
                   min_remove_frac=0.2, min_retained=40, progress=True)
    assert all(rule == RULE_MINIMUM for rule in result.round_rule)
    removed = -np.diff(result.round_sizes)
    expected = [math.ceil(0.2 * size) for size in result.round_sizes[:-1]]
    np.testing.assert_array_equal(removed, expected)
    assert result.round_sizes[-1] - math.ceil(0.2 * result.round_sizes[-1]) < 40 <= result.round_sizes[-1]


def test_last_round_capped_at_min_retained(diabetes: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = diabetes
    # A huge threshold lets every held-out entry qualify; the last round must stop at exactly 100.
    result = prune(RandomForestRegressor(n_estimators=10, random_state=0, n_jobs=1), X, y, 1e9,
                   min_remove_frac=0.01, min_retained=100, progress=False)
    assert result.round_sizes[-1] == 100 and result.round_rule[-1] == RULE_CAPPED
    assert set(result.round_rule[:-1]) == {RULE_THRESHOLD}
    assert result.stop_reason == STOP_MIN_RETAINED


def test_invalid_inputs(diabetes: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = diabetes
    with pytest.raises(ValueError, match="nothing can be pruned"):
        prune(guide(), X, y, 1.0, min_retained=X.shape[0], progress=False)
    bad_y = y.copy()
    bad_y[5] = np.nan
    with pytest.raises(ValueError, match="position 5"):
        prune(guide(), X, bad_y, 1.0, progress=False)
    with pytest.raises(ValueError, match="one value per row"):
        prune(guide(), X, y[:-1], 1.0, progress=False)
    with pytest.raises(ValueError, match="threshold"):
        prune(guide(), X, y, float("nan"), progress=False)


# ---- where the redundant data lies -----------------------------------------------------------------
def test_redundancy_composition_counts(reference: PruningResult, transport: dict) -> None:
    formulas = list(transport["formulas"])
    tables = redundancy_composition(transport["ids"], formulas, reference.removal_round, fraction=0.3)
    retained = set(reference.retained_at(0.3))
    removed_mask = np.array([position not in retained for position in range(reference.n_pool)])
    n_removed = int(removed_mask.sum())
    summary = tables["summary"].iloc[0]
    assert summary["n_removed"] == n_removed and summary["n_retained"] == len(retained)
    assert summary["round"] == reference.round_at(0.3)

    # Elements: counts are entries containing the element, checked for two elements by hand.
    elements = tables["elements"].set_index("element")
    for symbol in ("O", "Li"):
        contains = np.array([symbol in {e.symbol for e in Composition(f).elements} for f in formulas])
        row = elements.loc[symbol]
        assert row["n_total"] == contains.sum()
        assert row["n_removed"] == (contains & removed_mask).sum()
        assert row["share_removed"] == pytest.approx(row["n_removed"] / n_removed)
        assert row["enrichment"] == pytest.approx(row["share_removed"] / row["share_retained"])
    arity = tables["n_elements"]
    assert arity["n_removed"].sum() == n_removed and arity["n_retained"].sum() == len(retained)
    assert arity["share_removed"].sum() == pytest.approx(1.0)
    assert set(arity["arity_name"]) >= {"unary", "binary", "ternary"}
    families = tables["formulas"]
    assert families["n_total"].sum() == reference.n_pool and families["n_removed"].sum() == n_removed
    assert len(families) == len({Composition(f).reduced_formula for f in formulas})
    by_size = tables["family_size"]
    assert (by_size["n_total"] % by_size["family_size"] == 0).all()
    assert by_size["n_total"].sum() == reference.n_pool
    entries = tables["entries"]
    assert len(entries) == reference.n_pool and entries["removed"].sum() == n_removed

    at_end = redundancy_composition(transport["ids"], formulas, reference.removal_round)
    assert at_end["summary"].iloc[0]["n_retained"] == reference.round_sizes[-1]


def test_redundancy_composition_spacegroups() -> None:
    folder = Path(pymatgen.util.__file__).parent / "structures"
    structures = [Structure.from_file(path) for path in sorted(folder.glob("*.json"))]
    assert len(structures) >= 10
    formulas = [structure.composition.formula for structure in structures]
    spacegroups = [SpacegroupAnalyzer(structure).get_space_group_number() for structure in structures]
    # A removal history: the first half left in round 0, the rest stays.
    removal_round = np.where(np.arange(len(structures)) < len(structures) // 2, 0, -1)
    ids = [path.stem for path in sorted(folder.glob("*.json"))]
    tables = redundancy_composition(ids, formulas, removal_round, spacegroups=spacegroups)
    groups = tables["spacegroups"]
    assert groups["n_total"].sum() == len(structures)
    assert groups["n_removed"].sum() == len(structures) // 2
    systems = tables["crystal_systems"]
    assert systems["n_total"].sum() == len(structures)
    assert set(systems["crystal_system"]) == {crystal_system(n) for n in spacegroups}
    assert crystal_system(225) == "cubic" and crystal_system(194) == "hexagonal"
    assert crystal_system(1) == "triclinic" and crystal_system(167) == "trigonal"
    with pytest.raises(ValueError, match="1..230"):
        redundancy_composition(ids, formulas, removal_round, spacegroups=[0] * len(ids))
    with pytest.raises(ValueError, match="cannot be parsed"):
        redundancy_composition(ids, ["12$%"] + formulas[1:], removal_round)


def _constructed_pool() -> tuple[list[str], list[str], np.ndarray]:
    """400 entries: 100 removed in round 0, 100 in round 1, 200 never removed (retained at fraction 0.5).

    At fraction 0.5 (round 2) Fe is in 90 of the 200 removed and 10 of the 200 retained entries (strongly
    enriched among the removed), O in 50 of each (equal shares).  Removal rounds interleave, so that the
    round-1 retained set (fraction 0.8) gives different counts.
    """
    removed = ["FeO"] * 45 + ["FeS"] * 45 + ["LiO"] * 5 + ["NaCl"] * 105
    retained = ["FeO"] * 5 + ["FeS"] * 5 + ["MgO"] * 45 + ["NaCl"] * 145
    formulas = removed + retained
    removal_round = np.array([i % 2 for i in range(200)] + [-1] * 200, dtype=np.int64)
    return [f"e{i}" for i in range(400)], formulas, removal_round


def test_redundancy_significance_constructed() -> None:
    ids, formulas, removal_round = _constructed_pool()
    tables = redundancy_composition(ids, formulas, removal_round, fraction=0.5)
    summary = tables["summary"].iloc[0]
    assert summary["retained_fraction"] == 0.5 and summary["n_retained"] == 200 and summary["round"] == 2
    for name in ("elements", "n_elements", "formulas", "family_size"):
        assert (tables[name]["retained_fraction"] == 0.5).all()  # the requested fraction, in every table
    elements = tables["elements"].set_index("element")
    iron, oxygen = elements.loc["Fe"], elements.loc["O"]
    assert (iron["n_removed"], iron["n_retained"]) == (90, 10)
    assert iron["enrichment"] == pytest.approx(9.0)
    assert iron["significant"] and iron["q_value"] < 0.05
    assert iron["enrichment_ci_low"] > 1 and iron["enrichment_ci_low"] < 9 < iron["enrichment_ci_high"]
    assert (oxygen["n_removed"], oxygen["n_retained"]) == (50, 50)
    assert oxygen["enrichment"] == pytest.approx(1.0) and oxygen["p_value"] == pytest.approx(1.0)
    assert not oxygen["significant"] and oxygen["q_value"] >= 0.05
    assert oxygen["enrichment_ci_low"] < 1 < oxygen["enrichment_ci_high"]

    # p-values are scipy's Fisher exact test of each group's 2x2 table; q-values BH over the table.
    for name, column in (("elements", "element"), ("formulas", "reduced_formula"), ("n_elements", "arity")):
        table = tables[name]
        for row in table.itertuples():
            two_by_two = [[row.n_removed, row.n_retained], [200 - row.n_removed, 200 - row.n_retained]]
            assert row.p_value == pytest.approx(stats.fisher_exact(two_by_two).pvalue, rel=1e-12), \
                getattr(row, column)
        np.testing.assert_allclose(table["q_value"], stats.false_discovery_control(table["p_value"]))
        np.testing.assert_array_equal(table["significant"], table["q_value"] < 0.05)

    # Another fraction compares another retained set (round 1: 300 kept).
    at_80 = redundancy_composition(ids, formulas, removal_round, fraction=0.8)
    assert at_80["summary"].iloc[0]["n_retained"] == 300
    assert (at_80["elements"]["retained_fraction"] == 0.8).all()
    assert at_80["elements"].set_index("element").loc["Fe", "n_removed"] == 45


def test_enrichment_statistics_edges() -> None:
    tested = enrichment_statistics([0, 30, 10], [20, 0, 10], 100, 100)
    assert tested.loc[0, "enrichment_ci_low"] == 0 and np.isfinite(tested.loc[0, "enrichment_ci_high"])
    assert tested.loc[1, "enrichment_ci_high"] == np.inf and tested.loc[1, "enrichment_ci_low"] > 1
    # Katz interval of a ratio of proportions: exp(log r +- 1.96 sqrt(1/a - 1/A + 1/b - 1/B)).
    half = 1.959963984540054 * math.sqrt(1 / 10 - 1 / 100 + 1 / 10 - 1 / 100)
    assert tested.loc[2, "enrichment_ci_low"] == pytest.approx(math.exp(-half))
    assert tested.loc[2, "enrichment_ci_high"] == pytest.approx(math.exp(half))
    nothing_removed = enrichment_statistics([0, 0], [5, 95], 0, 100)
    assert (nothing_removed["p_value"] == 1).all() and not nothing_removed["significant"].any()
    assert nothing_removed["enrichment_ci_low"].isna().all()
    with pytest.raises(ValueError, match="between 0"):
        enrichment_statistics([101], [0], 100, 100)
    # q-values are scipy's; a NaN p-value stays NaN and does not count towards the family.
    p_values = [0.001, 0.04, 0.03, 0.5, 0.2, 0.04]
    expected = stats.false_discovery_control(p_values)
    np.testing.assert_allclose(benjamini_hochberg(np.array(p_values)), expected)
    np.testing.assert_allclose(benjamini_hochberg(np.array([*p_values, np.nan]))[:-1], expected)


def test_retained_mask_matches_result(reference: PruningResult) -> None:
    for fraction in (0.8, 0.4, None):
        mask, round_index = retained_mask(reference.removal_round, fraction)
        expected = reference.n_rounds if fraction is None else reference.round_at(fraction)
        assert round_index == expected
        np.testing.assert_array_equal(np.flatnonzero(mask), reference.retained_at_round(round_index))


def test_settings_from_profile() -> None:
    kappa, kwargs = settings_from_profile("paper")
    assert kappa == 0.5
    assert kwargs == {"min_remove_frac": 0.01, "min_retained": 300, "max_rounds": 2000}


def test_test_free_threshold_uses_the_pools_out_of_fold_mae(mp18_small) -> None:
    """``source="oof"`` never looks at the test set: any test targets give the same threshold."""
    X, y = mp18_small.X[:600], mp18_small.y["e_form"][:600]
    threshold, model = pruning_threshold(Ridge(), X[:500], y[:500], X[500:], y[500:] + 100.0, source="oof")
    expected = cross_val_predict(Ridge(), X[:500], y[:500], cv=KFold(5, shuffle=True, random_state=0))
    assert threshold == pytest.approx(0.5 * np.mean(np.abs(expected - y[:500])))
    assert model.predict(X[:3]).shape == (3,)
    with pytest.raises(LessdataError, match="threshold source"):
        pruning_threshold(Ridge(), X[:500], y[:500], X[500:], y[500:], source="pool")
