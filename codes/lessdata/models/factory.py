"""Model factory: one call builds any model of the study from the hyperparameter table in config.

Tree models are the libraries' own estimators (XGBoost's ``XGBRegressor``, scikit-learn's
``RandomForestRegressor``); ALIGNN lives in :mod:`lessdata.models.alignn`.  Thread counts are set
here so that processes x threads never exceed the machine's cores.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

from sklearn.ensemble import RandomForestRegressor
from xgboost import XGBRegressor

from lessdata import config
from lessdata.errors import LessdataError

#: Models on feature vectors (the 145 or 273 matminer features).
TREE_MODELS = ("xgb", "rf", "xgb_ibug")
#: Models on crystal graphs, so only for datasets with structures.  ``alignn`` is the authors' training
#: (all rows, last epoch); ``alignn_es`` our early-stopping variant (10 % hold-out, best epoch), a
#: separate name so that both can share one results table.
STRUCTURE_MODELS = ("alignn", "alignn_es")
MODELS = (*TREE_MODELS, *STRUCTURE_MODELS)
#: The estimator class behind each model as (module, class): what :func:`make_model` builds, and what
#: a profile patch's hyperparameter names are checked against (``config``, without importing torch).
ESTIMATORS: dict[str, tuple[str, str]] = {
    "xgb": ("xgboost", "XGBRegressor"), "xgb_ibug": ("xgboost", "XGBRegressor"),
    "rf": ("sklearn.ensemble", "RandomForestRegressor"),
    "alignn": ("lessdata.models.alignn", "ALIGNNRegressor"),
    "alignn_es": ("lessdata.models.alignn", "ALIGNNRegressor")}


def available_cores() -> int:
    """Cores this process may use (respects CPU affinity, e.g. in containers and CI)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS / Windows
        return os.cpu_count() or 1


def threads_per_worker(n_workers: int) -> int:
    """Threads each of ``n_workers`` processes may use so that workers x threads <= cores."""
    return max(1, available_cores() // max(1, n_workers))


def cuda_available() -> bool:
    """True when torch sees a CUDA device (torch is imported lazily: it is slow to import)."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return bool(torch.cuda.is_available())


def resolve_device(device: str) -> str:
    """Map ``auto``/``cpu``/``cuda`` to the device that will really be used, warning on fallback."""
    if device not in ("auto", "cpu", "cuda"):
        raise LessdataError(f"unknown device {device!r}; choose auto, cpu or cuda")
    if device == "cpu":
        return "cpu"
    if cuda_available():
        return "cuda"
    if device == "cuda":
        warnings.warn("--device cuda requested but no CUDA device is visible; running on CPU",
                      RuntimeWarning, stacklevel=2)
    return "cpu"


def make_model(name: str, *, profile: str = "paper", n_threads: int = 1, random_state: int | None = None,
               device: str = "cpu", progress: bool = False, **overrides: Any):
    """Build an unfitted model of the study.

    Args:
        name: ``xgb``, ``rf``, ``xgb_ibug``, ``alignn`` or ``alignn_es``.
        profile: run profile whose hyperparameters to use (``paper`` or ``quick``).
        n_threads: threads for this one model (XGBoost ``n_jobs`` / RF ``n_jobs`` / torch threads).
        random_state: seed of the model's own randomness (default: 0 for trees; for ALIGNN the paper's
            123, with which the study trained every ALIGNN).
        device: ``cpu``, ``cuda`` or ``auto`` (XGBoost and ALIGNN only; RF is CPU-only).
        progress: per-epoch progress bar (ALIGNN only; off in worker processes).
        **overrides: hyperparameters that replace the profile's values.

    Returns:
        An estimator with scikit-learn's ``fit(X, y)`` / ``predict(X)``.
    """
    if name not in MODELS:
        raise LessdataError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    params = config.model_params(name, profile)
    params.update(overrides)
    if ESTIMATORS[name][1] == "XGBRegressor":
        return XGBRegressor(**params, device=resolve_device(device), n_jobs=n_threads,
                            random_state=0 if random_state is None else random_state)
    if ESTIMATORS[name][1] == "RandomForestRegressor":
        return RandomForestRegressor(**params, n_jobs=n_threads,
                                     random_state=0 if random_state is None else random_state)
    from lessdata.models.alignn import ALIGNNRegressor  # torch/alignn import only when asked for

    # Graphs are built once per structure and shared on disk by every worker and run.
    return ALIGNNRegressor(**params, device=resolve_device(device), n_threads=n_threads,
                           random_state=config.ALIGNN_SEED if random_state is None else random_state,
                           graph_cache_dir=config.data_dir() / ".cache", progress=progress)
