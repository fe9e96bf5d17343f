"""Shared fixtures: small real data from the embedded MP-2018 set, built once per test session.

The embedded table (47,483 real Materials Project 2018 entries) is built into the repository's
``data/`` folder (cached across runs, as a user would have it).  Experiments run on ``mp18_small``: a
seeded 1,500-entry sample registered as a user dataset in a session-scoped data folder, so that tests
exercise the real registration, featurization and loading paths on real compositions in seconds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lessdata import config
from lessdata.data import builders, datasets, user_tables

# Reports in tests need intervals, not their last digits: fewer resamples keep the suite fast
# (lessdata.analysis.summary.default_n_boot; the committed reports use the default).
os.environ.setdefault("LESSDATA_N_BOOT", "400")

SMALL_SIZE = 1500


@dataclass
class SmallData:
    """Arrays of a small real sample (for algorithm tests that need no registry)."""

    ids: np.ndarray
    formulas: np.ndarray
    X: np.ndarray
    y: dict[str, np.ndarray]
    feature_names: list[str]


@pytest.fixture(scope="session")
def mp18_table() -> pd.DataFrame:
    """The full embedded mp18_comp table (id index; formula, e_form, bandgap, megnet_split)."""
    return pd.read_parquet(builders.build_mp18_comp())


@pytest.fixture(scope="session")
def session_data_dir(tmp_path_factory: pytest.TempPathFactory, mp18_table: pd.DataFrame) -> Path:
    """A data folder holding the registered ``mp18_small`` dataset (real MP-2018 compositions)."""
    folder = tmp_path_factory.mktemp("data")
    sample = mp18_table.sample(SMALL_SIZE, random_state=0).reset_index()
    source = folder / "mp18_small.csv"
    sample.to_csv(source, index=False)
    previous = os.environ.get("LESSDATA_DATA_DIR")
    os.environ["LESSDATA_DATA_DIR"] = str(folder)
    try:
        user_tables.register_user_dataset(source, "mp18_small", id_col="id", formula_col="formula",
                                          targets=["e_form", "bandgap"], progress=False)
        datasets.load_dataset("mp18_small", "e_form", progress=False)  # featurize once, cached
    finally:
        if previous is None:
            del os.environ["LESSDATA_DATA_DIR"]
        else:
            os.environ["LESSDATA_DATA_DIR"] = previous
    return folder


@pytest.fixture()
def small_env(session_data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point lessdata at the session data folder (``--dataset mp18_small`` works) for one test."""
    monkeypatch.setenv("LESSDATA_DATA_DIR", str(session_data_dir))
    return session_data_dir


@pytest.fixture()
def mp18_small(small_env: Path) -> SmallData:
    """1,500 real MP-2018 entries: standardized 145 compositional features and both targets."""
    e_form = datasets.load_dataset("mp18_small", "e_form", progress=False)
    bandgap = datasets.load_dataset("mp18_small", "bandgap", progress=False)
    assert np.array_equal(e_form.ids, bandgap.ids)
    return SmallData(e_form.ids, e_form.formulas, e_form.X, {"e_form": e_form.y, "bandgap": bandgap.y},
                     e_form.feature_names)


@pytest.fixture()
def tmp_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data folder for tests that register or download datasets."""
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv("LESSDATA_DATA_DIR", str(folder))
    assert config.data_dir() == folder
    return folder
