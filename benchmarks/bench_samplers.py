"""Benchmark the subset samplers' selection time on the mp18_comp pool and on a 10x synthetic copy.

The pool is mp18_comp's standardized 145 compositional features (the 42,734 rows of a 90/10 split); the
10x copy stacks ten copies, each with its own small Gaussian jitter (0.05 standard deviations), so it
has the real data's structure but no exact duplicates.  For each label-free sampler (``kcenter``,
``direct``) and budget it records the wall time of one selection, and for the pruning-coverage sampler
the time of its stratified pass given a pruning order (the pruning itself is timed by bench_pruning).
Writes JSON and a Markdown table to ``--out``.

Example::

    .venv/bin/python benchmarks/bench_samplers.py               # ~12 min on 2 cores
    .venv/bin/python benchmarks/bench_samplers.py --scales 1 --fractions 0.1,0.25
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from lessdata import config
from lessdata.data.datasets import load_dataset
from lessdata.selection import registry as selectors
from lessdata.selection import samplers
from lessdata.selection.pruning import PruningResult

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "bench_samplers.json"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--scales", default="1,10", help="pool copies to time (1 = the real pool)")
    parser.add_argument("--fractions", default="0.05,0.25,0.5", help="budgets, as fractions of the pool")
    parser.add_argument("--large-fractions", default="kcenter=0.05:0.1,direct=0.01:0.05,prune_cov=0.05:0.1",
                        help="budgets per sampler on the scaled-up pools (k-center is O(rows x budget); "
                             "each Birch fit of DIRECT grows with the number of clusters)")
    parser.add_argument("--methods", default="kcenter,direct,prune_cov")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    return parser.parse_args(argv)


def synthetic_pruning(n_rows: int, rng: np.random.Generator) -> PruningResult:
    """A pruning result with the study's shape (about 9 % removed per round, 300 kept) for timing only."""
    removal_round = np.full(n_rows, -1, dtype=np.int64)
    remaining = rng.permutation(n_rows)
    sizes, round_index = [n_rows], 0
    while len(remaining) > 300:
        n_removed = max(1, min(len(remaining) - 300, int(0.09 * len(remaining))))
        removal_round[remaining[:n_removed]] = round_index
        remaining = remaining[n_removed:]
        sizes.append(len(remaining))
        round_index += 1
    zeros = np.zeros(round_index)
    return PruningResult(removal_round, np.zeros(n_rows), np.array(sizes), 0.0, zeros, zeros, zeros,
                         zeros.astype(int), ["threshold"] * round_index, "min_retained", {})


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    dataset = load_dataset("mp18_comp", "e_form", progress=False)
    pool, _ = train_test_split(dataset.X, test_size=config.ID_TEST_FRACTION,
                               random_state=config.ID_SPLIT_SEED)
    rng = np.random.default_rng(0)
    runs: list[dict[str, Any]] = []
    for scale in (int(s) for s in args.scales.split(",")):
        X = pool if scale == 1 else np.vstack([pool + rng.normal(scale=0.05, size=pool.shape)
                                              for _ in range(scale)])
        large = dict(item.split("=") for item in args.large_fractions.split(","))
        view = samplers.PoolView(X, synthetic_pruning(len(X), rng))
        for method in args.methods.split(","):
            sampler = selectors.get(method).sampler
            fractions = args.fractions.split(",") if scale == 1 else large.get(method, "").split(":")
            for fraction in (float(f) for f in fractions if f):
                budget = int(round(fraction * len(X)))
                started = time.perf_counter()
                chosen = sampler(view, budget, np.random.default_rng(0))
                seconds = time.perf_counter() - started
                assert len(np.unique(chosen)) == budget
                runs.append({"method": method, "rows": len(X), "scale": scale, "fraction": fraction,
                             "budget": budget, "seconds": round(seconds, 3)})
                print(f"{method:10s} rows {len(X):>7,} budget {budget:>7,} ({fraction:.0%}): "
                      f"{seconds:8.1f} s", flush=True)
    machine = {"python": platform.python_version(), "cpu": platform.processor() or platform.machine(),
               "cores": os.cpu_count(), "load_average_at_end": [round(v, 2) for v in os.getloadavg()]}
    result = {"machine": machine, "features": int(pool.shape[1]), "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    lines = ["| sampler | pool rows | budget | seconds |", "|---|---|---|---|"]
    lines += [f"| {r['method']} | {r['rows']:,} | {r['budget']:,} ({r['fraction']:.0%}) | "
              f"{r['seconds']:.1f} |" for r in runs]
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out} and {args.out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
