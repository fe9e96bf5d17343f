"""lessdata: measure and exploit redundancy in large materials datasets.

From Python, start with :func:`lessdata.prune`, :func:`lessdata.random_subsets` and
:func:`lessdata.active_learning` (:mod:`lessdata.api`); from the shell, with the ``lessdata`` command
(:mod:`lessdata.cli.console`).  Public names load on first use.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (it is most of this module's cost)

__version__ = "0.1.0"

#: Public name -> module that defines it (imported when the name is first looked up).
_LAZY = {
    "active_learning": "lessdata.api",
    "ActiveLearningResult": "lessdata.api",
    "prune": "lessdata.api",
    "random_subsets": "lessdata.api",
    "PruningResult": "lessdata.selection.pruning",
    "IBUGRegressor": "lessdata.models.ibug",
    "metrics": "lessdata.evaluation.metrics",
    "ResultsStore": "lessdata.experiments.store",
    "StoreLayout": "lessdata.experiments.store",
}

__all__ = ["ActiveLearningResult", "IBUGRegressor", "PruningResult", "ResultsStore", "StoreLayout",
           "__version__", "active_learning", "metrics", "prune", "random_subsets"]

if TYPE_CHECKING:  # static analysers and IDEs see the real objects
    from typing import Any

    from lessdata.api import ActiveLearningResult, active_learning, prune, random_subsets
    from lessdata.evaluation.metrics import metrics
    from lessdata.experiments.store import ResultsStore, StoreLayout
    from lessdata.models.ibug import IBUGRegressor
    from lessdata.selection.pruning import PruningResult


def __getattr__(name: str) -> Any:
    """Import a public name's module on first access and cache the name in the package."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lessdata' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
