"""ALIGNNRegressor on real crystals: ase's mineral CIFs and elemental crystals at experimental lattice
constants, with volume per atom (a target the structure determines) as what the model learns.

Models are small (the ``quick`` profile's width, a few epochs) so the whole module runs in seconds,
but every test trains and predicts for real: no mocks.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import ase
import numpy as np
import pandas as pd
import pytest
import torch
from alignn.torch_graph_builder import batch_torch_graph_pairs, build_pure_torch_graph
from ase.build import bulk
from jarvis.core.atoms import Atoms as JarvisAtoms
from pymatgen.core import Composition, Lattice, Structure
from pymatgen.io.ase import AseAtomsAdaptor
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from lessdata import config
from lessdata.experiments.baseline import random_cells
from lessdata.models import factory as models
from lessdata.models.alignn import (
    MIN_ROWS_FOR_VALIDATION,
    ALIGNNRegressor,
    GraphCache,
    StructuresRequiredError,
    build_graph,
    clear_graph_cache,
    collate_graphs,
    graph_cache_info,
    graph_key,
)
from lessdata.models.factory import STRUCTURE_MODELS

MINERALS = Path(ase.__file__).parent / "test" / "testdata" / "minerals"
#: ase.build.bulk elements with reference crystal structures (U and Np are left out: ase's one-atom
#: orthorhombic cells for them are not the real structures).
ELEMENTS = ("Li Be C Na Mg Al Si K Ca Sc Ti V Cr Fe Co Ni Cu Zn Ge As Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag "
            "Cd In Sn Sb Cs Ba La Ce Pr Nd Sm Eu Gd Tb Dy Ho Er Tm Yb Lu Hf Ta W Re Os Ir Pt Au Hg Tl "
            "Pb Bi Po Ac Th Ne Ar Kr Xe").split()


def quick_params(model: str = "alignn", **overrides) -> dict:
    """The quick profile's ALIGNN (width 64/32, batch 16) with test-sized epochs, silent.

    ``model="alignn_es"`` gives the early-stopping variant (10 % validation hold-out, best epoch).
    """
    params = config.model_params(model, "quick")
    params.update({"epochs": 6, "progress": False, "random_state": config.ALIGNN_SEED})
    params.update(overrides)
    return params


@pytest.fixture(scope="module")
def crystals() -> tuple[list[Structure], np.ndarray]:
    """8 mineral CIFs (4-18 atoms) + 71 elemental crystals, and their volume per atom (Å^3)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymatgen's CIF parser warns about rounding in some files
        structures = [Structure.from_file(path) for path in sorted(MINERALS.glob("*.cif"))]
    assert len(structures) == 8
    structures += [AseAtomsAdaptor.get_structure(bulk(symbol)) for symbol in ELEMENTS]
    targets = np.array([s.volume / len(s) for s in structures])
    return structures, targets


@pytest.fixture(scope="module")
def fitted(crystals) -> tuple[ALIGNNRegressor, list[Structure], np.ndarray]:
    """One quick-sized early-stopping ALIGNN (alignn_es) fitted on 48 crystals (reused by the tests that
    only read it)."""
    structures, targets = crystals
    X, y = structures[:48], targets[:48]
    model = ALIGNNRegressor(**quick_params("alignn_es")).fit(X, y)
    return model, X, y


# --------------------------------------------------------------------------------------------------
# Graphs
# --------------------------------------------------------------------------------------------------
def test_graphs_are_alignns_pure_graphs(crystals):
    """Our cached graph + batch-time line graph equal alignn's build_pure_torch_graph, edge for edge."""
    structures, _ = crystals
    sample = structures[:8] + structures[20:24]
    pairs = []
    for structure in sample:
        atoms = JarvisAtoms(lattice_mat=structure.lattice.matrix, coords=structure.cart_coords,
                            elements=[site.specie.symbol for site in structure], cartesian=True)
        pairs.append(build_pure_torch_graph(atoms=atoms, two_body_cutoff=8.0, three_body_cutoff=8.0,
                                            max_neighbors=12, atom_features="cgcnn"))
    reference_g, reference_lg = batch_torch_graph_pairs(pairs)
    g, lg = collate_graphs([build_graph(s, cutoff=8.0, max_neighbors=12) for s in sample])

    assert torch.equal(g.src, reference_g.src) and torch.equal(g.dst, reference_g.dst)
    assert torch.equal(g.batch_num_nodes, reference_g.batch_num_nodes)
    assert torch.equal(g.batch_num_edges, reference_g.batch_num_edges)
    assert torch.allclose(g.edata["r"], reference_g.edata["r"], atol=1e-5)
    assert torch.equal(g.ndata["atom_features"], reference_g.ndata["atom_features"])
    assert torch.equal(lg.src, reference_lg.src) and torch.equal(lg.dst, reference_lg.dst)
    # 12 neighbours per atom, and every bond pairs with the 12 bonds leaving its end atom.
    assert g.num_edges == 12 * g.num_nodes and lg.num_edges == 12 * g.num_edges


def test_graph_key_follows_geometry_not_object(crystals):
    structures, _ = crystals
    copy = structures[0].copy()
    assert graph_key(copy) == graph_key(structures[0])
    copy.add_oxidation_state_by_guess()  # species decoration does not change the graph
    assert graph_key(copy) == graph_key(structures[0])
    copy.perturb(0.01, min_distance=0.005)
    assert graph_key(copy) != graph_key(structures[0])


# --------------------------------------------------------------------------------------------------
# Fit / predict
# --------------------------------------------------------------------------------------------------
def test_fit_predict_shapes_and_learning(fitted, crystals):
    model, X, y = fitted
    prediction = model.predict(X)
    assert prediction.shape == (48,) and prediction.dtype == np.float64
    assert np.all(np.isfinite(prediction))
    unseen = model.predict(crystals[0][48:])
    assert unseen.shape == (len(crystals[0]) - 48,)

    history = model.history_
    assert history["epoch"] == list(range(1, 7))
    assert all(len(values) == 6 for values in history.values())
    assert min(history["train_loss"][-3:]) < 0.7 * history["train_loss"][0], history["train_loss"]
    # Better than predicting the training mean on the rows it was fitted on.
    train = np.setdiff1d(np.arange(48), model.validation_indices_)
    assert np.mean((prediction[train] - y[train]) ** 2) < np.var(y[train])
    assert model.fit_seconds_ > 0
    assert (model.n_train_, model.n_val_) == (43, 5)
    assert model.model_.config.hidden_features == 64 and len(model.model_.alignn_layers) == 2
    assert model.model_.config.three_body_cutoff == 8.0


def test_predictions_come_from_the_best_validation_epoch(fitted):
    """The kept weights are the best epoch's: they reproduce that epoch's validation loss."""
    model, X, y = fitted
    val_loss = np.array(model.history_["val_loss"])
    assert np.all(np.isfinite(val_loss)) and np.all(val_loss > 0)
    assert model.best_epoch_ == int(np.argmin(val_loss)) + 1
    rows = model.validation_indices_
    mse = np.mean((model.predict([X[i] for i in rows]) - y[rows]) ** 2)
    assert mse == pytest.approx(val_loss.min(), rel=1e-5)


def test_same_seed_gives_identical_fits_and_refit_resets_weights(fitted):
    """Two fits with one random_state agree bit for bit (CPU); fitting twice equals fitting once."""
    model, X, y = fitted
    twice = clone(model)
    twice.fit(X[::-1], y[::-1])  # a different first fit, so the second must really reset
    twice.fit(X, y)
    assert np.array_equal(twice.predict(X), model.predict(X))
    for key in ("train_loss", "val_loss", "lr"):
        assert twice.history_[key] == model.history_[key]

    other_seed = clone(model).set_params(random_state=7, epochs=2).fit(X, y)
    assert not np.allclose(other_seed.predict(X), model.predict(X))


def test_fit_leaves_global_torch_state_alone(crystals):
    structures, targets = crystals
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    rng = torch.get_rng_state()
    ALIGNNRegressor(**quick_params(epochs=1, n_threads=1)).fit(structures[:12], targets[:12])
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == deterministic
    assert torch.equal(torch.get_rng_state(), rng)


def test_save_and_load_give_identical_predictions(fitted, crystals, tmp_path):
    model, X, _ = fitted
    path = model.save(tmp_path / "alignn.pt")
    loaded = ALIGNNRegressor.load(path)
    everything = crystals[0]
    assert np.array_equal(loaded.predict(everything), model.predict(everything))
    assert loaded.get_params() == model.get_params()
    assert loaded.best_epoch_ == model.best_epoch_ and loaded.history_ == model.history_
    assert np.array_equal(loaded.validation_indices_, model.validation_indices_)
    assert torch.load(path, weights_only=True)["format"].startswith("lessdata.ALIGNNRegressor")

    with pytest.raises(ValueError, match="not an ALIGNNRegressor file"):
        torch.save({"format": "something else"}, tmp_path / "other.pt")
        ALIGNNRegressor.load(tmp_path / "other.pt")


def test_jarvis_atoms_are_accepted(fitted):
    model, X, _ = fitted
    atoms = [JarvisAtoms(lattice_mat=s.lattice.matrix, coords=s.frac_coords,
                         elements=[site.specie.symbol for site in s], cartesian=False) for s in X[:6]]
    assert np.allclose(model.predict(atoms), model.predict(X[:6]), atol=1e-4)


# --------------------------------------------------------------------------------------------------
# Small training sets
# --------------------------------------------------------------------------------------------------
def test_small_validation_set_is_not_dropped(crystals):
    """12 rows, batch 16: one validation row, still evaluated every epoch (alignn's drop_last would
    leave no validation batch and report a loss of 0)."""
    structures, targets = crystals
    model = ALIGNNRegressor(**quick_params("alignn_es", epochs=4)).fit(structures[10:22], targets[10:22])
    assert model.n_val_ == 1 and model.n_train_ == 11
    val_loss = np.array(model.history_["val_loss"])
    assert np.all(np.isfinite(val_loss)) and np.all(val_loss > 0)
    assert model.best_epoch_ == int(np.argmin(val_loss)) + 1


def test_tiny_training_set_trains_on_all_rows(crystals):
    structures, targets = crystals
    n = MIN_ROWS_FOR_VALIDATION - 1
    model = ALIGNNRegressor(**quick_params(epochs=3)).fit(structures[:n], targets[:n])
    assert model.n_val_ == 0 and model.n_train_ == n and model.best_epoch_ == 3
    assert np.all(np.isnan(model.history_["val_loss"]))
    assert model.predict(structures[:n]).shape == (n,)
    single = ALIGNNRegressor(**quick_params(epochs=1)).fit(structures[:1], targets[:1])
    assert np.isfinite(single.predict(structures[:1])).all() and single.y_std_ == 1.0


# --------------------------------------------------------------------------------------------------
# Graph cache
# --------------------------------------------------------------------------------------------------
def test_graph_cache_builds_each_structure_once(crystals, tmp_path, monkeypatch):
    structures, targets = crystals
    X, y = structures[30:42], targets[30:42]
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    cache_dir = tmp_path / "graphs"
    params = quick_params(epochs=1, graph_cache_dir=cache_dir)
    clear_graph_cache()

    first = ALIGNNRegressor(**params).fit(X, y)
    assert (first.graph_stats_["builds"], first.graph_stats_["memory_hits"]) == (12, 0)
    files = sorted(cache_dir.rglob("*.pt"))
    assert len(files) == 12 and all(f.parent.parent.name == GraphCache(8.0, 12).namespace for f in files)

    second = ALIGNNRegressor(**params).fit(X, y)  # same process: from memory
    assert (second.graph_stats_["builds"], second.graph_stats_["memory_hits"]) == (0, 12)

    clear_graph_cache()  # a new process: from disk
    third = ALIGNNRegressor(**params).fit(X, y)
    assert (third.graph_stats_["builds"], third.graph_stats_["disk_hits"]) == (0, 12)
    assert np.array_equal(third.predict(X), first.predict(X))

    before = graph_cache_info()["builds"]
    ALIGNNRegressor(**quick_params(epochs=1, max_neighbors=8)).fit(X, y)  # other settings: new graphs
    assert graph_cache_info()["builds"] == before + 12
    assert list(workdir.iterdir()) == []  # nothing written in the working directory


def test_damaged_cache_file_is_rebuilt(crystals, tmp_path):
    structures, _ = crystals
    cache = GraphCache(directory=tmp_path)
    clear_graph_cache()
    graph = cache.get(structures[0])
    (path,) = tmp_path.rglob("*.pt")
    path.write_bytes(b"not a torch file")
    clear_graph_cache()
    with pytest.warns(RuntimeWarning, match="unreadable graph cache file"):
        rebuilt = cache.get(structures[0])
    assert torch.equal(rebuilt.r, graph.r)


# --------------------------------------------------------------------------------------------------
# Input errors
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("X", [
    ["Fe2O3", "NaCl"],
    [Composition("Fe2O3"), Composition("NaCl")],
    np.zeros((2, 145)),
])
def test_composition_only_input_is_refused_with_instructions(X):
    with pytest.raises(StructuresRequiredError) as info:
        ALIGNNRegressor(**quick_params()).fit(X, [1.0, 2.0])
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert "crystal structures" in message
    assert "python codes/featurize.py --input FILE --name NAME --id-col C --structure-col C" in message
    assert "CIF/POSCAR text, pymatgen dict or jarvis Atoms dict" in message


def test_predict_refuses_formulas_and_needs_a_fit(fitted):
    model, X, _ = fitted
    with pytest.raises(StructuresRequiredError, match=r"X\[1\] is a str"):
        model.predict([X[0], "Fe2O3"])
    with pytest.raises(NotFittedError):
        ALIGNNRegressor().predict(X[:2])


def test_bad_targets_and_disorder_are_reported(crystals):
    structures, targets = crystals
    model = ALIGNNRegressor(**quick_params(epochs=1))
    with pytest.raises(ValueError, match="3 structures but y has 2"):
        model.fit(structures[:3], targets[:2])
    with pytest.raises(ValueError, match="non-finite"):
        model.fit(structures[:3], [1.0, np.nan, 2.0])
    disordered = Structure(Lattice.cubic(3.0), [{"Fe": 0.5, "Co": 0.5}], [[0, 0, 0]])
    with pytest.raises(ValueError, match="disordered"):
        model.fit([disordered, *structures[:2]], targets[:3])
    with pytest.raises(ValueError, match="validation_fraction"):
        ALIGNNRegressor(validation_fraction=1.0).fit(structures[:3], targets[:3])


def test_model_factory_builds_the_profiles_alignn():
    quick = models.make_model("alignn", profile="quick", n_threads=2, random_state=config.ALIGNN_SEED)
    assert isinstance(quick, ALIGNNRegressor)
    assert (quick.epochs, quick.hidden_features, quick.batch_size) == (8, 64, 16)
    assert quick.n_threads == 2 and quick.device == "cpu" and quick.random_state == 123
    paper = models.make_model("alignn", profile="paper")
    assert paper.get_params()["hidden_features"] == 256 and paper.epochs == 50
    assert paper.validation_fraction == 0.0 and quick.validation_fraction == 0.0  # the authors' training
    early_stopping = models.make_model("alignn_es", profile="quick", n_threads=2)
    assert early_stopping.get_params() == {**quick.get_params(), "validation_fraction": 0.1}
    assert models.make_model("alignn_es", profile="paper").epochs == 50
    cells = random_cells("dcdft", "volume", ["alignn", "alignn_es"], 60, profile="paper", fractions=[1.0])
    assert sum(c.model == "alignn_es" for c in cells) == sum(c.model == "alignn" for c in cells) == 5
    assert "alignn_es" in STRUCTURE_MODELS


# --------------------------------------------------------------------------------------------------
# The authors' training (validation_fraction = 0) against our early-stopping variant
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("model_name", ["alignn", "alignn_es"])
def test_paper_alignn_trains_on_every_row_and_keeps_the_last_epoch(crystals, monkeypatch, model_name):
    """`alignn` (validation_fraction 0) trains on all 17 rows every epoch and predicts with the weights of
    the last optimiser step; `alignn_es` trains on 15, validates on 2 and keeps the best epoch's."""
    structures, targets = crystals
    X, y = structures[:17], targets[:17]
    epochs = 3
    rows_seen: list[int] = []
    snapshots: list[dict[str, torch.Tensor]] = []
    forward = ALIGNNRegressor._forward

    def counting_forward(self, graphs, device):
        rows_seen.append(len(graphs))
        return forward(self, graphs, device)

    class RecordingAdamW(torch.optim.AdamW):
        def step(self, *args, **kwargs):
            result = super().step(*args, **kwargs)
            snapshots.append({name: p.detach().clone() for name, p in model.model_.named_parameters()})
            return result

    monkeypatch.setattr(ALIGNNRegressor, "_forward", counting_forward)
    monkeypatch.setattr(torch.optim, "AdamW", RecordingAdamW)
    model = ALIGNNRegressor(**quick_params(model_name, epochs=epochs))
    model.fit(X, y)
    steps_per_epoch = len(snapshots) // epochs
    final = dict(model.model_.named_parameters())
    if model_name == "alignn":
        assert (model.n_train_, model.n_val_, model.best_epoch_) == (17, 0, epochs)
        assert len(model.validation_indices_) == 0 and np.all(np.isnan(model.history_["val_loss"]))
        assert sum(rows_seen) == epochs * 17  # every row, every epoch, and no validation pass
        kept = snapshots[-1]
    else:
        assert (model.n_train_, model.n_val_) == (15, 2)
        assert sum(rows_seen) == epochs * (15 + 2)  # 15 trained on, 2 predicted for validation
        kept = snapshots[model.best_epoch_ * steps_per_epoch - 1]
    assert len(snapshots) == epochs * steps_per_epoch
    assert all(torch.equal(final[name], kept[name]) for name in kept)
    assert not all(torch.equal(snapshots[0][name], snapshots[-1][name]) for name in kept)


def test_report_lists_alignn_differences_only_with_alignn_rows():
    from lessdata.analysis import results
    from lessdata.reporting import report

    rows = [{"dataset": "dcdft", "target": "volume", "method": "random", "selector": "", "model": model,
             "seed": 0, "train_frac": 1.0, "train_size": 60, "eval_set": "id_test", "n_eval": 8, "mae": 1.0,
             "rmse": 1.5, "r2": 0.5, "fit_seconds": 1.0, "predict_seconds": 0.1, "profile": "quick"}
            for model in ("xgb", "alignn")]
    scores = pd.DataFrame(rows)
    with_alignn = report.build_report(results.Results(Path("unused"), scores))
    assert report.ALIGNN_DIFFERENCES in with_alignn and "graph builder" in report.ALIGNN_DIFFERENCES.lower()
    without = report.build_report(results.Results(Path("unused"), scores[scores["model"] == "xgb"]))
    assert report.ALIGNN_DIFFERENCES not in without
