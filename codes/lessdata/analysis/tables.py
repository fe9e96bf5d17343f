"""Numbers the report reads off a loaded results folder: which studies it holds, full-data rows, how far
each active-learning curve reached, run provenance and what choosing a training set cost.

No formatting here: :mod:`lessdata.reporting.report` and its sections turn these into Markdown.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lessdata import files as lio
from lessdata.analysis.intervals import full_data_rows
from lessdata.analysis.results import Results
from lessdata.experiments.store import StoreLayout
from lessdata.selection import registry as selectors


# --------------------------------------------------------------------------------------------------
# Sections.
# --------------------------------------------------------------------------------------------------
def pairs(results: Results) -> list[tuple[str, str]]:
    scores = results.scores
    return sorted(set(zip(scores["dataset"].astype(str), scores["target"].astype(str), strict=True)))



def latest_manifest_data(results: Results) -> dict[tuple[str, str], dict[str, Any]]:
    """The newest manifest's ``data`` block per (dataset, target)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for manifest in results.manifests:
        data = manifest.get("data") or {}
        if data.get("dataset") and data.get("target"):
            found[(str(data["dataset"]), str(data["target"]))] = data
    return found



def full_rows(scores: pd.DataFrame) -> pd.DataFrame:
    """Full-pool ID-test rows used for the full-data RMSE
    (:func:`lessdata.analysis.intervals.full_data_rows`)."""
    rows = scores[scores["eval_set"] == "id_test"]
    keep = [full_data_rows(group) for _, group in rows.groupby(["dataset", "target", "model"])]
    return pd.concat(keep) if keep else rows.iloc[:0]



def al_reach(scores: pd.DataFrame) -> dict[tuple[str, str, str], float]:
    """Largest training fraction of each (dataset, target, method) curve (where AL stopped)."""
    frame = scores[scores["eval_set"] == "id_test"]
    return {key: float(value) for key, value in
            frame.groupby(["dataset", "target", "method"])["train_frac"].max().items()}



#: Fraction of the OOD / ID ratio and of the cost columns in the comparison of selectors.
SELECTOR_SIZE = 0.25



def selection_cost(results: Results, dataset: str, target: str, method: str, model: str,
                   upto: float = SELECTOR_SIZE) -> tuple[float, float]:
    """(seconds, model fits) it takes to choose a method's training set of ``upto`` of the pool.

    Random: nothing.  Pruning: its rounds (one guide fit each).  A subset sampler: its stored seconds
    (mean over seeds), plus the pruning it reads.  Active learning: the query time and the fits of
    every step before ``upto`` (mean over seeds).
    """
    kind = selectors.kind_of(method)
    rounds = results.prune_rounds.get((dataset, target, model))
    prune_cost = ((float(rounds["seconds"].sum()), float(len(rounds))) if rounds is not None
                  else (float("nan"), float("nan")))
    if kind == "baseline":
        return 0.0, 0.0
    if kind == "pruning":
        return prune_cost
    if kind == "subset":
        layout = StoreLayout(results.folder)
        seconds = []
        for path in sorted(layout.selections_dir.glob(f"subset_{method}_*{dataset}_{target}_*.json")):
            saved = lio.read_json(path)
            if saved.get("method") == method:
                seconds.append(float(saved.get("seconds", float("nan"))))
        own = float(np.mean(seconds)) if seconds else float("nan")
        if selectors.get(method).needs_pruning:
            return own + prune_cost[0], prune_cost[1]
        return own, 0.0
    diagnostics = results.diagnostics
    if diagnostics.empty:
        return float("nan"), float("nan")
    steps = diagnostics[(diagnostics["dataset"] == dataset) & (diagnostics["target"] == target)
                        & (diagnostics["strategy"] == method) & (diagnostics["train_frac"] < upto - 1e-9)]
    if steps.empty:
        return float("nan"), float("nan")
    per_seed = steps.groupby("seed")
    seconds = per_seed[["query_seconds", "query_fit_seconds"]].sum().sum(axis=1).mean()
    models = max(1, len(selectors.models_of(method)))
    return float(seconds), float(per_seed.size().mean() * models)
