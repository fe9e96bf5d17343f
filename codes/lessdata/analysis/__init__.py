"""From a results folder to numbers: paired bootstrap intervals, summaries, reference numbers.

:func:`summarize` and :func:`interval_summary` (from :mod:`lessdata.analysis.summary`) are the two
entry points a report names; they load on first use, so ``lessdata.analysis.intervals`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {"summarize": "lessdata.analysis.summary", "interval_summary": "lessdata.analysis.summary"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'lessdata.analysis' has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name]), name)
