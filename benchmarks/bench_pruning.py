"""Benchmark the sequential pruning path: wall time versus the unavoidable guiding-model fits.

The cost of pruning is one fit of the guiding model per round.  Everything else (splitting, predicting the
20 % split, selecting removals, checkpoint writes, progress bar) is overhead, and this script measures it
as ``wall seconds of prune() / sum of its fit seconds`` (target <= 1.05).

Data: real Materials Project entries from matminer's bundled transport database (formula, p-type Seebeck
coefficient ``S_p`` and other transport targets), a random subset of ``--n-entries``, featurized with the
Magpie ElementProperty preset (cached under ``benchmarks/.cache/``; featurization is not timed).  The
subset is split 90/10 into pool and ID test set, as in the study.

Example::

    .venv/bin/python benchmarks/bench_pruning.py --n-entries 10000 --model xgb --profile quick
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import matminer
import numpy as np
import pandas as pd
import sklearn
import xgboost
from matminer.featurizers.composition import ElementProperty
from pymatgen.core import Composition
from sklearn.model_selection import train_test_split

from lessdata import config
from lessdata import files as io
from lessdata.models.factory import available_cores, make_model
from lessdata.selection.pruning import prune, pruning_threshold, settings_from_profile
from lessdata.selection.redundancy import redundancy_composition

BENCH_DIR = Path(__file__).resolve().parent
TRANSPORT_TAR = (Path(matminer.__file__).parent / "utils" / "data_files" / "mp_transport"
                 / "transport_database.tar.xz")
TARGETS = ("S_p", "S_n", "PF_p", "PF_n")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; pruning settings default to the chosen profile's."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--n-entries", type=int, default=10000,
                        help="real MP entries drawn from the transport database (pool = 90 %%)")
    parser.add_argument("--target", choices=TARGETS, default="S_p", help="target column")
    parser.add_argument("--model", choices=("xgb", "rf"), default="xgb", help="guiding model")
    parser.add_argument("--profile", choices=sorted(config.PROFILES), default="quick",
                        help="hyperparameters and pruning settings")
    parser.add_argument("--n-threads", type=int, default=1,
                        help="threads of the model (1: robust timings on a shared machine)")
    parser.add_argument("--min-remove-frac", type=float, default=None, help="override the profile's value")
    parser.add_argument("--min-retained", type=int, default=None, help="override the profile's value")
    parser.add_argument("--max-rounds", type=int, default=None, help="override the profile's value")
    parser.add_argument("--seed", type=int, default=0, help="seed of the subset and of the pool/test split")
    parser.add_argument("--no-checkpoint", action="store_true",
                        help="time pruning without per-round checkpoint writes")
    parser.add_argument("--no-cache", action="store_true", help="recompute the features")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results" / "bench_pruning.json",
                        help="JSON report")
    args = parser.parse_args(argv)
    if args.n_entries < 500:
        parser.error("--n-entries must be at least 500")
    if args.n_threads < 1:
        parser.error("--n-threads must be >= 1")
    return args


def load_entries(n_entries: int, seed: int, use_cache: bool, n_jobs: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Draw ``n_entries`` real MP entries and their Magpie features (cached as npz + csv)."""
    with tarfile.open(TRANSPORT_TAR) as archive:
        frame = pd.read_csv(archive.extractfile("transport_database.csv"))
    if n_entries > len(frame):
        sys.exit(f"error: --n-entries {n_entries} exceeds the {len(frame)} entries of {TRANSPORT_TAR.name}")
    frame = frame.sample(n_entries, random_state=seed).reset_index(drop=True)
    cache = BENCH_DIR / ".cache" / f"transport_magpie_n{n_entries}_seed{seed}.npz"
    if use_cache and cache.exists():
        with np.load(cache, allow_pickle=False) as data:
            if list(data["mp_id"]) == list(frame["mp_id"]):
                return frame, data["features"]
    featurizer = ElementProperty.from_preset("magpie")
    featurizer.set_n_jobs(n_jobs)
    start = time.perf_counter()
    features = np.asarray(featurizer.featurize_many([Composition(f) for f in frame["pretty_formula"]],
                                                    pbar=False), dtype=np.float64)
    print(f"featurized {n_entries} entries in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    if use_cache:
        def write(tmp: Path) -> None:
            with open(tmp, "wb") as handle:
                np.savez(handle, mp_id=frame["mp_id"].to_numpy(dtype=str), features=features)

        io.atomic_write(cache, write)
    return frame, features


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    kappa, settings = settings_from_profile(args.profile)
    for name in ("min_remove_frac", "min_retained", "max_rounds"):
        if getattr(args, name) is not None:
            settings[name] = getattr(args, name)

    frame, features = load_entries(args.n_entries, args.seed, not args.no_cache, args.n_threads)
    target = frame[args.target].to_numpy(dtype=np.float64)
    pool, test = train_test_split(np.arange(len(frame)), test_size=config.ID_TEST_FRACTION,
                                  random_state=args.seed)
    pool = np.sort(pool)
    estimator = make_model(args.model, profile=args.profile, n_threads=args.n_threads, random_state=0)

    start = time.perf_counter()
    threshold, _ = pruning_threshold(estimator, features[pool], target[pool], features[test], target[test],
                                     kappa=kappa)
    threshold_seconds = time.perf_counter() - start

    with tempfile.TemporaryDirectory() as scratch:
        checkpoint = None if args.no_checkpoint else Path(scratch) / "prune.npz"
        start = time.perf_counter()
        result = prune(estimator, features[pool], target[pool], threshold, checkpoint=checkpoint,
                       progress=False, **settings)
        wall = time.perf_counter() - start

    start = time.perf_counter()
    compare_at = 0.3 if result.final_fraction <= 0.3 else None
    tables = redundancy_composition(frame["mp_id"].to_numpy()[pool], frame["pretty_formula"].to_numpy()[pool],
                                    result.removal_round, fraction=compare_at)
    composition_seconds = time.perf_counter() - start

    fit_total = float(result.fit_seconds.sum())
    predict_total = float(result.predict_seconds.sum())
    overhead = result.round_seconds - result.fit_seconds - result.predict_seconds
    report = {
        "benchmark": "pruning sequential path",
        "data": {"source": str(TRANSPORT_TAR.name), "n_entries": args.n_entries, "n_pool": int(pool.size),
                 "n_features": int(features.shape[1]), "target": args.target, "seed": args.seed},
        "model": args.model, "profile": args.profile, "n_threads": args.n_threads,
        "settings": {"kappa": kappa, **settings, "checkpoint": not args.no_checkpoint},
        "threshold": threshold, "threshold_fit_seconds": threshold_seconds,
        "n_rounds": result.n_rounds, "stop_reason": result.stop_reason,
        "final_retained": int(result.round_sizes[-1]), "final_fraction": result.final_fraction,
        "rules": {rule: result.round_rule.count(rule) for rule in sorted(set(result.round_rule))},
        "wall_seconds": wall,
        "sum_fit_seconds": fit_total,
        "sum_predict_seconds": predict_total,
        "wall_over_fit": wall / fit_total,
        "wall_over_fit_plus_predict": wall / (fit_total + predict_total),
        "target_wall_over_fit": 1.05,
        "meets_target": bool(wall / fit_total <= 1.05),
        "overhead_seconds_per_round": {"mean": float(overhead.mean()), "max": float(overhead.max())},
        "redundancy_composition_seconds": composition_seconds,
        "redundancy_top_elements": tables["elements"].head(5).to_dict(orient="records"),
        "environment": {"python": platform.python_version(), "numpy": np.__version__,
                        "sklearn": sklearn.__version__, "xgboost": xgboost.__version__,
                        "cores": available_cores(), "loadavg_1min": os.getloadavg()[0],
                        "machine": platform.machine()},
    }
    io.write_json(args.out, report)
    print(f"{result.n_rounds} rounds, {pool.size} -> {result.round_sizes[-1]} entries; wall {wall:.2f} s, "
          f"fits {fit_total:.2f} s, predicts {predict_total:.2f} s; wall/fit = {wall / fit_total:.4f} "
          f"(target <= 1.05); report: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
