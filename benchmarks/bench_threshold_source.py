"""How much does the test set's part in the pruning threshold matter?  Test-set rule against out-of-fold.

The paper's pruning threshold is half the full-pool model's MAE on the ID test set, the same test set
that later scores the pruned sets.  ``prune.threshold = "oof"`` takes half the pool's 5-fold
out-of-fold MAE instead, which never looks at the test set.  This script sets one XGB-guided pruning
run with the out-of-fold threshold (its own results folder) beside the runs with the paper's rule (the
paper folder, ``--prune-seeds`` 0, 1, 2), at the fractions both evaluated: the thresholds, the rounds,
the test RMSE and MAE of the pruned sets, and where the out-of-fold run falls against the spread of the
paper-rule runs (the training randomness of pruning itself).

Example (seconds; reads two results folders)::

    .venv/bin/python benchmarks/bench_threshold_source.py results/paper_mp18_comp results/paper_mp18_comp_oof
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from lessdata.experiments.store import ResultsStore, StoreLayout
from lessdata.reporting.formatting import md_table

BENCH_DIR = Path(__file__).resolve().parent
FRACTIONS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("paper_rule", type=Path, help="folder with the paper-rule pruning runs")
    parser.add_argument("oof_rule", type=Path, help="folder with the out-of-fold-threshold run")
    parser.add_argument("--dataset", default="mp18_comp")
    parser.add_argument("--target", default="e_form")
    parser.add_argument("--split", default="ids-14609080", help="split label of the runs")
    parser.add_argument("--guide", default="xgb", help="guiding model of the runs")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results" / "bench_threshold_source.json")
    return parser.parse_args(argv)


def _pruned_scores(folder: Path, args: argparse.Namespace) -> pd.DataFrame:
    """ID-test scores of the guide's own pruned sets in one folder."""
    scores = ResultsStore(folder).read()
    chosen = ((scores["dataset"] == args.dataset) & (scores["target"] == args.target)
              & (scores["split"] == args.split) & (scores["method"] == "prune")
              & (scores["selector"] == args.guide) & (scores["model"] == args.guide)
              & (scores["eval_set"] == "id_test"))
    return scores[chosen]


def _at(scores: pd.DataFrame, seed: int, fraction: float) -> tuple[float, float, float]:
    """The evaluated retained set of one run nearest a fraction: (fraction, RMSE, MAE)."""
    run = scores[scores["seed"] == seed]
    row = run.iloc[int(np.argmin(np.abs(run["train_frac"].to_numpy() - fraction)))]
    return float(row["train_frac"]), float(row["rmse"]), float(row["mae"])


def _threshold(folder: Path, args: argparse.Namespace, seed: int) -> dict:
    """The stored threshold record of one pruning run."""
    name = StoreLayout.pruning_name(args.dataset, args.target, args.split, args.guide, seed)
    return json.loads(StoreLayout(folder).pruning_threshold(name).read_text())


def main(argv: list[str] | None = None) -> None:
    """Build the comparison, write JSON and Markdown, print the Markdown."""
    args = parse_args(argv)
    paper, oof = _pruned_scores(args.paper_rule, args), _pruned_scores(args.oof_rule, args)
    paper_seeds = sorted(int(s) for s in paper["seed"].unique())
    thresholds = {f"paper rule, run {seed}": _threshold(args.paper_rule, args, seed) for seed in paper_seeds}
    thresholds["out-of-fold, run 0"] = _threshold(args.oof_rule, args, 0)
    rows = []
    for fraction in FRACTIONS:
        runs = [_at(paper, seed, fraction) for seed in paper_seeds]
        mine = _at(oof, int(oof["seed"].min()), fraction)
        row = {"fraction": fraction, "oof_frac": mine[0], "oof_rmse": mine[1], "oof_mae": mine[2]}
        for metric, index in (("rmse", 1), ("mae", 2)):
            values = np.array([run[index] for run in runs])
            row[f"paper_{metric}_mean"] = float(values.mean())
            row[f"paper_{metric}_min"], row[f"paper_{metric}_max"] = float(values.min()), float(values.max())
            row[f"paper_{metric}_run0"] = float(values[0])
            row[f"oof_minus_run0_{metric}"] = mine[index] - float(values[0])
            row[f"oof_within_paper_spread_{metric}"] = bool(values.min() <= mine[index] <= values.max())
        rows.append(row)
    table = pd.DataFrame(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"paper_rule": str(args.paper_rule), "oof_rule": str(args.oof_rule),
                                    "thresholds": thresholds, "rows": table.to_dict("records")},
                                   indent=1) + "\n")
    shown = pd.DataFrame({
        "share": [f"{f:.0%}" for f in table["fraction"]],
        "RMSE, out-of-fold run": table["oof_rmse"].map("{:.4f}".format),
        "RMSE, paper rule: run 0 / mean [min–max] of runs": [
            f"{r['paper_rmse_run0']:.4f} / {r['paper_rmse_mean']:.4f} [{r['paper_rmse_min']:.4f}–"
            f"{r['paper_rmse_max']:.4f}]" for _, r in table.iterrows()],
        "MAE, out-of-fold run": table["oof_mae"].map("{:.4f}".format),
        "MAE, paper rule: run 0 / mean [min–max] of runs": [
            f"{r['paper_mae_run0']:.4f} / {r['paper_mae_mean']:.4f} [{r['paper_mae_min']:.4f}–"
            f"{r['paper_mae_max']:.4f}]" for _, r in table.iterrows()]})
    lines = [f"- {name}: threshold {info['threshold']:.5f}" for name, info in thresholds.items()]
    text = "\n".join([
        "# Pruning threshold from the test set (paper) or from the pool's out-of-fold MAE", "",
        f"Written by `benchmarks/bench_threshold_source.py {args.paper_rule} {args.oof_rule}`. XGB-guided "
        f"pruning of {args.target}; ID-test errors of the retained sets nearest each share (one run with the "
        f"out-of-fold threshold, {len(paper_seeds)} with the paper's).", "", *lines, "", md_table(shown)])
    args.out.with_suffix(".md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
