#!/usr/bin/env python
"""Runner benchmark: overhead of the runner over its model fits, and the speedup of 2 workers over 1.

In one run, on the embedded mp18_comp data (or any dataset):

* overhead = wall time of ``run_cells`` with one process ÷ the sum of the fit times it recorded
  (target ≤ 1.05: data loading, scoring and bookkeeping cost little next to the fits);
* speedup = wall time with ``--n-jobs 1`` ÷ wall time with ``--n-jobs 2`` (ideal 2 on two cores).

Each measurement writes into a fresh temporary results folder so nothing is skipped.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from lessdata import files as lio
from lessdata.experiments.baseline import random_cells
from lessdata.experiments.runner import ResultsStore, RunContext, experiment_data, run_cells


def measure(dataset: str, target: str, models: list[str], fractions: list[float], seeds: int,
            n_jobs: int, profile: str) -> dict[str, float]:
    """Run the cells in a fresh folder; return wall seconds, summed fit and predict seconds."""
    with tempfile.TemporaryDirectory() as folder:
        context = RunContext(folder, profile)
        started = time.perf_counter()
        data = experiment_data(context, dataset, target)
        cells = random_cells(data.dataset.name, target, models, len(data.pool), profile=profile,
                             fractions=fractions, seeds=seeds)
        run_cells(cells, context, n_jobs=n_jobs, progress=False)
        wall = time.perf_counter() - started
        scores = ResultsStore(folder).read()
        per_cell = scores.drop_duplicates(["model", "seed", "train_frac"])
        return {"n_jobs": n_jobs, "cells": len(cells), "wall_seconds": round(wall, 2),
                "fit_seconds": round(float(per_cell["fit_seconds"].sum()), 2),
                "predict_seconds": round(float(scores["predict_seconds"].sum()), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="mp18_comp")
    parser.add_argument("--target", default="e_form")
    parser.add_argument("--models", default="xgb,rf")
    parser.add_argument("--fractions", default="0.1,0.3", help="training fractions of the pool")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "bench_runner.json")
    args = parser.parse_args()
    models = args.models.split(",")
    fractions = [float(f) for f in args.fractions.split(",")]
    # Warm the feature cache and the split once so both measurements start alike.
    with tempfile.TemporaryDirectory() as folder:
        experiment_data(RunContext(folder, args.profile), args.dataset, args.target)
    serial = measure(args.dataset, args.target, models, fractions, args.seeds, 1, args.profile)
    parallel = measure(args.dataset, args.target, models, fractions, args.seeds, 2, args.profile)
    result = {
        "config": {k: str(v) for k, v in vars(args).items()},
        "serial": serial,
        "parallel": parallel,
        "overhead_serial": round(serial["wall_seconds"] / serial["fit_seconds"], 3),
        "speedup_2_workers": round(serial["wall_seconds"] / parallel["wall_seconds"], 3),
    }
    lio.write_json(args.out, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
