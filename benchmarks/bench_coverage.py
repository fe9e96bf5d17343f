"""Do the report's 95 % intervals cover what they claim?  Old intervals beside the new ones, on mp18_comp.

A cheap XGB (50 rounds of depth-4 trees, one tree per round) is run through the study's protocol on many
random 90/10 splits of mp18_comp e_form.  Per split: random subsets (3 seeds, 5 % to 100 % of the pool),
3 independent XGB-guided pruning runs (threshold 0.5 x test MAE, rounds until 28 % is left; the retained
set at 30 % is scored with an XGB of the run's seed), and QBC (3 seeds; the committee is that XGB and a
small random forest; 5 % initial set and 5 % steps up to 30 %).  Each split is then analysed alone, as
a report on that one split would be:

* **old**: test entries resampled one by one, training seeds averaged (never resampled), the pruned
  curve one run (run 0), as the reports were before issue 27;
* **new**: test entries resampled by formula, each curve's seeds (pruning runs too) resampled with them
  (:func:`lessdata.analysis.summary.bootstrap_for`'s defaults).

The truth of each quantity is its mean over all splits (each split's point estimate from every seed and
run): full-data RMSE, the random curve's smallest share within 10 % of it (RMSE), and the RMSE
differences pruned - random and QBC - random at 30 %.  Coverage is the share of splits whose interval
holds the truth; a well-calibrated 95 % interval covers 93-97 % of 50 splits give or take Monte Carlo
error (binomial SE about 3 points).

Fits are cached per split in ``benchmarks/work/coverage/`` so an interrupted run resumes.

Example (about 15 minutes on 2 cores)::

    .venv/bin/python benchmarks/bench_coverage.py --splits 50 --n-jobs 2
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from io import StringIO
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy import stats
from sklearn.ensemble import RandomForestRegressor
from xgboost import XGBRegressor

import lessdata
from lessdata import files as io
from lessdata.analysis.intervals import PairedBootstrap
from lessdata.analysis.summary import MATCH_TOLERANCE, WITHIN, default_n_boot
from lessdata.data.datasets import load_dataset
from lessdata.experiments.runner import pool_permutation, size_of

BENCH_DIR = Path(__file__).resolve().parent
WORK = BENCH_DIR / "work" / "coverage"
RANDOM_FRACTIONS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.7, 1.0)
SEEDS = (0, 1, 2)
AT = 0.3
AL = {"start_frac": 0.05, "step": 0.05, "stop_frac": 0.30}
QUANTITIES = ("full_rmse", "within10_rmse", "prune_minus_random@0.3", "qbc_minus_random@0.3")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--splits", type=int, default=50, help="random 90/10 splits")
    parser.add_argument("--n-jobs", type=int, default=2, help="splits fitted at once (one thread each)")
    parser.add_argument("--n-boot", type=int, default=None, help="resamples (default: the report's)")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results" / "bench_coverage.json")
    return parser.parse_args(argv)


def cheap_xgb(seed: int) -> XGBRegressor:
    """The coverage study's model: fast enough for 50 splits, the same kind of learner as the study's."""
    return XGBRegressor(n_estimators=50, max_depth=4, learning_rate=0.25, subsample=0.85,
                        colsample_bytree=0.5, tree_method="hist", n_jobs=1, random_state=seed)


def cheap_rf(seed: int) -> RandomForestRegressor:
    """QBC's second committee member."""
    return RandomForestRegressor(n_estimators=10, max_features=0.2, max_depth=14, n_jobs=1,
                                 random_state=seed)


def run_split(split: int, X: np.ndarray, y: np.ndarray, formulas: np.ndarray) -> Path:
    """Fit everything on one split and store the test predictions with their cells (cached)."""
    path = WORK / f"split_{split:03d}.npz"
    if path.exists():
        return path
    started = time.perf_counter()
    order = np.random.default_rng(10_000 + split).permutation(len(y))
    n_test = round(0.1 * len(y))
    test, pool = order[:n_test], order[n_test:]
    X_pool, y_pool, X_test, y_test = X[pool], y[pool], X[test], y[test]
    n_pool = len(pool)
    cells, predictions = [], []

    def score(curve: str, seed: int, fraction: float, rows: np.ndarray) -> None:
        model = cheap_xgb(seed).fit(X_pool[rows], y_pool[rows])
        cells.append({"curve": curve, "seed": seed, "train_frac": fraction, "train_size": rows.size})
        predictions.append(model.predict(X_test).astype(np.float64))

    for seed in SEEDS:
        permutation = pool_permutation(seed, n_pool)
        for fraction in RANDOM_FRACTIONS:
            score("random", seed, fraction, permutation[: size_of(fraction, n_pool)])
    for seed in SEEDS:
        result = lessdata.prune(cheap_xgb(seed), X_pool, y_pool, X_test=X_test, y_test=y_test,
                                min_retained=int(0.28 * n_pool), random_state=seed * 100_000)
        retained = result.retained_at(AT)
        score("prune:xgb", seed, retained.size / n_pool, retained)
    for seed in SEEDS:
        campaign = lessdata.active_learning("qbc", X_pool, y_pool, models={"xgb": cheap_xgb(seed),
                                                                          "rf": cheap_rf(seed)},
                                            random_state=seed, **AL)
        score("qbc", seed, campaign.fractions[-1], campaign.train_rows(-1))
    frame = pd.DataFrame(cells)
    WORK.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp.npz")
    np.savez_compressed(temporary, predictions=np.vstack(predictions), y_test=y_test,
                        groups=formulas[test].astype(str), cells=frame.to_json(orient="records"),
                        seconds=time.perf_counter() - started)
    os.replace(temporary, path)
    return path


def analyse(path: Path, n_boot: int) -> dict[str, dict[str, tuple[float, float, float]]]:
    """Point and 95 % interval of each quantity on one split, old and new way."""
    with np.load(path) as content:
        predictions, y_test = content["predictions"], content["y_test"]
        groups, cells = content["groups"], pd.read_json(StringIO(str(content["cells"])))
    cells = cells.assign(split="s", model="xgb", row=np.arange(len(cells)))
    out: dict[str, dict[str, tuple[float, float, float]]] = {}
    for method in ("old", "new"):
        chosen = cells if method == "new" else cells[(cells["curve"] != "prune:xgb") | (cells["seed"] == 0)]
        boot = PairedBootstrap({"s": y_test}, {"s": predictions}, chosen, n_boot=n_boot, seed=0,
                               match_relative=MATCH_TOLERANCE,
                               groups={"s": groups} if method == "new" else None,
                               resample_seeds=method == "new")
        values = {"full_rmse": boot.reference("xgb", "rmse"),
                  "within10_rmse": boot.within("xgb", "random", "rmse", tolerance=WITHIN),
                  "prune_minus_random@0.3": boot.difference("xgb", "prune:xgb", "random", AT, "rmse"),
                  "qbc_minus_random@0.3": boot.difference("xgb", "qbc", "random", AT, "rmse")}
        out[method] = {name: tuple(float(v) for v in estimate[:3]) for name, estimate in values.items()}
    return out


def coverage_table(per_split: list[dict[str, dict[str, tuple[float, float, float]]]]) -> pd.DataFrame:
    """Empirical coverage of each method's intervals of each quantity, with a binomial 95 % interval."""
    rows = []
    for quantity in QUANTITIES:
        truth = float(np.mean([split["new"][quantity][0] for split in per_split]))
        for method in ("old", "new"):
            los = np.array([split[method][quantity][1] for split in per_split])
            his = np.array([split[method][quantity][2] for split in per_split])
            covered = int(np.count_nonzero((los <= truth) & (truth <= his)))
            n = len(per_split)
            low, high = stats.binomtest(covered, n).proportion_ci(0.95, method="wilson")
            rows.append({"quantity": quantity, "method": method, "truth": truth, "splits": n,
                         "covered": covered, "coverage": covered / n, "coverage_lo": low, "coverage_hi": high,
                         "mean_width": float(np.mean(his - los)),
                         "missed_low": int(np.count_nonzero(his < truth)),
                         "missed_high": int(np.count_nonzero(los > truth))})
    return pd.DataFrame(rows)


def markdown(table: pd.DataFrame, report: dict[str, Any]) -> str:
    lines = [f"# Coverage of the report's 95 % intervals ({report['splits']} random splits of mp18_comp "
             "e_form)", "", f"Written by `benchmarks/bench_coverage.py`; {report['n_boot']} resamples per "
             "interval; truth = mean over the splits. Old: test entries resampled singly, seeds averaged, "
             "pruned curve one run. New: test entries resampled by formula, seeds and pruning runs "
             "resampled.", "",
             "| quantity | truth | old coverage [95 %] | old mean width | new coverage [95 %] "
             "| new mean width |",
             "|---|---|---|---|---|---|"]
    for quantity, rows in table.groupby("quantity", sort=False):
        old, new = (rows[rows["method"] == m].iloc[0] for m in ("old", "new"))
        lines.append(f"| {quantity} | {new['truth']:.4f} | {old['coverage']:.0%} [{old['coverage_lo']:.0%}–"
                     f"{old['coverage_hi']:.0%}] | {old['mean_width']:.4f} | {new['coverage']:.0%} "
                     f"[{new['coverage_lo']:.0%}–{new['coverage_hi']:.0%}] | {new['mean_width']:.4f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    n_boot = args.n_boot or default_n_boot()
    started = time.perf_counter()
    data = load_dataset("mp18_comp", "e_form", progress=False)
    paths = Parallel(n_jobs=args.n_jobs, verbose=5)(
        delayed(run_split)(split, data.X, data.y, data.formulas) for split in range(args.splits))
    fit_seconds = [float(np.load(path)["seconds"]) for path in paths]
    per_split = [analyse(path, n_boot) for path in paths]
    table = coverage_table(per_split)
    report = {"splits": args.splits, "n_boot": n_boot, "dataset": "mp18_comp", "target": "e_form",
              "model": {key: str(value) for key, value in cheap_xgb(0).get_params().items()
                        if value is not None}, "seeds": list(SEEDS),
              "random_fractions": list(RANDOM_FRACTIONS),
              "al": AL, "fit_seconds_per_split_median": float(np.median(fit_seconds)),
              "wall_seconds": round(time.perf_counter() - started, 1), "cores": os.cpu_count(),
              "platform": platform.platform(), "coverage": table.to_dict("records"),
              "per_split": per_split}
    io.write_json(args.out, report)
    args.out.with_suffix(".md").write_text(markdown(table, report))
    print(table.to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
