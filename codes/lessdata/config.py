"""One source of truth for paths, hyperparameters and run profiles.

Every number of the study's protocol (Li et al., Nat Commun 14, 7283, 2023; see ``shared/PAPER.md``)
lives here once.  Modules import these tables; scripts never restate them.

Profiles
--------
``paper``
    The study's protocol: paper hyperparameters, the full training-size grid, 10 seeds for trees
    (5 for ALIGNN), pruning evaluated at every round, active learning in 1 % steps.
``quick``
    The same protocol on a coarser grid, fewer seeds and lighter tree ensembles, sized so that the
    whole study on the embedded 47k-entry dataset runs in minutes on two cores.  The *algorithms* are
    identical; only grid density, seed count and ensemble sizes shrink.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

#: Repository root (``codes/lessdata/config.py`` -> two levels up from ``codes``).
REPO_ROOT = Path(__file__).resolve().parents[2]


def data_dir() -> Path:
    """Where datasets and caches live; ``LESSDATA_DATA_DIR`` overrides ``<repo>/data``."""
    return Path(os.environ.get("LESSDATA_DATA_DIR", REPO_ROOT / "data"))


def results_dir() -> Path:
    """Default results folder; ``LESSDATA_RESULTS_DIR`` overrides ``<repo>/results``."""
    return Path(os.environ.get("LESSDATA_RESULTS_DIR", REPO_ROOT / "results"))


def figs_dir() -> Path:
    """Default figures folder (``<repo>/figs``)."""
    return Path(os.environ.get("LESSDATA_FIGS_DIR", REPO_ROOT / "figs"))


# --------------------------------------------------------------------------------------------------
# Hyperparameters (PAPER.md "Models").
# --------------------------------------------------------------------------------------------------
XGB_PARAMS: dict[str, Any] = {
    "n_estimators": 1000,
    "learning_rate": 0.25,
    "reg_lambda": 0.01,
    "reg_alpha": 0.1,
    "subsample": 0.85,
    "colsample_bytree": 0.3,
    "colsample_bylevel": 0.5,
    "num_parallel_tree": 4,
    "tree_method": "hist",
}

#: XGB for instance-based uncertainty (IBUG): one tree per round, no L1 penalty and no row subsampling,
#: so that leaf co-membership is a well-defined affinity (Brophy & Lowd, NeurIPS 2022).
XGB_IBUG_PARAMS: dict[str, Any] = {
    **XGB_PARAMS,
    "num_parallel_tree": 1,
    "reg_alpha": 0.0,
    "subsample": 1.0,
    "scale_pos_weight": 1.0,
}

RF_PARAMS: dict[str, Any] = {"n_estimators": 100, "max_features": 1 / 3}

ALIGNN_PARAMS: dict[str, Any] = {
    "epochs": 50,
    "batch_size": 32,
    "learning_rate": 1e-3,
    "weight_decay": 1e-5,
    "alignn_layers": 2,
    "gcn_layers": 2,
    "hidden_features": 256,
    "embedding_features": 64,
    "cutoff": 8.0,
    "max_neighbors": 12,
}
#: The paper trains every ALIGNN with seed 123 (weights reset before each fit).
ALIGNN_SEED = 123

# --------------------------------------------------------------------------------------------------
# Protocol (PAPER.md "Random baseline", "Pruning algorithm", "Active learning").
# --------------------------------------------------------------------------------------------------
PAPER_SIZE_GRID: list[float] = (
    [round(0.001 * i, 3) for i in range(1, 10)]
    + [round(0.01 * i, 2) for i in range(1, 10)]
    + [0.10, 0.15, 0.20, 0.25]
    + [round(0.1 * i, 1) for i in range(3, 10)]
    + [1.0]
)

ID_TEST_FRACTION = 0.1
ID_SPLIT_SEED = 0
E_FORM_MAX = 5.0  # eV/atom; entries above are dropped (paper's cleaning)

PROFILES: dict[str, dict[str, Any]] = {
    "paper": {
        "size_grid": PAPER_SIZE_GRID,
        "seeds": {"xgb": 10, "rf": 10, "alignn": 5},
        "model_overrides": {},
        "prune": {"kappa": 0.5, "min_remove_frac": 0.01, "min_retained": 300, "max_rounds": 2000,
                  "eval": "rounds"},
        "al": {"init_frac": 0.01, "step_frac": 0.01, "stop_frac": 0.5},
    },
    "quick": {
        "size_grid": [0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0],
        "seeds": {"xgb": 2, "rf": 2, "alignn": 1},
        "model_overrides": {
            "xgb": {"n_estimators": 150, "num_parallel_tree": 1, "learning_rate": 0.25},
            "xgb_ibug": {"n_estimators": 150, "learning_rate": 0.25},
            "rf": {"n_estimators": 40},
            "alignn": {"epochs": 8, "hidden_features": 64, "embedding_features": 32, "batch_size": 16},
        },
        "prune": {"kappa": 0.5, "min_remove_frac": 0.05, "min_retained": 300, "max_rounds": 2000,
                  "eval": [0.05, 0.1, 0.2, 0.3, 0.5, 0.7]},
        "al": {"init_frac": 0.01, "step_frac": 0.02, "stop_frac": 0.21},
    },
}


def profile(name: str) -> dict[str, Any]:
    """Return a deep copy of profile ``name`` (``quick`` or ``paper``).

    Raises:
        ValueError: for an unknown profile name.
    """
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose one of {sorted(PROFILES)}")
    return copy.deepcopy(PROFILES[name])


def model_params(model: str, profile_name: str = "paper") -> dict[str, Any]:
    """Hyperparameters of ``model`` under a profile (paper values plus the profile's overrides)."""
    base = {"xgb": XGB_PARAMS, "xgb_ibug": XGB_IBUG_PARAMS, "rf": RF_PARAMS, "alignn": ALIGNN_PARAMS}
    if model not in base:
        raise ValueError(f"unknown model {model!r}; choose one of {sorted(base)}")
    params = dict(base[model])
    params.update(profile(profile_name)["model_overrides"].get(model, {}))
    return params
