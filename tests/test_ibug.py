"""IBUG uncertainty (lessdata.models.ibug): the fast neighbour search against the brute-force reference.

Real data only: scikit-learn's bundled diabetes set, and ~1,500 real Materials Project compositions
from matminer's bundled transport database (``mp_transport/transport_database.tar.xz``), featurized with
matminer's Magpie element-property preset, with their real Seebeck coefficients as the target.
"""

from __future__ import annotations

import tarfile
from importlib.resources import files

import numpy as np
import pandas as pd
import pytest
from matminer.featurizers.composition import ElementProperty
from pymatgen.core import Composition
from scipy.stats import norm
from sklearn.datasets import load_diabetes
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import Ridge
from xgboost import DMatrix, XGBRegressor

from lessdata import config
from lessdata.models import ibug
from lessdata.models.factory import make_model
from lessdata.models.ibug import DEFAULT_K_GRID, IBUGRegressor, gaussian_nll, leaf_indices

TRANSPORT_ARCHIVE = "utils/data_files/mp_transport/transport_database.tar.xz"
N_MATERIALS = 1500


@pytest.fixture(scope="module")
def diabetes() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_diabetes(return_X_y=True)
    return X, y


@pytest.fixture(scope="module")
def materials() -> dict[str, np.ndarray]:
    """1,500 real MP compositions: Magpie features and the Seebeck coefficient S_p (uV/K); split 60/20/20."""
    with tarfile.open(files("matminer") / TRANSPORT_ARCHIVE) as archive:
        table = pd.read_csv(archive.extractfile("transport_database.csv"))
    sample = table.sample(N_MATERIALS, random_state=0)
    featurizer = ElementProperty.from_preset("magpie")
    featurizer.set_n_jobs(1)
    X = np.array(featurizer.featurize_many([Composition(f) for f in sample["pretty_formula"]],
                                           pbar=False), dtype=float)
    y = sample["S_p"].to_numpy(dtype=float)
    assert X.shape == (N_MATERIALS, 132) and np.isfinite(X).all()
    order = np.random.default_rng(1).permutation(N_MATERIALS)
    train, val, test = np.split(order, [900, 1200])
    return {"X_train": X[train], "y_train": y[train], "X_val": X[val], "y_val": y[val], "X_test": X[test]}


@pytest.fixture(scope="module")
def materials_model(materials: dict[str, np.ndarray]) -> XGBRegressor:
    """The study's IBUG XGB (quick profile: 150 trees), trained on the materials training split."""
    model = make_model("xgb_ibug", profile="quick", n_threads=1, random_state=0)
    return model.fit(materials["X_train"], materials["y_train"])


@pytest.fixture(scope="module")
def materials_ibug(materials: dict[str, np.ndarray], materials_model: XGBRegressor) -> IBUGRegressor:
    return IBUGRegressor(materials_model).fit(materials["X_train"], materials["y_train"],
                                              materials["X_val"], materials["y_val"])


def tiny_model(X: np.ndarray, y: np.ndarray, n_trees: int = 4, depth: int = 2) -> XGBRegressor:
    """Few shallow trees: many rows share whole leaf vectors, so affinities tie a lot."""
    return XGBRegressor(n_estimators=n_trees, max_depth=depth, learning_rate=0.5, n_jobs=1,
                        random_state=0).fit(X, y)


# -------------------------------------------------------------------------------------------------
# Neighbour search: fast path == brute force.
# -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n_trees, depth", [(1, 1), (4, 2), (40, 4)])
def test_fast_topk_equals_brute_force_with_ties(diabetes, n_trees, depth):
    X, y = diabetes
    X = np.vstack([X, X[:30]])  # exact duplicates: identical leaf vectors, guaranteed ties
    y = np.concatenate([y, y[:30]])
    model = tiny_model(X, y, n_trees, depth)
    train, query = X[:350], X[350:]
    ibug_model = IBUGRegressor(model, calibrate=False).fit(train, y[:350])
    train_leaves, query_leaves = leaf_indices(model, train), leaf_indices(model, query)
    for k in (1, 3, 17, 349, 350):
        fast_indices, fast_affinity = ibug_model.kneighbors(query, k)
        brute_indices, brute_affinity = ibug._brute_force_topk(query_leaves, train_leaves, k)
        np.testing.assert_array_equal(fast_indices, brute_indices)
        np.testing.assert_array_equal(fast_affinity, brute_affinity)
    # ties straddle the cut at k = 3 and k = 17, so the tie-break decides who is in the neighbour set
    _, full_affinity = ibug._brute_force_topk(query_leaves, train_leaves, 350)
    assert np.any(full_affinity[:, 2] == full_affinity[:, 3])
    assert np.any(full_affinity[:, 16] == full_affinity[:, 17])


def test_fast_topk_equals_brute_force_on_materials(materials, materials_ibug, materials_model):
    train_leaves = leaf_indices(materials_model, materials["X_train"])
    query = materials["X_test"][:150]
    query_leaves = leaf_indices(materials_model, query)
    for k in (materials_ibug.k_, 31, 701):
        fast_indices, fast_affinity = materials_ibug.kneighbors(query, k)
        brute_indices, brute_affinity = ibug._brute_force_topk(query_leaves, train_leaves, k)
        np.testing.assert_array_equal(fast_indices, brute_indices)
        np.testing.assert_array_equal(fast_affinity, brute_affinity)


def test_repeated_query_rows_are_searched_once_with_the_same_result(materials, materials_ibug,
                                                                     materials_model):
    """Polymorphs share a composition row; the search dedupes them and copies the answer back."""
    base = materials["X_test"][:60]
    query = np.vstack([base, base[::3], base[:5]])[np.random.default_rng(0).permutation(85)]
    unique_rows, inverse = ibug._repeated_rows(query)
    assert len(unique_rows) == 60
    np.testing.assert_array_equal(unique_rows[inverse], query)
    train_leaves = leaf_indices(materials_model, materials["X_train"])
    brute = ibug._brute_force_topk(leaf_indices(materials_model, query), train_leaves, materials_ibug.k_)
    for got, expected in zip(materials_ibug.kneighbors(query), brute, strict=True):
        np.testing.assert_array_equal(got, expected)
    signed = np.array([[0.0, 1.0], [-0.0, 1.0], [0.0, 1.0]])
    assert len(ibug._repeated_rows(signed)[0]) == 2  # bytes, not values: -0.0 is kept apart
    assert ibug._repeated_rows(base) is None


def test_all_affinity_kernels_agree(materials, materials_model):
    """Bit-packed counter, scipy sparse product Q @ T.T and the direct definition give one matrix."""
    train_leaves = leaf_indices(materials_model, materials["X_train"])
    query_leaves = leaf_indices(materials_model, materials["X_test"][:100])
    columns = ibug._LeafColumns(train_leaves)
    bitsets = ibug._pack_leaf_bitsets(columns.train_columns, columns.n_columns, columns.tree_column_start)
    query_columns = columns.columns(query_leaves)
    direct = (query_leaves[:, None, :] == train_leaves[None, :, :]).sum(axis=2)
    bitset = ibug._bitset_affinity(query_columns, bitsets, train_leaves.shape[0])
    sparse = ibug._sparse_affinity(columns.incidence(query_columns),
                                   columns.incidence(columns.train_columns).T.tocsr())
    np.testing.assert_array_equal(bitset, direct)
    np.testing.assert_array_equal(sparse, direct)


def test_leaves_without_training_rows_and_search_fallback(diabetes, monkeypatch):
    """IBUG fitted on part of the model's data: some query leaves hold no IBUG training row."""
    X, y = diabetes
    model = make_model("xgb_ibug", profile="quick", n_threads=1, n_estimators=30).fit(X, y)
    train, query = X[:60], X[60:]
    train_leaves, query_leaves = leaf_indices(model, train), leaf_indices(model, query)
    unseen = ~np.array([[leaf in set(train_leaves[:, t]) for t, leaf in enumerate(row)]
                        for row in query_leaves])
    assert unseen.any()
    expected = ibug._brute_force_topk(query_leaves, train_leaves, 9)
    for lookup_limit in (ibug._MAX_LOOKUP_ENTRIES, 0):  # dense lookup table, then binary search
        monkeypatch.setattr(ibug, "_MAX_LOOKUP_ENTRIES", lookup_limit)
        fitted = IBUGRegressor(model, calibrate=False).fit(train, y[:60])
        assert (fitted.leaf_columns_.lookup is None) == (lookup_limit == 0)
        got = fitted.kneighbors(query, 9)
        np.testing.assert_array_equal(got[0], expected[0])
        np.testing.assert_array_equal(got[1], expected[1])


def test_leaf_incidence_matches_leaves(diabetes):
    X, y = diabetes
    model = tiny_model(X, y, n_trees=12, depth=3)
    fitted = IBUGRegressor(model).fit(X, y)
    incidence = fitted.leaf_incidence_
    leaves = leaf_indices(model, X)
    assert incidence.shape == (X.shape[0], fitted.leaf_columns_.n_columns)
    np.testing.assert_array_equal(incidence.sum(axis=1), np.full(X.shape[0], leaves.shape[1]))
    co_membership = (incidence @ incidence.T).toarray()
    np.testing.assert_array_equal(co_membership[:50], (leaves[:50, None] == leaves[None]).sum(axis=2))


def test_leaf_indices_are_xgboost_leaves(diabetes):
    X, y = diabetes
    model = tiny_model(X, y, n_trees=7, depth=3)
    leaves = leaf_indices(model, X)
    assert leaves.shape == (X.shape[0], 7) and leaves.dtype == np.int32
    np.testing.assert_array_equal(leaves, model.get_booster().predict(DMatrix(X), pred_leaf=True))


# -------------------------------------------------------------------------------------------------
# Predictive distribution, tuning and calibration.
# -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("calibrate", [False, True])
def test_pred_dist_scale_is_std_of_brute_force_neighbours(materials, materials_model, calibrate):
    fitted = IBUGRegressor(materials_model, calibrate=calibrate).fit(
        materials["X_train"], materials["y_train"], materials["X_val"], materials["y_val"])
    query = materials["X_test"]
    location, scale = fitted.pred_dist(query)
    np.testing.assert_array_equal(location, materials_model.predict(query))
    np.testing.assert_array_equal(fitted.predict(query), location)
    neighbours, _ = ibug._brute_force_topk(leaf_indices(materials_model, query),
                                           leaf_indices(materials_model, materials["X_train"]), fitted.k_)
    raw = np.maximum(np.std(materials["y_train"][neighbours], axis=1), fitted.min_scale)
    np.testing.assert_array_equal(raw, ibug._brute_force_scale(
        leaf_indices(materials_model, query), leaf_indices(materials_model, materials["X_train"]),
        materials["y_train"], fitted.k_, fitted.min_scale))
    np.testing.assert_allclose(scale, np.maximum(fitted.gamma_ * raw + fitted.delta_, fitted.min_scale),
                               rtol=1e-12)
    if not calibrate:
        assert (fitted.gamma_, fitted.delta_) == (1.0, 0.0)
        np.testing.assert_array_equal(scale, raw)
    assert np.all(scale > 0)


def test_tuned_k_minimises_validation_nll(materials, materials_ibug, materials_model):
    fitted = materials_ibug
    assert fitted.k_grid_ == [k for k in DEFAULT_K_GRID if k <= len(materials["y_train"])]
    assert fitted.k_ in fitted.k_grid_
    assert set(fitted.val_nll_by_k_) == set(fitted.k_grid_)
    best = fitted.val_nll_by_k_[fitted.k_]
    assert all(best <= nll for nll in fitted.val_nll_by_k_.values())
    # the recorded NLLs are those of the brute-force neighbours (prefix reuse changes nothing)
    val_leaves = leaf_indices(materials_model, materials["X_val"])
    train_leaves = leaf_indices(materials_model, materials["X_train"])
    loc = materials_model.predict(materials["X_val"])
    for k in (3, fitted.k_, 301):
        scale = ibug._brute_force_scale(val_leaves, train_leaves, materials["y_train"], k, fitted.min_scale)
        assert gaussian_nll(materials["y_val"], loc, scale) == pytest.approx(fitted.val_nll_by_k_[k],
                                                                             rel=1e-12)


def test_calibration_does_not_increase_validation_nll(materials, materials_ibug, materials_model):
    fitted = materials_ibug
    assert fitted.val_nll_ <= fitted.val_nll_by_k_[fitted.k_]
    assert fitted.gamma_ > 0 and fitted.delta_ >= 0
    # val_nll_ is the NLL of pred_dist on the validation set (neighbours come from all of X_train)
    assert gaussian_nll(materials["y_val"], *fitted.pred_dist(materials["X_val"])) == pytest.approx(
        fitted.val_nll_, rel=1e-10)
    uncalibrated = IBUGRegressor(materials_model, calibrate=False).fit(
        materials["X_train"], materials["y_train"], materials["X_val"], materials["y_val"])
    assert uncalibrated.k_ == fitted.k_
    assert fitted.val_nll_ <= uncalibrated.val_nll_


def test_calibration_repairs_zero_spread_neighbourhoods(diabetes):
    """Targets rounded to a coarse grid make many k=3 neighbourhoods constant (std -> min_scale)."""
    X, y = diabetes
    y_coarse = np.round(y / 100) * 100
    model = make_model("xgb_ibug", profile="quick", n_threads=1, n_estimators=40).fit(X[:300], y_coarse[:300])
    fitted = IBUGRegressor(model, k_grid=[3]).fit(X[:300], y_coarse[:300], X[300:], y_coarse[300:])
    assert fitted.val_nll_ < fitted.val_nll_by_k_[3]
    assert fitted.delta_ > 0


def test_internal_holdout_is_seeded_and_k_grid_capped(diabetes):
    X, y = diabetes
    model = make_model("xgb_ibug", profile="quick", n_threads=1, n_estimators=30).fit(X[:100], y[:100])
    first = IBUGRegressor(model, random_state=3).fit(X[:100], y[:100])
    second = IBUGRegressor(model, random_state=3).fit(X[:100], y[:100])
    assert (first.k_, first.gamma_, first.delta_) == (second.k_, second.gamma_, second.delta_)
    assert first.val_nll_by_k_ == second.val_nll_by_k_
    assert first.k_grid_[-1] == 80  # 20 of the 100 rows held out; k capped at the 80 left
    assert first.k_grid_ == [3, 5, 7, 9, 11, 15, 31, 61, 80]
    assert first.y_train_.size == 100  # the fitted neighbour pool is all training rows


def test_fixed_k_without_calibration_uses_every_training_row(materials, materials_model):
    """The authors' call (config.IBUG_PARAMS: k = 100, uncalibrated): nothing tuned, nothing held out."""
    X_train, y_train = materials["X_train"], materials["y_train"]
    fitted = IBUGRegressor(materials_model, **config.IBUG_PARAMS).fit(X_train, y_train)
    assert (fitted.k_, fitted.gamma_, fitted.delta_) == (100, 1.0, 0.0)
    assert fitted.k_grid_ == [100] and fitted.val_nll_by_k_ == {} and np.isnan(fitted.val_nll_)
    assert fitted.y_train_.size == len(y_train)
    # The scale is the std of the 100 highest-affinity rows among ALL training rows (brute force).
    query = materials["X_test"][:40]
    train_leaves, query_leaves = leaf_indices(materials_model, X_train), leaf_indices(materials_model, query)
    neighbours, _ = ibug._brute_force_topk(query_leaves, train_leaves, 100)
    location, scale = fitted.pred_dist(query)
    np.testing.assert_allclose(scale, np.maximum(np.std(y_train[neighbours], axis=1), fitted.min_scale),
                               rtol=1e-12)
    np.testing.assert_array_equal(location, materials_model.predict(query))


def test_fixed_k_is_capped_by_all_rows_not_by_a_holdout(diabetes):
    """With 90 training rows k = 100 becomes 90 (every row); a 20 % hold-out would have capped it at 72."""
    X, y = diabetes
    model = make_model("xgb_ibug", profile="quick", n_threads=1, n_estimators=30).fit(X[:90], y[:90])
    untuned = IBUGRegressor(model, k_grid=(100,), calibrate=False, val_fraction=0.0).fit(X[:90], y[:90])
    assert untuned.k_ == 90
    held_out = IBUGRegressor(model, k_grid=(100,), calibrate=False).fit(X[:90], y[:90])
    assert held_out.k_ == 72 and np.isfinite(held_out.val_nll_)
    one_row = IBUGRegressor(model, k_grid=(100,), calibrate=False, val_fraction=0.0).fit(X[:1], y[:1])
    assert one_row.k_ == 1
    # Tuning needs validation rows: a grid or a calibration without a hold-out is refused ...
    for settings in ({"calibrate": False}, {"k_grid": (100,), "calibrate": True}):
        with pytest.raises(ValueError, match="nothing to choose k or calibrate on"):
            IBUGRegressor(model, val_fraction=0.0, **settings).fit(X[:90], y[:90])
    # ... unless a validation set is passed.
    tuned = IBUGRegressor(model, val_fraction=0.0).fit(X[:90], y[:90], X[90:200], y[90:200])
    assert len(tuned.val_nll_by_k_) > 1


def test_tuned_settings_tune_k_and_calibrate(diabetes):
    """config.IBUG_TUNED_PARAMS (strategy xgb_u_tuned): k searched on a seeded hold-out, then calibrated."""
    X, y = diabetes
    model = make_model("xgb_ibug", profile="quick", n_threads=1, n_estimators=30).fit(X[:300], y[:300])
    tuned = IBUGRegressor(model, **config.IBUG_TUNED_PARAMS, random_state=0).fit(X[:300], y[:300])
    assert tuned.k_grid_ == [k for k in DEFAULT_K_GRID if k <= 240] + [240]
    assert tuned.k_ == min(tuned.k_grid_, key=lambda k: (tuned.val_nll_by_k_[k], k))
    assert tuned.calibrate and tuned.val_nll_ <= tuned.val_nll_by_k_[tuned.k_]
    assert (tuned.gamma_, tuned.delta_) != (1.0, 0.0)


def test_chunking_gives_identical_results(materials, materials_model, materials_ibug):
    tiny = IBUGRegressor(materials_model, max_memory_gb=1e-9).fit(
        materials["X_train"], materials["y_train"], materials["X_val"], materials["y_val"])
    assert (tiny.k_, tiny.gamma_, tiny.delta_) == (materials_ibug.k_, materials_ibug.gamma_,
                                                    materials_ibug.delta_)
    assert tiny.val_nll_by_k_ == materials_ibug.val_nll_by_k_
    query = materials["X_test"]
    for got, expected in zip(tiny.pred_dist(query), materials_ibug.pred_dist(query), strict=True):
        np.testing.assert_array_equal(got, expected)
    for got, expected in zip(tiny.kneighbors(query, 61), materials_ibug.kneighbors(query, 61), strict=True):
        np.testing.assert_array_equal(got, expected)


def test_pandas_input(diabetes):
    X, y = diabetes
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    model = tiny_model(frame, y, n_trees=10, depth=3)
    from_frame = IBUGRegressor(model).fit(frame.iloc[:300], y[:300], frame.iloc[300:], y[300:])
    location, scale = from_frame.pred_dist(frame.iloc[300:])
    assert location.shape == scale.shape == (X.shape[0] - 300,)
    assert gaussian_nll(y[300:], location, scale) == pytest.approx(from_frame.val_nll_, rel=1e-10)


def test_gaussian_nll_matches_scipy():
    rng = np.random.default_rng(0)
    y, loc, scale = rng.normal(size=50), rng.normal(size=50), rng.uniform(0.1, 2, size=50)
    assert gaussian_nll(y, loc, scale) == pytest.approx(-norm.logpdf(y, loc, scale).mean(), rel=1e-12)
    with pytest.raises(ValueError, match="scale must be > 0"):
        gaussian_nll(y, loc, np.zeros(50))
    with pytest.raises(ValueError, match="one shape"):
        gaussian_nll(y, loc[:3], scale)


# -------------------------------------------------------------------------------------------------
# Input validation.
# -------------------------------------------------------------------------------------------------
def test_unfitted_or_wrong_estimator_is_rejected(diabetes):
    X, y = diabetes
    with pytest.raises(NotFittedError, match="not fitted"):
        IBUGRegressor(XGBRegressor()).fit(X, y)
    with pytest.raises(TypeError, match="XGBRegressor"):
        IBUGRegressor(Ridge().fit(X, y)).fit(X, y)
    with pytest.raises(NotFittedError, match="IBUGRegressor is not fitted"):
        IBUGRegressor(tiny_model(X, y)).pred_dist(X)


def test_bad_inputs_give_clear_errors(diabetes):
    X, y = diabetes
    model = tiny_model(X, y)
    with pytest.raises(ValueError, match="has 9 features but the estimator was fitted on 10"):
        IBUGRegressor(model).fit(X[:, :9], y)
    fitted = IBUGRegressor(model).fit(X, y)
    with pytest.raises(ValueError, match="has 11 features but the estimator was fitted on 10"):
        fitted.pred_dist(np.hstack([X, X[:, :1]]))
    with pytest.raises(ValueError, match="must be 2-D"):
        fitted.pred_dist(X[0])
    with pytest.raises(ValueError, match=r"y must be 1-D with one value per row of its features \(442\)"):
        IBUGRegressor(model).fit(X, y[:-1])
    y_nan = y.copy()
    y_nan[5] = np.nan
    with pytest.raises(ValueError, match="non-finite values \\(first at row 5\\)"):
        IBUGRegressor(model).fit(X, y_nan)
    with pytest.raises(ValueError, match="X_val and y_val"):
        IBUGRegressor(model).fit(X, y, X_val=X)
    with pytest.raises(ValueError, match="X_val has 9 features"):
        IBUGRegressor(model).fit(X, y, X[:, :9], y)
    with pytest.raises(ValueError, match="k_grid"):
        IBUGRegressor(model, k_grid=[0, 3]).fit(X, y)
    with pytest.raises(ValueError, match="min_scale"):
        IBUGRegressor(model, min_scale=0).fit(X, y)
    with pytest.raises(ValueError, match="k must be in"):
        fitted.kneighbors(X, 10_000)


def test_matches_ibug_package_when_installed(diabetes):
    """Cross-check with the reference package where it can be installed (it cannot on Python 3.11)."""
    ibug_package = pytest.importorskip("ibug")
    X, y = diabetes
    model = make_model("xgb_ibug", profile="quick", n_threads=1, n_estimators=50).fit(X[:300], y[:300])
    reference = ibug_package.IBUGWrapper().fit(model, X[:300], y[:300], X_val=X[300:370], y_val=y[300:370])
    ours = IBUGRegressor(model).fit(X[:300], y[:300], X[300:370], y[300:370])
    ref_loc, ref_scale = reference.pred_dist(X[370:])
    loc, scale = ours.pred_dist(X[370:])
    np.testing.assert_allclose(loc, ref_loc, rtol=1e-6)
    # tie-breaking and calibration details may differ; the uncertainty ranking must agree
    assert pd.Series(scale).corr(pd.Series(ref_scale), method="spearman") > 0.9
