"""One source of truth for paths, hyperparameters and run profiles.

Every number of the study's protocol (Li et al., Nat Commun 14, 7283, 2023) lives here once.  Modules
import these tables; scripts never restate them.

Profiles
--------
``paper``
    The study's protocol: paper hyperparameters, the full training-size grid, 10 seeds for trees
    (5 for ALIGNN), pruning evaluated at every round, active learning in 1 % steps.
``quick``
    The paper's algorithms with lighter models and coarser grids, chosen by measurement
    (``benchmarks/bench_fidelity.py``) so that the conclusions agree with ``paper``.  Exactly how it
    departs from the paper: XGB 500 rounds x 4 parallel trees (paper 1000 x 4), 300 x 4 as the pruning
    guide; the XGB under IBUG 150 rounds (paper 1000); RF as in the paper (100 trees); random subsets
    at 12 sizes from 1 % to 100 % with 3 seeds for XGB and 2 for RF (paper 30 sizes, 10 seeds); pruning
    with the paper's 1 % floor, evaluated at the rounds nearest 9 fractions from 5 % to 70 % (paper:
    every round); active learning in the paper's 1 % steps up to 35 % (paper 50 %); ALIGNN 8 epochs of
    a smaller network (paper 50 epochs, hidden 256).  Absolute errors are somewhat higher than the
    paper profile's; the shape of the curves and the gaps between methods are what it keeps.
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import json
import os
from pathlib import Path
from typing import Any, TypedDict

import platformdirs

from lessdata.errors import LessdataError

#: Repository root when lessdata runs from a clone (``codes/lessdata/config.py`` -> two levels up from
#: ``codes``); see :func:`in_clone`.
REPO_ROOT = Path(__file__).resolve().parents[2]


def in_clone() -> bool:
    """Whether this ``lessdata`` is the source tree of a clone (editable install) or an installed copy.

    A clone keeps everything inside the repository (``data/``, ``results/``, ``figs/``).  An installed
    package must never write next to its own files (that is inside the Python environment, which may be
    read-only or shared): it keeps data and caches in the per-user cache folder and writes results and
    figures under the current folder.
    """
    return (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "codes" / "lessdata").is_dir()


def data_dir() -> Path:
    """Where datasets and caches live.

    ``LESSDATA_DATA_DIR`` wins; else ``<repo>/data`` in a clone and the per-user cache folder
    (``platformdirs.user_cache_path("lessdata") / "data"``, e.g. ``~/.cache/lessdata/data``) elsewhere.
    """
    if "LESSDATA_DATA_DIR" in os.environ:
        return Path(os.environ["LESSDATA_DATA_DIR"])
    return REPO_ROOT / "data" if in_clone() else platformdirs.user_cache_path("lessdata") / "data"


def results_dir() -> Path:
    """Default results folder: ``LESSDATA_RESULTS_DIR``, else ``<repo>/results`` or ``./results``."""
    if "LESSDATA_RESULTS_DIR" in os.environ:
        return Path(os.environ["LESSDATA_RESULTS_DIR"])
    return (REPO_ROOT if in_clone() else Path.cwd()) / "results"


def figs_dir() -> Path:
    """Default figures folder: ``LESSDATA_FIGS_DIR``, else ``<repo>/figs`` or ``./figs``."""
    if "LESSDATA_FIGS_DIR" in os.environ:
        return Path(os.environ["LESSDATA_FIGS_DIR"])
    return (REPO_ROOT if in_clone() else Path.cwd()) / "figs"


# --------------------------------------------------------------------------------------------------
# Hyperparameters of the paper's models (Li et al., Nat Commun 14, 7283, 2023, Methods).
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

#: XGB for instance-based uncertainty (IBUG, the XGB-U strategy), exactly the authors' setting: 1000
#: rounds of one tree, learning rate 0.25, lambda 0.01, alpha 0 and no row or column subsampling.  Written
#: out rather than derived from XGB_PARAMS, whose colsample_* would otherwise leak in.  One deterministic
#: tree per round also makes leaf co-membership a well-defined affinity (Brophy & Lowd, NeurIPS 2022).
XGB_IBUG_PARAMS: dict[str, Any] = {
    "n_estimators": 1000,
    "learning_rate": 0.25,
    "reg_lambda": 0.01,
    "reg_alpha": 0.0,
    "subsample": 1.0,
    "colsample_bytree": 1.0,
    "colsample_bylevel": 1.0,
    "num_parallel_tree": 1,
    "tree_method": "hist",
}

#: IBUG around that XGB for the ``xgb_u`` strategy, the authors' call: k = 100 neighbours, fixed (no k
#: search), no variance calibration, so no validation hold-out either (``val_fraction=0``): the neighbour
#: pool is every selected row.  Keyword arguments of :class:`lessdata.models.ibug.IBUGRegressor`.
IBUG_PARAMS: dict[str, Any] = {"k_grid": (100,), "calibrate": False, "val_fraction": 0.0}
#: Our tuned variant (strategy ``xgb_u_tuned``): k chosen from IBUGRegressor's default grid
#: (``lessdata.models.ibug.DEFAULT_K_GRID``) by the NLL on a seeded 20 % hold-out of the selected rows, then
#: the
#: scale calibrated (``gamma * scale + delta``) on that hold-out.
IBUG_TUNED_PARAMS: dict[str, Any] = {"calibrate": True, "val_fraction": 0.2}

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
    # The authors train on every row of the training set for all epochs and keep the last epoch.
    "validation_fraction": 0.0,
}
#: Our early-stopping variant, model ``alignn_es``: 10 % of each training set held out (seeded) to keep
#: the best-validation epoch, so a training fraction p really trains on 0.9 p.
ALIGNN_ES_PARAMS: dict[str, Any] = {**ALIGNN_PARAMS, "validation_fraction": 0.1}
#: The paper trains every ALIGNN with seed 123 (weights reset before each fit).
ALIGNN_SEED = 123

#: Model variants -> the model whose profile settings (overrides, seed counts) they share.
MODEL_VARIANT_OF: dict[str, str] = {"alignn_es": "alignn"}

# --------------------------------------------------------------------------------------------------
# Protocol: random baseline, pruning and active learning as in the paper.
# --------------------------------------------------------------------------------------------------
PAPER_SIZE_GRID: list[float] = (
    [round(0.001 * i, 3) for i in range(1, 10)]
    + [round(0.01 * i, 2) for i in range(1, 10)]
    + [0.10, 0.15, 0.20, 0.25]
    + [round(0.1 * i, 1) for i in range(3, 10)]
    + [1.0]
)

#: The paper's pruning rules (Methods): threshold = KAPPA x the full-data model's MAE; each round fits on
#: 80 % of the retained entries and removes from the other 20 % those predicted better than the threshold,
#: at least 1 % of the pool per round, until 300 remain (or 2,000 rounds).  The profiles take these.
PRUNE_RULES: dict[str, Any] = {"kappa": 0.5, "min_remove_frac": 0.01, "min_retained": 300, "max_rounds": 2000}
#: Held-out share of the retained set in every pruning round (the paper's 80/20 split).
PRUNE_ROUND_TEST_FRACTION = 0.2

ID_TEST_FRACTION = 0.1
ID_SPLIT_SEED = 0
E_FORM_MAX = 5.0  # eV/atom; entries above are dropped (paper's cleaning)

class PruneSettings(TypedDict, total=False):
    """A profile's pruning: the paper's rules (:data:`PRUNE_RULES`), which rounds to evaluate (``"rounds"``
    = every round, or a list of pool fractions), the guide's own hyperparameters and the threshold's
    source (``test`` or ``oof``; absent = ``test``)."""

    kappa: float
    min_remove_frac: float
    min_retained: int
    max_rounds: int
    eval: str | list[float]
    guide_overrides: dict[str, dict[str, Any]]
    threshold: str


class ALSettings(TypedDict):
    """A profile's active learning: initial set, batch and last step, as fractions of the pool."""

    init_frac: float
    step_frac: float
    stop_frac: float


class Profile(TypedDict):
    """One run profile: training-size grid, seeds per model, hyperparameter overrides per model,
    pruning and active learning."""

    size_grid: list[float]
    seeds: dict[str, int]
    model_overrides: dict[str, dict[str, Any]]
    prune: PruneSettings
    al: ALSettings


PROFILES: dict[str, Profile] = {
    "paper": {
        "size_grid": PAPER_SIZE_GRID,
        "seeds": {"xgb": 10, "rf": 10, "alignn": 5},
        "model_overrides": {},
        "prune": {**PRUNE_RULES, "eval": "rounds"},
        "al": {"init_frac": 0.01, "step_frac": 0.01, "stop_frac": 0.5},
    },
    "quick": {
        "size_grid": [0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.7, 1.0],
        "seeds": {"xgb": 3, "rf": 2, "alignn": 1},
        "model_overrides": {
            # The paper's XGB with 500 instead of 1000 rounds of 4 subsampled parallel trees: the same
            # full-data RMSE and a full-data MAE 3 % above it (300 x 4: 7 %, which moved the within-10 %
            # fractions on MAE by 8-10 points; one tree per round flattened the curve from 50 % on).
            "xgb": {"n_estimators": 500},
            "xgb_ibug": {"n_estimators": 150},
            # The paper's 100 trees, written out: QBC's committee and RF-U need the full forest (with
            # 40 trees and 2 % steps QBC/random at 20-30 % was 0.06 above the paper protocol's).
            "rf": {"n_estimators": 100},
            "alignn": {"epochs": 8, "hidden_features": 64, "embedding_features": 32, "batch_size": 16},
        },
        # The paper's 1 % removal floor (a coarser floor turns the late rounds into random thinning),
        # evaluated at the rounds nearest a dense grid between 5 % and 70 %.
        # The guiding XGB runs 300 rounds (its ~58 sequential fits are most of the pruning's time); the
        # pruned sets are evaluated with the 500-round XGB above.
        "prune": {**PRUNE_RULES, "eval": [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.7],
                  "guide_overrides": {"xgb": {"n_estimators": 300}}},
        # The paper's 1 % batches, up to 35 % (paper 50 %): QBC's advantage only shows from ~20 % on.
        "al": {"init_frac": 0.01, "step_frac": 0.01, "stop_frac": 0.35},
    },
}


#: Environment variable with a JSON patch of the profiles, e.g.
#: ``{"quick": {"al": {"step_frac": 0.01}, "model_overrides": {"rf": {"n_estimators": 100}}}}``: how
#: ``benchmarks/bench_fidelity.py`` measures a candidate profile without editing this file.  Worker
#: processes inherit it, and the settings hash (:func:`study_settings`) covers it, so a patched study
#: never shares a results folder with an unpatched one.
PROFILE_PATCH_ENV = "LESSDATA_PROFILE_PATCH"


def _merged(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``patch`` merged in, nested dicts key by key."""
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def profile_patch() -> dict[str, Any]:
    """The parsed :data:`PROFILE_PATCH_ENV` (empty when unset).

    Raises:
        ValueError: when it is not a JSON object of known profile names.
    """
    text = os.environ.get(PROFILE_PATCH_ENV, "").strip()
    if not text:
        return {}
    try:
        patch = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LessdataError(f"{PROFILE_PATCH_ENV} is not valid JSON ({exc}); unset it or fix it") from exc
    if not isinstance(patch, dict) or not set(patch) <= set(PROFILES):
        raise LessdataError(
            f"{PROFILE_PATCH_ENV} must be a JSON object keyed by profile names {sorted(PROFILES)}"
        )
    for name, changes in patch.items():
        _check_patch(PROFILES[name], changes, (name,))
    return patch


#: Keys a patch may set although a profile leaves them out (absent means the default): the pruning
#: threshold's source (``lessdata.selection.pruning.THRESHOLD_SOURCES``) and a guide's own hyperparameters.
OPTIONAL_PROFILE_KEYS = {("prune", "threshold"), ("prune", "guide_overrides")}
#: Profile keys whose entries are per-model hyperparameters (model name -> parameter -> value).
MODEL_KEYED = {("model_overrides",), ("prune", "guide_overrides")}


def _hyperparameters(model: str) -> set[str]:
    """Names a model's estimator takes (its ``get_params``) plus the ones the profiles set."""
    from lessdata.models.factory import ESTIMATORS  # noqa: PLC0415 - models imports this module

    module, name = ESTIMATORS[model]
    estimator = getattr(importlib.import_module(module), name)()
    return set(estimator.get_params()) | set(_MODEL_BASES[model]())


def _check_patch(base: Any, changes: Any, where: tuple[str, ...]) -> None:
    """Refuse, by its full name, any key of a patch that the profiles do not have (a misspelling would
    otherwise be merged silently and change nothing but the settings hash)."""
    if not isinstance(changes, dict):
        return
    inside = where[1:]
    if inside in MODEL_KEYED:
        for model, params in changes.items():
            known = _MODEL_BASES.get(model)
            if known is None:
                raise LessdataError(f"{PROFILE_PATCH_ENV}: unknown model {'.'.join((*where, model))!r}; "
                                    f"models: {', '.join(sorted(_MODEL_BASES))}")
            unknown = sorted(set(params) - _hyperparameters(model)) if isinstance(params, dict) else []
            if unknown:
                raise LessdataError(f"{PROFILE_PATCH_ENV}: unknown hyperparameter(s) {unknown} at "
                                    f"{'.'.join((*where, model))}; see {model}'s estimator for its names")
        return
    for key, value in changes.items():
        if (*inside, key) in OPTIONAL_PROFILE_KEYS:
            _check_patch({}, value, (*where, key))
            continue
        if not isinstance(base, dict) or key not in base:
            known_keys = ", ".join(sorted(base)) if isinstance(base, dict) else "none"
            raise LessdataError(f"{PROFILE_PATCH_ENV}: unknown key {'.'.join((*where, key))!r}; known "
                                f"keys there: {known_keys}")
        _check_patch(base[key], value, (*where, key))


def profile(name: str) -> Profile:
    """Return a deep copy of profile ``name`` (``quick`` or ``paper``), with any :data:`PROFILE_PATCH_ENV`.

    Raises:
        ValueError: for an unknown profile name or a malformed patch.
    """
    if name not in PROFILES:
        raise LessdataError(f"unknown profile {name!r}; choose one of {sorted(PROFILES)}")
    return _merged(PROFILES[name], profile_patch().get(name, {}))


#: Each model's paper hyperparameters (read at call time, as they are defined further up).
_MODEL_BASES = {"xgb": lambda: XGB_PARAMS, "xgb_ibug": lambda: XGB_IBUG_PARAMS, "rf": lambda: RF_PARAMS,
                "alignn": lambda: ALIGNN_PARAMS, "alignn_es": lambda: ALIGNN_ES_PARAMS}


def model_params(model: str, profile_name: str = "paper") -> dict[str, Any]:
    """Hyperparameters of ``model`` under a profile (paper values plus the profile's overrides).

    A variant (:data:`MODEL_VARIANT_OF`) takes its base model's overrides first, then its own, so that
    e.g. ``alignn_es`` under ``quick`` is the quick ALIGNN with early stopping.
    """
    if model not in _MODEL_BASES:
        raise LessdataError(f"unknown model {model!r}; choose one of {sorted(_MODEL_BASES)}")
    params = dict(_MODEL_BASES[model]())
    overrides = profile(profile_name)["model_overrides"]
    for name in dict.fromkeys((MODEL_VARIANT_OF.get(model, model), model)):
        params.update(overrides.get(name, {}))
    return params


def study_settings(profile_name: str) -> dict[str, Any]:
    """What makes rows of one results folder comparable: the profile and a hash of every setting in it.

    The hash covers the profile's grids, seeds, pruning and AL settings and the hyperparameters of
    every model under it, so changing any of them (or a default in this file) starts a new study.
    """
    settings = profile(profile_name)
    models = {name: model_params(name, profile_name) for name in ("xgb", "xgb_ibug", "rf", "alignn")}
    models["ibug"] = {"xgb_u": IBUG_PARAMS, "xgb_u_tuned": IBUG_TUNED_PARAMS}
    text = json.dumps({"profile": settings, "models": models}, sort_keys=True, default=str)
    return {"profile": profile_name, "settings_sha256": hashlib.sha256(text.encode()).hexdigest()}
