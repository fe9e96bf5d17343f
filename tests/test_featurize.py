"""Tests of lessdata.features.featurize on real data: MP formulas and crystal structures shipped by our
dependencies.

Formulas come from matminer's own copy of the Materials Project transport database; structures from
the COD mineral CIFs in ase's test data and from ase's textbook crystals.  Nothing is mocked: every
feature value here is computed by matminer.  Structures cost about a second each, so the structure
tests share one small batch.
"""

from __future__ import annotations

import json
import logging
import math
import tarfile
from pathlib import Path

import ase
import matminer
import numpy as np
import pandas as pd
import pytest
from ase.build import bulk
from jarvis.core.atoms import Atoms
from pymatgen.core import Lattice, Structure
from pymatgen.io.ase import AseAtomsAdaptor
from pymatgen.io.vasp import Poscar

from lessdata.data import structures
from lessdata.features import featurize

DATA = Path(__file__).parent / "data"
MINERALS = Path(ase.__file__).parent / "test" / "testdata" / "minerals"
TRANSPORT_DB = Path(matminer.__file__).parent / "utils/data_files/mp_transport/transport_database.tar.xz"
#: pymatgen notes, on a real COD file, that it snapped coordinates to ideal values: expected, harmless.
CIF_ROUNDING = "ignore:Issues encountered while parsing CIF:UserWarning"


# --------------------------------------------------------------------------------------------------
# Real inputs
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mp_formulas() -> list[str]:
    """40 real Materials Project formulas (the first rows of matminer's transport database)."""
    with tarfile.open(TRANSPORT_DB) as archive:
        table = pd.read_csv(archive.extractfile("transport_database.csv"), usecols=["pretty_formula"])
    return table["pretty_formula"].iloc[:40].tolist()


def ase_structure(*args: object, **kwargs: object) -> Structure:
    return AseAtomsAdaptor.get_structure(bulk(*args, **kwargs))


@pytest.fixture(scope="module")
def nacl() -> Structure:
    return ase_structure("NaCl", "rocksalt", a=5.64)


@pytest.fixture(scope="module")
def nisb_cif() -> str:
    """COD 1010930, NiSb (4 sites)."""
    return (MINERALS / "cod_1010930.cif").read_text()


@pytest.fixture(scope="module")
def structure_batch(nacl: Structure, nisb_cif: str) -> tuple[list[object], featurize.FeaturizationResult]:
    """One featurized batch shared by the structure tests (each distinct structure costs ~1 s)."""
    copper = ase_structure("Cu", "fcc", a=3.61)
    unwrapped = nacl.copy()
    unwrapped.translate_sites([1], [-1.0, 0.0, 2.0], frac_coords=True, to_unit_cell=False)
    overlapping = Structure(Lattice.cubic(3.0), ["Fe", "Fe"], [[0, 0, 0], [0, 0, 0]])
    inputs: list[object] = [nacl, copper, nisb_cif, unwrapped, overlapping, "not a structure", nacl.as_dict()]
    return inputs, featurize.featurize_structures(inputs, progress=False)


# --------------------------------------------------------------------------------------------------
# Feature sets
# --------------------------------------------------------------------------------------------------
def test_feature_counts_and_order() -> None:
    composition = featurize.composition_feature_labels()
    structural = featurize.structure_feature_labels()
    both = featurize.structure_and_composition_feature_labels()
    assert len(composition) == featurize.COMPOSITION_FEATURE_COUNT == 145
    assert len(structural) == featurize.STRUCTURE_FEATURE_COUNT == 128
    assert len(both) == featurize.STRUCTURE_AND_COMPOSITION_FEATURE_COUNT == 273
    assert both == structural + composition  # the paper's pickles: structural columns first
    assert len(set(both)) == 273


def test_labels_are_stable() -> None:
    """The labels recorded in tests/data match matminer's: a silent change would shift columns."""
    recorded = json.loads((DATA / "featurize_labels.json").read_text())
    assert featurize.structure_feature_labels() == recorded["structural"]
    assert featurize.composition_feature_labels() == recorded["compositional"]


# --------------------------------------------------------------------------------------------------
# Compositions
# --------------------------------------------------------------------------------------------------
def test_known_composition_values() -> None:
    result = featurize.featurize_compositions(["Fe2O3", "Cu"], progress=False)
    fe2o3, copper = result.features.iloc[0], result.features.iloc[1]
    assert fe2o3["0-norm"] == 2  # two elements
    assert fe2o3["2-norm"] == pytest.approx(math.hypot(0.4, 0.6))
    assert fe2o3["MagpieData minimum Number"] == 8
    assert fe2o3["MagpieData maximum Number"] == 26
    assert fe2o3["MagpieData mean Number"] == pytest.approx(0.4 * 26 + 0.6 * 8)
    assert fe2o3["compound possible"] == 1.0  # Fe3+ / O2- balance
    assert copper["0-norm"] == 1 and copper["max ionic char"] == 0
    assert result.failures.empty and not result.from_cache


def test_batch_records_failures_and_deduplicates(
    mp_formulas: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    formulas = [*mp_formulas, mp_formulas[0], "Xx2O", "", "Fe2O3)", "Fe2O3", "O3Fe2"]
    with caplog.at_level(logging.INFO, logger="lessdata.features.featurize"):
        result = featurize.featurize_compositions(formulas, progress=False)
    features = result.features
    assert features.shape == (len(formulas), 145)
    assert (features.dtypes == np.float64).all()
    assert features.index.equals(pd.RangeIndex(len(formulas)))

    n = len(mp_formulas)
    assert result.failures["row"].tolist() == [n + 1, n + 2, n + 3]
    assert result.failures["input"].tolist() == ["Xx2O", "", "Fe2O3)"]
    errors = result.failures["error"].tolist()
    assert "unknown element" in errors[0] and "Xx" in errors[0]
    assert "empty formula" in errors[1]
    assert "cannot parse formula 'Fe2O3)'" in errors[2]
    assert features.iloc[n + 1:n + 4].isna().all().all()
    assert features.drop(index=[n + 1, n + 2, n + 3]).notna().all().all()

    # Duplicates (same string, or the same composition written differently) are computed once.
    pd.testing.assert_series_equal(features.iloc[n], features.iloc[0], check_names=False)
    pd.testing.assert_series_equal(features.iloc[n + 4], features.iloc[n + 5], check_names=False)
    distinct = len({*mp_formulas, "Fe2O3"})
    assert f"{distinct} distinct of {n + 3} inputs" in caplog.text


def test_cache_reuse(tmp_path: Path, mp_formulas: list[str]) -> None:
    formulas = [*mp_formulas[:10], "Xx2O"]
    first = featurize.featurize_compositions(formulas, cache_dir=tmp_path, progress=False)
    second = featurize.featurize_compositions(formulas, cache_dir=tmp_path, progress=False)
    assert not first.from_cache and second.from_cache
    pd.testing.assert_frame_equal(first.features, second.features)
    pd.testing.assert_frame_equal(first.failures, second.failures)
    files = list(tmp_path.glob("*.parquet"))
    assert len(files) == 1 and not list(tmp_path.glob("*.tmp"))

    # Other inputs (here: another order) get their own file; an unreadable file is recomputed.
    reordered = featurize.featurize_compositions(formulas[::-1], cache_dir=tmp_path, progress=False)
    assert not reordered.from_cache and len(list(tmp_path.glob("*.parquet"))) == 2
    files[0].write_bytes(b"not parquet")
    again = featurize.featurize_compositions(formulas, cache_dir=tmp_path, progress=False)
    assert not again.from_cache
    pd.testing.assert_frame_equal(first.features, again.features)


def test_parallel_matches_serial(mp_formulas: list[str]) -> None:
    serial = featurize.featurize_compositions(mp_formulas[:24], progress=False, n_jobs=1)
    parallel = featurize.featurize_compositions(mp_formulas[:24], progress=False, n_jobs=2)
    pd.testing.assert_frame_equal(serial.features, parallel.features)
    with pytest.raises(ValueError, match="n_jobs"):
        featurize.featurize_compositions(["Cu"], progress=False, n_jobs=0)


def test_infinite_values_become_nan() -> None:
    frame = featurize._feature_frame(np.array([[1.0, np.inf], [-np.inf, 2.0]]), ["a", "b"])
    assert frame.isna().to_numpy().tolist() == [[False, True], [True, False]]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Xx2O", "'Xx2O' contains unknown element symbol(s): Xx"),
        ("", "empty formula ''"),
        ("   ", "empty formula"),
        ("Fe2O3)", "cannot parse formula 'Fe2O3)'"),
        ("fe2o3", "cannot parse formula 'fe2o3'"),
        ("Fe0", "'Fe0' contains no atoms"),
        (float("nan"), "missing value"),
        (None, "missing value"),
        (12, "formula must be text, got int"),
    ],
)
def test_parse_formula_errors(text: object, message: str) -> None:
    with pytest.raises(ValueError, match=None) as caught:
        structures.parse_formula(text)  # type: ignore[arg-type]
    assert message in str(caught.value)


def test_parse_formula_good() -> None:
    assert structures.parse_formula(" Ca(OH)2 ").formula == "Ca1 H2 O2"
    assert structures.parse_formula("Li0.5CoO2").num_atoms == pytest.approx(3.5)


# --------------------------------------------------------------------------------------------------
# Structures
# --------------------------------------------------------------------------------------------------
@pytest.mark.filterwarnings(CIF_ROUNDING)
def test_structure_batch(structure_batch: tuple[list[object], featurize.FeaturizationResult]) -> None:
    inputs, result = structure_batch
    features = result.features
    assert features.shape == (len(inputs), 273)
    assert list(features.columns) == featurize.structure_and_composition_feature_labels()
    assert (features.dtypes == np.float64).all()

    nacl_row, copper_row = features.iloc[0], features.iloc[1]
    assert nacl_row["minimum CN_VoronoiNN"] == pytest.approx(6)  # rocksalt: octahedral
    assert copper_row["mean CN_VoronoiNN"] == pytest.approx(12)  # fcc
    assert copper_row["max packing efficiency"] == pytest.approx(math.pi / (3 * math.sqrt(2)), rel=1e-3)
    assert nacl_row["0-norm"] == 2 and nacl_row["compound possible"] == 1
    assert features.iloc[2].notna().all()  # the NiSb CIF

    # Sites outside the cell are wrapped; a pymatgen dict is the same structure.
    pd.testing.assert_series_equal(features.iloc[3], nacl_row, check_names=False)
    pd.testing.assert_series_equal(features.iloc[6], nacl_row, check_names=False)

    # Failures are recorded, not raised: two atoms on one site, and text that is no structure.
    assert result.failures["row"].tolist() == [4, 5]
    overlap_error, parse_error = result.failures["error"]
    assert "SiteStatsFingerprint(CoordinationNumber): ValueError: No Voronoi neighbors" in overlap_error
    assert result.failures["input"].iloc[0] == "Fe"
    assert parse_error.startswith("parse: POSCAR text")
    structural = featurize.structure_feature_labels()
    assert features.loc[4, structural[:5]].isna().all()  # Voronoi-based columns failed ...
    assert features.loc[4, featurize.composition_feature_labels()].notna().all()  # ... composition did not
    assert features.iloc[5].isna().all()


def test_structure_cache(tmp_path: Path, nacl: Structure) -> None:
    inputs = [nacl, ase_structure("Si", "diamond", a=5.43)]
    first = featurize.featurize_structures(inputs, cache_dir=tmp_path, progress=False)
    second = featurize.featurize_structures(inputs, cache_dir=tmp_path, progress=False)
    assert second.from_cache and not first.from_cache
    pd.testing.assert_frame_equal(first.features, second.features)


def test_oxidation_states_are_stripped_for_features(nacl: Structure) -> None:
    decorated = nacl.copy()
    decorated.add_oxidation_state_by_element({"Na": 1, "Cl": -1})
    result = featurize.featurize_structures([decorated, nacl], progress=False)
    pd.testing.assert_series_equal(result.features.iloc[0], result.features.iloc[1], check_names=False)


# --------------------------------------------------------------------------------------------------
# Structure parsing, one test per format, good and bad
# --------------------------------------------------------------------------------------------------
def assert_same_structure(left: Structure, right: Structure) -> None:
    assert [str(site.specie) for site in left] == [str(site.specie) for site in right]
    np.testing.assert_allclose(left.lattice.matrix, right.lattice.matrix, atol=1e-6)
    np.testing.assert_allclose(left.frac_coords, right.frac_coords, atol=1e-6)


@pytest.mark.filterwarnings(CIF_ROUNDING)
def test_parse_cif(nisb_cif: str) -> None:
    structure = structures.parse_structure(nisb_cif)
    assert structure.composition.reduced_formula == "NiSb" and len(structure) == 4
    cell_only = "data_cell_only\n_cell_length_a 5.0\n"  # a CIF block without atoms
    with pytest.raises(ValueError, match="CIF text: pymatgen could not read it") as caught:
        structures.parse_structure(cell_only)
    assert "_atom_site_label" in str(caught.value)  # pymatgen's own diagnosis is kept


def test_parse_poscar(nacl: Structure) -> None:
    text = Poscar(nacl).get_str()
    assert_same_structure(structures.parse_structure(text), structures.parse_structure(nacl))
    truncated = "\n".join(text.splitlines()[:6])
    with pytest.raises(ValueError, match="POSCAR text .*pymatgen could not read it"):
        structures.parse_structure(truncated)


def test_parse_pymatgen_dict_and_json(nacl: Structure) -> None:
    wrapped = structures.parse_structure(nacl)
    assert_same_structure(structures.parse_structure(nacl.as_dict()), wrapped)
    assert_same_structure(structures.parse_structure(nacl.to_json()), wrapped)
    broken = nacl.as_dict()
    del broken["sites"][0]["species"]
    with pytest.raises(ValueError, match=r"pymatgen Structure dict \(dict\): pymatgen could not read it"):
        structures.parse_structure(broken)
    with pytest.raises(ValueError, match=r"pymatgen Structure dict \(JSON text\)"):
        structures.parse_structure(json.dumps(broken))
    with pytest.raises(ValueError, match="JSON text: not valid JSON"):
        structures.parse_structure(nacl.to_json()[:-5])
    with pytest.raises(ValueError, match="'@class' is 'Molecule'"):
        structures.parse_structure({**nacl.as_dict(), "@class": "Molecule"})
    with pytest.raises(ValueError, match="got keys \\['formula'\\]"):
        structures.parse_structure({"formula": "NaCl"})


def test_parse_jarvis_dict(nacl: Structure) -> None:
    """jarvis-tools' own dict; the result must match jarvis' converter, wrapped into the cell."""
    atoms = Atoms(lattice_mat=nacl.lattice.matrix, coords=nacl.cart_coords,
                  elements=[site.specie.symbol for site in nacl], cartesian=True)
    data = atoms.to_dict()
    reference = atoms.pymatgen_converter()
    assert reference.frac_coords.min() < 0  # jarvis leaves Cl at -0.5: the reason to wrap
    parsed = structures.parse_structure(data)
    assert parsed.frac_coords.min() >= 0 and parsed.frac_coords.max() < 1
    assert structures.structure_hash(parsed) == structures.structure_hash(reference)
    assert_same_structure(structures.parse_structure(json.dumps(data, default=float)), parsed)

    with pytest.raises(ValueError, match=r"jarvis Atoms dict \(dict\): 'coords' must be 2x3"):
        structures.parse_structure({**data, "coords": data["coords"][:1]})
    with pytest.raises(ValueError, match="'cartesian' is missing"):
        structures.parse_structure({key: value for key, value in data.items() if key != "cartesian"})
    with pytest.raises(ValueError, match="unknown element symbol"):
        structures.parse_structure({**data, "elements": ["Na", "Xx"]})


def test_parse_structure_rejections(nacl: Structure) -> None:
    disordered = Structure(Lattice.cubic(3.0), [{"Fe": 0.5, "Ni": 0.5}], [[0, 0, 0]])
    with pytest.raises(ValueError, match="pymatgen Structure: the structure is disordered"):
        structures.parse_structure(disordered)
    with pytest.raises(ValueError, match="empty structure text"):
        structures.parse_structure("  ")
    with pytest.raises(ValueError, match="missing structure"):
        structures.parse_structure(float("nan"))
    with pytest.raises(ValueError, match="unsupported structure input of type int"):
        structures.parse_structure(3)
    original = nacl.frac_coords.copy()
    structures.parse_structure(nacl)
    np.testing.assert_array_equal(nacl.frac_coords, original)  # the input is not modified


def test_structure_hash(nacl: Structure) -> None:
    simple = Structure(Lattice.cubic(3.0), ["Cu"], [[0.0, 0.0, 0.0]])
    # Pinned value: a change means every feature and graph cache would be silently invalidated.
    assert structures.structure_hash(simple) == (
        "bb02a5254d461618f4f966dc3e24f1d7fc5432bb9d8d0b4b87f559ee4ce0f0bc"
    )
    shifted = Structure(Lattice.cubic(3.0), ["Cu"], [[1.0, -1.0, 2.0]])
    assert structures.structure_hash(shifted) == structures.structure_hash(simple)
    moved = Structure(Lattice.cubic(3.0), ["Cu"], [[0.01, 0.0, 0.0]])
    assert structures.structure_hash(moved) != structures.structure_hash(simple)
    assert structures.structure_hash(Structure.from_dict(nacl.as_dict())) == structures.structure_hash(nacl)
