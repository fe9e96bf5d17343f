"""The reference numbers reports set beside ours: the paper's and those of the authors' code on our data.

They live in one data file, ``reference.toml`` next to this module (with where each number comes from);
this module only reads it into the shapes the reports look them up in.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from typing import Any

_TABLE: dict[str, Any] = tomllib.loads(
    resources.files("lessdata.analysis").joinpath("reference.toml").read_text(encoding="utf-8"))
_PAPER, _AUTHORS = _TABLE["paper"], _TABLE["authors"]


def _by_pair(table: dict[str, dict[str, Any]]) -> dict[tuple[str, str], Any]:
    """``{a: {b: value}}`` -> ``{(a, b): value}``, in the file's order."""
    return {(outer, inner): value for outer, values in table.items() for inner, value in values.items()}


#: Full-data ID-test RMSE per (paper dataset, target): model -> value (strings keep the paper's "~").
PAPER_FULL_RMSE: dict[tuple[str, str], dict[str, str]] = _by_pair(_PAPER["full_rmse"])
#: Smallest share of the pool within 10 % of the full-data RMSE, per (paper dataset, target).
PAPER_WITHIN_10: dict[tuple[str, str], dict[str, str]] = _by_pair(_PAPER["within_10"])
#: OOD RMSE / ID RMSE with the paper's version OOD sets.
PAPER_OOD_RATIO: dict[str, str] = dict(_PAPER["ood_ratio"])
#: The paper's active-learning result in one sentence.
PAPER_AL: str = _PAPER["active_learning"]

#: The authors' code on mp18_comp e_form: (curve, model) -> share of the pool -> ID-test RMSE.
AUTHORS_ON_MP18_COMP: dict[tuple[str, str], dict[float, float]] = {
    pair: {float(share): rmse for share, rmse in points.items()}
    for pair, points in _by_pair(_AUTHORS["curves"]).items()}
#: The same run's smallest shares within 10 % of the full-data RMSE, per (curve, model).
AUTHORS_WITHIN_10: dict[tuple[str, str], str] = _by_pair(_AUTHORS["within_10"])
#: Our curves' notes where the authors ran one AL seed.
AL_NOTES: dict[str, str] = dict.fromkeys(_AUTHORS["al_curves"], _AUTHORS["al_note"])
#: The same run's full-data errors per (model, metric).
AUTHORS_FULL: dict[tuple[str, str], float] = {(row["model"], row["metric"]): row["value"]
                                              for row in _AUTHORS["full"]}
#: Its XGB-guided pruning: threshold, rounds, retained shares of the first rounds, unused RMSE at 20 %.
AUTHORS_PRUNING: dict[str, Any] = {**_AUTHORS["pruning"], "retained": tuple(_AUTHORS["pruning"]["retained"])}
#: The same code on band gap: full-data XGB RMSE, rounds, smallest share within 10 %.
AUTHORS_BANDGAP: dict[str, Any] = dict(_AUTHORS["bandgap"])
#: Relative tolerance of the comparison with the authors' code.
ANCHOR_TOLERANCE: float = float(_AUTHORS["anchor_tolerance"])
