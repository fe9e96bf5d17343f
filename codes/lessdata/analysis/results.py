"""A results folder read once, with what its report and figures need computed: the scores, the
pruning tables, the run manifests, the headline intervals and every curve's bands.

The figures (:mod:`lessdata.reporting.figures`) draw these tables and the report
(:mod:`lessdata.reporting.report`) words
them; neither reads files or resamples anything itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from lessdata import files as lio
from lessdata.analysis.summary import curve_intervals, interval_summary, study_bootstraps
from lessdata.errors import LessdataError, MissingInputError
from lessdata.experiments.store import DEFAULT_SPLIT, KEY_COLUMNS, StoreLayout, sound_rows

# --------------------------------------------------------------------------------------------------
# Results folder.
# --------------------------------------------------------------------------------------------------
#: Tables written by the pruning study into ``OUT/redundancy/``.
REDUNDANCY_TABLES = ("crystal_systems", "family_size", "spacegroups", "n_elements", "elements", "formulas",
                     "summary", "entries")



#: Columns ``scores.csv`` must have for the figures (``split`` may be missing in folders older than it).
SCORE_TABLE_COLUMNS = (*(column for column in KEY_COLUMNS if column != "split"), "eval_set", "rmse")



@dataclass
class Results:
    """Everything the figures and the report read from one results folder.

    Attributes:
        folder: the results folder.
        scores: ``scores.csv`` in the long format (empty frame when absent).
        diagnostics: ``al_diagnostics.csv`` (empty when no active learning has run).
        coverage: all ``coverage_*.csv`` tables, concatenated.
        redundancy: ``{(dataset, target, guide): {table name: frame}}`` from ``redundancy/``, plus
            ``family_size_binned`` (:func:`bin_family_sizes`) where the family sizes were recorded.
        prune_rounds: ``{(dataset, target, guide): frame}`` from ``prune_rounds_*.csv``.
        manifests: the run manifests (``manifests/*.json``), oldest first, each with its ``file``.
        intervals: the headline numbers with paired-bootstrap intervals
            (:func:`lessdata.analysis.summary.interval_summary`), None when no predictions are stored.
        bands: every curve's 95 % RMSE interval per fraction
        (:func:`lessdata.analysis.summary.curve_intervals`).
        bootstraps: the paired bootstraps behind both, one per (dataset, target, model).
    """

    folder: Path
    scores: pd.DataFrame
    diagnostics: pd.DataFrame = field(default_factory=pd.DataFrame)
    coverage: pd.DataFrame = field(default_factory=pd.DataFrame)
    redundancy: dict[tuple[str, str, str], dict[str, pd.DataFrame]] = field(default_factory=dict)
    prune_rounds: dict[tuple[str, str, str], pd.DataFrame] = field(default_factory=dict)
    manifests: list[dict[str, Any]] = field(default_factory=list)
    intervals: pd.DataFrame | None = None
    bands: pd.DataFrame = field(default_factory=pd.DataFrame)
    bootstraps: list[tuple[str, str, str, Any]] = field(default_factory=list)



def _read_table(path: Path) -> pd.DataFrame:
    """Read a results CSV the way the results store writes it (empty selector = random, not NaN)."""
    return lio.read_results_csv(path, [])



def load_results(folder: str | Path) -> Results:
    """Read every table of a results folder that the figures and the report use.

    Paths come from :class:`lessdata.experiments.store.StoreLayout`; the pruning tables are looked up for each
    (dataset, target, split, guide) that has pruned rows in ``scores.csv``, showing a folder's first
    split (sorted label) where there are several.

    Raises:
        MissingInputError: when the folder or its ``scores.csv`` does not exist (nothing to plot).
        LessdataError: a table of the folder is damaged, or ``scores.csv`` lacks the store's columns.
    """
    layout = StoreLayout(folder)
    folder = layout.root
    if not layout.scores.is_file():
        raise MissingInputError(
            f"no results in {folder}: {layout.scores} does not exist; run e.g. `python "
            f"codes/random_baseline.py --out {folder}` (and prune_data.py, run_al.py) first")
    # The store's own check: a damaged row (a file cut short) is named and left out with its cell.
    scores = sound_rows(_read_table(layout.scores), layout.scores, "left out of the figures and the report")
    lacking = [column for column in SCORE_TABLE_COLUMNS if column not in scores.columns]
    if lacking:
        raise LessdataError(f"{layout.scores} is not a lessdata scores table: it lacks the column(s) "
                            f"{', '.join(lacking)}; point --results at a folder the scripts wrote")
    diagnostics = _read_table(layout.al_diagnostics) if layout.al_diagnostics.is_file() else pd.DataFrame()
    coverage_files = layout.coverage_files()
    coverage = (pd.concat([lio.read_csv(p) for p in coverage_files], ignore_index=True) if coverage_files
                else pd.DataFrame())
    manifests = []
    for path in layout.manifests():
        content = lio.read_json(path)
        content["file"] = path.name
        manifests.append(content)
    manifests.sort(key=lambda m: (str(m.get("written", "")), m["file"]))

    redundancy: dict[tuple[str, str, str], dict[str, pd.DataFrame]] = {}
    prune_rounds = {}
    pruned = scores[scores["method"] == "prune"]
    if "split" not in pruned:
        pruned = pruned.assign(split=DEFAULT_SPLIT)
    studies = pruned[["dataset", "target", "selector", "split"]].astype(str).drop_duplicates()
    for (dataset, target, guide), group in studies.groupby(["dataset", "target", "selector"], sort=True):
        split = sorted(group["split"])[0]
        rounds_path = layout.prune_rounds(dataset, target, split, guide)
        if rounds_path.is_file():
            prune_rounds[(dataset, target, guide)] = lio.read_csv(rounds_path)
        for table in REDUNDANCY_TABLES:
            path = layout.redundancy(dataset, target, split, guide, table)
            if path.is_file():
                redundancy.setdefault((dataset, target, guide), {})[table] = lio.read_csv(
                    path, keep_default_na=False, na_values=[""])
    for tables in redundancy.values():
        if "family_size" in tables and "summary" in tables:  # figure (e) shows polymorph families binned
            summary = tables["summary"].iloc[0]
            n_removed = int(summary["n_removed"])
            tables["family_size_binned"] = bin_family_sizes(tables["family_size"], n_removed,
                                                            int(summary["n_pool"]) - n_removed)
    intervals, bands, bootstraps = None, pd.DataFrame(), []
    if layout.predictions_dir.is_dir():
        bootstraps = study_bootstraps(folder)
        intervals, bands = interval_summary(folder, bootstraps=bootstraps), curve_intervals(bootstraps)
    return Results(folder, scores, diagnostics, coverage, redundancy, prune_rounds, manifests, intervals,
                   bands, bootstraps)



#: Polymorph-family sizes of figure (e), binned: (lowest, highest, label).  Large families are few, so
#: one bar per size would rest on a handful of kept entries.
FAMILY_BINS: tuple[tuple[int, float, str], ...] = ((1, 1, "1"), (2, 2, "2"), (3, 3, "3"), (4, 5, "4–5"),
                                                   (6, 10, "6–10"), (11, math.inf, "> 10"))



def bin_family_sizes(table: pd.DataFrame, n_removed: int, n_retained: int) -> pd.DataFrame:
    """Sum a ``family_size`` redundancy table into :data:`FAMILY_BINS` and recompute the enrichment.

    Enrichment of a bin = (its removed / all removed) / (its retained / all retained), the definition of
    :func:`lessdata.selection.redundancy.redundancy_composition`, from the bin's summed counts; the bins are
    tested
    afresh (:func:`lessdata.selection.redundancy.enrichment_statistics`: Fisher p, BH q over the bins,
    ``significant``),
    since a bin's significance does not follow from its members'.
    """
    from lessdata.selection.redundancy import ENRICHMENT_STAT_COLUMNS, enrichment_statistics  # noqa: PLC0415 - pymatgen


    rows = []
    for low, high, label in FAMILY_BINS:
        part = table[(table["family_size"] >= low) & (table["family_size"] <= high)]
        if part.empty:
            continue
        removed, retained = int(part["n_removed"].sum()), int(part["n_retained"].sum())
        share_removed = removed / n_removed if n_removed else math.nan
        share_retained = retained / n_retained if n_retained else math.nan
        enrichment = (share_removed / share_retained if share_retained else
                      (math.inf if share_removed else math.nan))
        rows.append({"family_size": label, "n_total": removed + retained, "n_removed": removed,
                     "n_retained": retained, "enrichment": enrichment})
    binned = pd.DataFrame(rows, columns=["family_size", "n_total", "n_removed", "n_retained", "enrichment"])
    tested = enrichment_statistics(binned["n_removed"], binned["n_retained"], n_removed, n_retained)
    return pd.concat([binned, tested], axis=1)[[*binned.columns, *ENRICHMENT_STAT_COLUMNS]]
