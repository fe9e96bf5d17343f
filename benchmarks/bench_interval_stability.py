"""Do the printed intervals and verdicts of a report survive a change of bootstrap seed?

For a results folder, the interval summary (``lessdata.analysis.summary.interval_summary``) is computed under
several bootstrap seeds, each value is formatted exactly as REPORT.md prints it (the headline's
within-10 % shares, the differences to random with their intervals, and the Holm-adjusted verdicts),
and every printed string that differs between seeds is listed.  Issue 27's criterion: none may.

Example (one results folder, five seeds; minutes per seed for the paper folder)::

    .venv/bin/python benchmarks/bench_interval_stability.py results/paper_mp18_comp --seeds 0,1,2,3,4
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from lessdata import files as io
from lessdata.analysis.summary import COMPARE_AT, default_n_boot, interval_summary
from lessdata.reporting.formatting import fmt_interval, fmt_within

BENCH_DIR = Path(__file__).resolve().parent


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("folder", type=Path, help="results folder with stored predictions")
    parser.add_argument("--seeds", default="0,1,2,3,4", help="bootstrap seeds, comma-separated")
    parser.add_argument("--n-boot", type=int, default=None, help="resamples (default: the report's)")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON output (default: benchmarks/results/bench_interval_stability_FOLDER.json)")
    return parser.parse_args(argv)


def printed(summary: pd.DataFrame) -> dict[str, str]:
    """Every interval and verdict of a summary as the report prints it, by a stable name."""
    values: dict[str, str] = {}
    for row in summary.to_dict("records"):
        series = pd.Series(row)
        key = f"{row['dataset']}/{row['target']}/{row['model']}/{row['curve']}"
        for metric in ("rmse", "mae"):
            values[f"{key}/within10_{metric}"] = fmt_within(series, metric)
            values[f"{key}/full_{metric}"] = fmt_interval(row[f"full_{metric}"], row[f"full_{metric}_lo"],
                                                         row[f"full_{metric}_hi"])
            for fraction in COMPARE_AT:
                name = f"diff_{metric}@{fraction:g}"
                if name not in row or not np.isfinite(row[name]):
                    continue
                values[f"{key}/{name}"] = fmt_interval(row[name], row[f"{name}_lo"], row[f"{name}_hi"])
                values[f"{key}/{name}/verdict"] = str(row[f"{name}_verdict"])
    return values


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    seeds = [int(seed) for seed in args.seeds.split(",")]
    n_boot = args.n_boot or default_n_boot()
    per_seed, seconds = {}, {}
    for seed in seeds:
        started = time.perf_counter()
        per_seed[seed] = printed(interval_summary(args.folder, n_boot=n_boot, seed=seed))
        seconds[seed] = round(time.perf_counter() - started, 1)
        print(f"seed {seed}: {len(per_seed[seed])} printed values, {seconds[seed]} s", flush=True)
    names = sorted(set().union(*per_seed.values()))
    changed = {name: {str(seed): per_seed[seed].get(name, "missing") for seed in seeds} for name in names
               if len({per_seed[seed].get(name) for seed in seeds}) > 1}
    verdicts = [name for name in names if name.endswith("/verdict")]
    report = {"folder": str(args.folder), "seeds": seeds, "n_boot": n_boot, "seconds": seconds,
              "printed_values": len(names), "verdicts": len(verdicts),
              "changed_values": len(changed), "changed_verdicts": sum(name in changed for name in verdicts),
              "changed": changed}
    out = args.out or BENCH_DIR / "results" / f"bench_interval_stability_{args.folder.name}.json"
    io.write_json(out, report)
    print(f"{report['changed_values']} of {len(names)} printed values and {report['changed_verdicts']} of "
          f"{len(verdicts)} verdicts change across seeds {seeds}; wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
