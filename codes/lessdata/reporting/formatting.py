"""How reports write numbers: decimals, shares of the pool, intervals, Markdown tables, method names.

The report's sections (:mod:`lessdata.reporting.report`), the benchmarks and the CLI print through these, so a
value reads the same wherever it appears.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from lessdata.analysis.summary import WITHIN
from lessdata.data.datasets import UNITS
from lessdata.reporting.styles import model_style
from lessdata.selection import registry as selectors


# --------------------------------------------------------------------------------------------------
# Formatting.
# --------------------------------------------------------------------------------------------------
def fmt_num(value: Any, digits: int = 3) -> str:
    """A number for a Markdown table: ``digits`` decimals, "—" for missing."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    return f"{float(value):.{digits}f}"



def fmt_pct(fraction: Any, digits: int = 1) -> str:
    """A fraction of the pool as a percentage ("12.3 %"), "—" for missing."""
    if fraction is None or not np.isfinite(fraction):
        return "—"
    return f"{100 * float(fraction):.{digits + 2}g} %"



def md_table(frame: pd.DataFrame) -> str:
    """A Markdown pipe table of already formatted values (``|`` in cells escaped)."""
    if frame.empty:
        return "_(no rows)_"

    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")
    header = "| " + " | ".join(cell(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])



def method_label(method: str, selector: str, model: str | None = None) -> str:
    """"random", "pruned (XGB-guided)", "QBC" ... for tables."""
    if method == "prune":
        guide = model_style(selector).label if selector else "?"
        transfer = " (transfer)" if model is not None and selector != model else ""
        return f"pruned, {guide}-guided{transfer}"
    return selectors.short_label(method)



def unit(target: str) -> str:
    """Unit of a target's RMSE ("eV/atom", "eV", or "target units")."""
    return UNITS.get(target, "target units")



def curve_label(curve: str, model: str) -> str:
    method, _, selector = curve.partition(":")
    return method_label(method, selector, model)



def fmt_interval(point: float, lo: float, hi: float, digits: int = 3) -> str:
    """``0.162 [0.150, 0.175]``; an infinite bound (never reached in some resamples) shows as "> max"."""
    if not np.isfinite(point) and not (np.isfinite(lo) or np.isfinite(hi)):
        return "—"
    return f"{fmt_num(point, digits)} [{fmt_num(lo, digits)}, {fmt_num(hi, digits)}]"



def fmt_p(p_value: Any) -> str:
    """A p-value as the report prints it: two significant digits, "< 0.001" below that; "" if unknown."""
    try:
        value = float(p_value)
    except (TypeError, ValueError):
        return ""
    if not np.isfinite(value):
        return ""
    return "< 0.001" if value < 0.001 else f"{value:.2g}"


def fmt_within(row: pd.Series, metric: str) -> str:
    """The smallest fraction within 10 % as ``35 % [28–45 %]``; "> X %" where it is not reached by the
    largest evaluated subset X in the point estimate (or in part of the resamples: upper bound "> X %")."""
    name = f"within{int(round(WITHIN * 100))}_{metric}"
    point, lo, hi = row[name], row[f"{name}_lo"], row[f"{name}_hi"]
    largest = fmt_pct(row["max_frac"]) if 0 < row["max_frac"] < 1 else "the largest subset"
    if not np.isfinite(point):
        return f"> {largest}"
    upper = fmt_pct(hi) if np.isfinite(hi) else f"> {largest}"
    return f"{fmt_pct(point)} [{fmt_pct(lo)}–{upper}]"
