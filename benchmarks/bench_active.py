#!/usr/bin/env python
"""Active-learning benchmark: the AL step's overhead beyond its model fits, per strategy.

Every step of a campaign (:func:`lessdata.experiments.active.run_campaign`) records where its wall time went:

* ``fit_seconds``: XGB and RF fits on the selected set (the evaluation models);
* ``query_fit_seconds``: models fitted only for the query (``xgb_ibug`` + IBUG's neighbour index and
  tuning, XGB-U only);
* ``eval_predict_seconds``: the evaluator's predictions (ID test, unused pool, OOD sets), which every
  selection method pays, random baseline included;
* ``query_seconds``: the strategy itself (pool predictions, per-tree spreads, IBUG scales, top-n);
* ``diagnostics_seconds``: Spearman rho, batch errors, calibration on the ID test set;
* ``store_seconds`` + ``checkpoint_seconds``: writing rows, diagnostics and the selection.

Reported per strategy, as fractions of the summed step wall time:

* ``overhead_beyond_fits``: everything except model fits (target <= 0.10 in ``quick``);
* ``al_machinery``: query + diagnostics + bookkeeping, i.e. beyond fits and the evaluator's scoring;
* ``selection_and_bookkeeping``: query + bookkeeping only (what a run without diagnostics would pay).

Modes: run one fresh campaign per strategy here (default; single process, ``--n-threads`` per model),
or ``--from-results DIR`` to summarise the step timings an earlier ``run_al.py`` stored in
``DIR/al_diagnostics.csv`` (e.g. the real quick run, with its parallel load).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import pandas as pd

from lessdata import config
from lessdata import files as lio
from lessdata.experiments import active, al_diagnostics
from lessdata.experiments.runner import RunContext, experiment_data

PARTS = ["fit_seconds", "query_fit_seconds", "eval_predict_seconds", "query_seconds", "diagnostics_seconds",
         "store_seconds", "checkpoint_seconds"]


def summarize_steps(steps: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per strategy: summed seconds of each part and the overhead fractions of the step wall time."""
    result = {}
    for strategy, group in steps.groupby("strategy"):
        total = {part: float(group[part].sum()) for part in PARTS if part in group}
        wall = float(group["step_seconds"].sum())
        fits = total["fit_seconds"] + total.get("query_fit_seconds", 0.0)
        bookkeeping = total.get("store_seconds", 0.0) + total.get("checkpoint_seconds", 0.0)
        machinery = total["query_seconds"] + total["diagnostics_seconds"] + bookkeeping
        per_step = 1 - (group["fit_seconds"] + group.get("query_fit_seconds", 0.0)) / group["step_seconds"]
        result[str(strategy)] = {
            "steps": int(len(group)),
            "step_wall_seconds": round(wall, 2),
            **{part: round(value, 2) for part, value in total.items()},
            "overhead_beyond_fits": round(1 - fits / wall, 3),
            "overhead_beyond_fits_worst_step": round(float(per_step.max()), 3),
            "al_machinery": round(machinery / wall, 3),
            "selection_and_bookkeeping": round((total["query_seconds"] + bookkeeping) / wall, 3),
        }
    return result


def run_fresh(args: argparse.Namespace) -> tuple[pd.DataFrame, dict[str, float]]:
    """One campaign per strategy in a fresh folder; returns the step timings and campaign walls."""
    steps, walls = [], {}
    with tempfile.TemporaryDirectory() as folder:
        context = RunContext(folder, args.profile, n_threads=args.n_threads)
        started = time.perf_counter()
        data = experiment_data(context, args.dataset, args.target)
        walls["data_loading"] = round(time.perf_counter() - started, 2)
        campaigns = active.campaigns_for(data.dataset.name, args.target, args.strategies.split(","),
                                         [args.seed], profile=args.profile, init_frac=args.init_frac,
                                         step_frac=args.step_frac, stop_frac=args.stop_frac)
        for campaign in campaigns:
            report = active.run_campaign(campaign, context)
            walls[campaign.strategy] = round(report.wall_seconds, 2)
            steps += [{"strategy": campaign.strategy, **timing} for timing in report.step_timings]
            print(f"{campaign.strategy}: {report.steps_run} steps, {report.wall_seconds:.1f} s", flush=True)
    return pd.DataFrame(steps), walls


def from_results(folder: Path) -> pd.DataFrame:
    """Step timings stored by an earlier run (checkpoint time is not in the table: it follows the row)."""
    table = al_diagnostics.DiagnosticsTable(folder).read()
    if table.empty:
        raise SystemExit(f"no {folder / 'al_diagnostics.csv'}; run codes/run_al.py --out {folder} first")
    # Rows written before step_seconds was recorded: the sum of the timed parts (a slight underestimate).
    parts = table[[part for part in PARTS if part in table]].sum(axis=1)
    table["step_seconds"] = table["step_seconds"].fillna(parts) if "step_seconds" in table else parts
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="mp18_comp", help="dataset (default: mp18_comp)")
    parser.add_argument("--target", default="e_form", help="target (default: e_form)")
    parser.add_argument("--strategies", default="random,qbc,rf_u,xgb_u", help="comma-separated strategies")
    parser.add_argument("--seed", type=int, default=0, help="campaign seed (default: 0)")
    parser.add_argument("--profile", choices=sorted(config.PROFILES), default="quick")
    parser.add_argument("--init-frac", type=float, default=None, help="default: the profile's")
    parser.add_argument("--step-frac", type=float, default=None, help="default: the profile's")
    parser.add_argument("--stop-frac", type=float, default=None,
                        help="default: the profile's (quick: 0.21, i.e. 11 steps)")
    parser.add_argument("--n-threads", type=int, default=1, help="threads per model (default: 1)")
    parser.add_argument("--from-results", type=Path, default=None,
                        help="summarise DIR/al_diagnostics.csv of an earlier run instead of running")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "bench_active.json",
                        help="JSON output (default: benchmarks/results/bench_active.json)")
    args = parser.parse_args()
    if args.from_results is not None:
        steps, walls = from_results(args.from_results), {}
    else:
        steps, walls = run_fresh(args)
    result = {"config": {k: str(v) for k, v in vars(args).items()}, "campaign_wall_seconds": walls,
              "per_strategy": summarize_steps(steps)}
    if args.from_results is None:
        result["per_step"] = steps.round(3).to_dict(orient="records")
    lio.write_json(args.out, result)
    print(json.dumps({k: v for k, v in result.items() if k != "per_step"}, indent=2))


if __name__ == "__main__":
    main()
