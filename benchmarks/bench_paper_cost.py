"""Cost of the paper protocol on the embedded data: fit-time curve, pruning order, XGB-U scoring.

Data: ``mp18_comp`` formation energy on the authors' hold-out split (``--id-test-ids``), the pool
standardized as in every study run.  Four parts; the parts of one call share a machine state, so
compare ratios within a call (the JSON keeps each part's load average):

``curve``
    One paper-XGB fit (and one paper-RF fit) per training-set size, on the first n rows of the pool's
    seed-0 permutation (the random baseline's subsets), for each ``--variants`` entry:
    ``base`` (the protocol: 2 threads, 256 bins), ``threads1`` (1 thread: is running two cells side by
    side cheaper than one after the other?) and ``bins64`` (``max_bin=64``).  Each variant's ID-test
    predictions are compared with ``base``'s: identical results are the condition for a free cut.

``order``
    ``prune()`` with the paper's settings and XGB guide, one guide fit per round, timed as wall seconds
    and wall / sum of fits (target <= 1.05), against the authors' 2,566 s for the same order (three fits
    per round).  ``--compare-order`` checks that the order equals a committed one, so the benchmark is
    the study's own pruning and not a look-alike.

``eval``
    The pruned sets of several orders (``--eval-orders``, the first is the reference) at 10, 20, 30 and
    50 % of the pool, each trained with the protocol's XGB (seed 0), plus the reference's sets trained
    with XGB seed 1: a faster guide is acceptable where its differences to the reference stay inside
    the model's own seed noise.  Differences come with 95 % paired-bootstrap intervals over the test set.

``ibug``
    XGB-U's scoring step with the authors' IBUG XGB (1000 trees, k = 100): fitted on the first
    ``--ibug-train-frac`` of the pool's seed-0 permutation (default 0.5, the last active-learning step)
    and scoring the rest, in milliseconds per pool row, with and without searching each distinct
    feature row once (a quarter of this pool repeats a composition); both must give the same neighbours.

Example::

    .venv/bin/python benchmarks/bench_paper_cost.py --parts curve --variants base,threads1
    .venv/bin/python benchmarks/bench_paper_cost.py --parts order \
        --compare-order results/paper_mp18_comp/selections/prune_mp18_comp_e_form_ids-14609080_xgb.npz
    .venv/bin/python benchmarks/bench_paper_cost.py --parts order --order-variant bins64 \
        --save-order /tmp/bins64.npz
    .venv/bin/python benchmarks/bench_paper_cost.py --parts eval,ibug --eval-orders \
        base=results/paper_mp18_comp/selections/prune_mp18_comp_e_form_ids-14609080_xgb.npz,bins64=/tmp/bins64.npz
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
import xgboost

from lessdata import config
from lessdata import files as io
from lessdata.evaluation.evaluate import prepare
from lessdata.evaluation.metrics import metrics
from lessdata.experiments.runner import pool_permutation
from lessdata.models import ibug
from lessdata.models.factory import available_cores, make_model
from lessdata.models.ibug import IBUGRegressor
from lessdata.selection.pruning import PruningResult, prune, pruning_threshold, settings_from_profile
from lessdata.selection.redundancy import retained_mask

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
AUTHORS_ORDER_SECONDS = 2566.0  # the authors' pruning script on this data, 2 cores (issue 11's anchor)
#: Variant name -> (XGB threads, XGB overrides).
VARIANTS: dict[str, tuple[int, dict[str, Any]]] = {
    "base": (2, {}),
    "threads1": (1, {}),
    "bins64": (2, {"max_bin": 64}),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--parts", default="curve,order,ibug",
                        help="comma-separated: curve, order, eval, ibug")
    parser.add_argument("--variants", default="base,threads1,bins64",
                        help=f"curve variants, comma-separated from {', '.join(VARIANTS)}")
    parser.add_argument("--fractions", default="0.01,0.05,0.1,0.2,0.3,0.5,0.8,1.0",
                        help="training-set sizes of the curve, as fractions of the pool")
    parser.add_argument("--rf", action=argparse.BooleanOptionalAction, default=True,
                        help="also time the paper RF (2 threads) at each size")
    parser.add_argument("--id-test-ids", type=Path, default=REPO / "data" / "mp18_comp_authors_test_ids.txt",
                        help="ID-test ids (one per line)")
    parser.add_argument("--order-variant", choices=sorted(VARIANTS), default="base",
                        help="guide settings of the order part")
    parser.add_argument("--prune-seed", type=int, default=0,
                        help="random_state of the pruning rounds' 80/20 splits (0: the study's order)")
    parser.add_argument("--threshold", type=float, default=None,
                        help="pruning threshold (default: fit the guide on the pool, MAE/2, and time it)")
    parser.add_argument("--compare-order", type=Path, default=None,
                        help="a committed pruning .npz whose order the benchmark must reproduce")
    parser.add_argument("--save-order", type=Path, default=None,
                        help="write the order part's pruning result (.npz) here, for the eval part")
    parser.add_argument("--eval-orders", default="",
                        help="comma-separated NAME=PATH.npz pruning orders for the eval part "
                             "(the first is the reference)")
    parser.add_argument("--ibug-train-frac", type=float, default=0.5,
                        help="labelled share of the pool for the ibug part (the rest is scored)")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results" / "bench_paper_cost.json",
                        help="JSON report")
    args = parser.parse_args(argv)
    args.parts = [p for p in args.parts.split(",") if p]
    args.variants = [v for v in args.variants.split(",") if v]
    args.fractions = [float(f) for f in args.fractions.split(",") if f]
    if not set(args.parts) <= {"curve", "order", "eval", "ibug"}:
        parser.error("--parts takes curve, order, eval and/or ibug")
    args.eval_orders = dict(item.split("=", 1) for item in args.eval_orders.split(",") if item)
    if "eval" in args.parts and not args.eval_orders:
        parser.error("the eval part needs --eval-orders NAME=PATH,...")
    if not 0 < args.ibug_train_frac < 1:
        parser.error("--ibug-train-frac must lie in (0, 1)")
    unknown = set(args.variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}; choose from {', '.join(VARIANTS)}")
    if any(not 0 < f <= 1 for f in args.fractions):
        parser.error("--fractions must lie in (0, 1]")
    return args


def xgb(variant: str):
    threads, overrides = VARIANTS[variant]
    return make_model("xgb", profile="paper", n_threads=threads, random_state=0, **overrides)


def timed_fit(model: Any, X: np.ndarray, y: np.ndarray) -> float:
    start = time.perf_counter()
    model.fit(X, y)
    return time.perf_counter() - start


def fit_curve(data: Any, variants: list[str], fractions: list[float], with_rf: bool) -> list[dict[str, Any]]:
    """Fit seconds and ID-test errors per variant and size; predictions compared with ``base``."""
    pool, test = data.pool, data.test
    order = pool_permutation(0, len(pool))
    rows: list[dict[str, Any]] = []
    for fraction in fractions:
        train = order[: max(1, round(fraction * len(pool)))]
        reference = None
        for variant in variants:
            model = xgb(variant)
            seconds = timed_fit(model, pool.X[train], pool.y[train])
            predicted = model.predict(test.X)
            if variant == "base":
                reference = predicted
            row = {"model": "xgb", "variant": variant, "fraction": fraction, "n_train": int(train.size),
                   "fit_seconds": seconds, **metrics(test.y, predicted)}
            if reference is not None and variant != "base":
                row["max_abs_diff_vs_base"] = float(np.max(np.abs(predicted - reference)))
            rows.append(row)
            print(f"xgb {variant:9s} n={train.size:6d} fit {seconds:6.1f} s  rmse {row['rmse']:.4f}",
                  file=sys.stderr, flush=True)
        if with_rf:
            model = make_model("rf", profile="paper", n_threads=2, random_state=0)
            seconds = timed_fit(model, pool.X[train], pool.y[train])
            rows.append({"model": "rf", "variant": "base", "fraction": fraction, "n_train": int(train.size),
                         "fit_seconds": seconds, **metrics(test.y, model.predict(test.X))})
            print(f"rf  base      n={train.size:6d} fit {seconds:6.1f} s", file=sys.stderr, flush=True)
    return rows


def pruning_order(data: Any, variant: str, threshold: float | None, compare: Path | None,
                  save: Path | None, prune_seed: int = 0) -> dict[str, Any]:
    """Time the XGB-guided pruning order (one guide fit per round) and check it against ``compare``."""
    kappa, settings = settings_from_profile("paper")
    guide = xgb(variant)
    start = time.perf_counter()
    threshold_seconds = 0.0
    if threshold is None:
        threshold, _ = pruning_threshold(guide, data.pool.X, data.pool.y, data.test.X, data.test.y,
                                         kappa=kappa)
        threshold_seconds = time.perf_counter() - start
    start = time.perf_counter()
    result = prune(guide, data.pool.X, data.pool.y, threshold, progress=False, random_state=prune_seed,
                   **settings)
    wall = time.perf_counter() - start
    fits = float(result.fit_seconds.sum())
    if save is not None:
        result.save(save)
    report: dict[str, Any] = {
        "variant": variant, "prune_seed": prune_seed, "threshold": threshold,
        "threshold_fit_seconds": threshold_seconds,
        "n_rounds": result.n_rounds, "n_fits": result.n_rounds, "wall_seconds": wall,
        "sum_fit_seconds": fits, "sum_predict_seconds": float(result.predict_seconds.sum()),
        "wall_over_fit": wall / fits, "target_wall_over_fit": 1.05,
        "authors_seconds": AUTHORS_ORDER_SECONDS, "authors_over_ours": AUTHORS_ORDER_SECONDS / wall,
        "authors_over_ours_with_threshold": AUTHORS_ORDER_SECONDS / (wall + threshold_seconds),
        "target_speedup": 4.0,
        "retained_fractions": [round(float(s) / result.n_pool, 4) for s in result.round_sizes],
        "fit_seconds_per_round": [round(float(s), 2) for s in result.fit_seconds],
    }
    if compare is not None:
        committed = PruningResult.load(compare)
        report["compare_order"] = str(compare)
        report["same_order_as_committed"] = bool(np.array_equal(committed.order, result.order)
                                                 and np.array_equal(committed.removal_round,
                                                                    result.removal_round))
        report["committed_rounds"] = committed.n_rounds
    print(f"order ({variant}): {result.n_rounds} rounds, wall {wall:.0f} s, fits {fits:.0f} s, "
          f"wall/fit {wall / fits:.3f}; authors' 2,566 s / ours = {AUTHORS_ORDER_SECONDS / wall:.2f}",
          file=sys.stderr, flush=True)
    return report


def evaluate_orders(data: Any, orders: dict[str, str], fractions: tuple[float, ...] = (0.1, 0.2, 0.3, 0.5),
                    n_boot: int = 1000) -> list[dict[str, Any]]:
    """Errors of each order's pruned sets, and paired differences to the reference order's."""
    test_y = data.test.y
    resamples = np.random.default_rng(0).integers(0, test_y.size, size=(n_boot, test_y.size))

    def rmse_mae(predicted: np.ndarray) -> np.ndarray:  # (n_boot, 2) over the resampled test sets
        error = (predicted - test_y)[resamples]
        return np.stack([np.sqrt((error ** 2).mean(axis=1)), np.abs(error).mean(axis=1)], axis=1)

    rows = []
    names = list(orders)
    removal_rounds = {name: PruningResult.load(path).removal_round for name, path in orders.items()}
    for fraction in fractions:
        predictions = {}
        for name in names:
            mask, _ = retained_mask(removal_rounds[name], fraction)
            seeds = (0, 1) if name == names[0] else (0,)
            for seed in seeds:
                model = make_model("xgb", profile="paper", n_threads=2, random_state=seed)
                model.fit(data.pool.X[mask], data.pool.y[mask])
                label = name if seed == 0 else f"{name} (XGB seed 1)"
                predictions[label] = (model.predict(data.test.X), int(mask.sum()))
        reference = rmse_mae(predictions[names[0]][0])
        reference_point = metrics(test_y, predictions[names[0]][0])
        for label, (predicted, size) in predictions.items():
            row = {"order": label, "fraction": fraction, "n_train": size, **metrics(test_y, predicted)}
            if label != names[0]:
                diff = rmse_mae(predicted) - reference
                for column, metric in enumerate(("rmse", "mae")):
                    lo, hi = np.percentile(diff[:, column], [2.5, 97.5])
                    row[f"diff_{metric}"] = row[metric] - reference_point[metric]
                    row[f"diff_{metric}_lo"], row[f"diff_{metric}_hi"] = float(lo), float(hi)
            rows.append(row)
            diff = (f"  diff {row['diff_rmse']:+.4f} [{row['diff_rmse_lo']:+.4f}, {row['diff_rmse_hi']:+.4f}]"
                    if "diff_rmse" in row else "")
            print(f"eval {label:24s} {fraction:.2f} n={size:6d} rmse {row['rmse']:.4f} "
                  f"mae {row['mae']:.4f}{diff}", file=sys.stderr, flush=True)
    return rows


def ibug_scoring(data: Any, train_frac: float) -> dict[str, Any]:
    """Milliseconds per pool row of XGB-U's neighbour search, with and without the repeated-row dedupe."""
    order = pool_permutation(0, len(data.pool))
    n_train = round(train_frac * len(data.pool))
    train, query = order[:n_train], order[n_train:]
    model = make_model("xgb_ibug", profile="paper", n_threads=2, random_state=0)
    fit_seconds = timed_fit(model, data.pool.X[train], data.pool.y[train])
    start = time.perf_counter()
    searcher = IBUGRegressor(model, **config.IBUG_PARAMS).fit(data.pool.X[train], data.pool.y[train])
    index_seconds = time.perf_counter() - start
    X_query = data.pool.X[query]
    start = time.perf_counter()
    deduped = searcher.kneighbors(X_query)
    deduped_seconds = time.perf_counter() - start
    every_row = ibug._repeated_rows
    ibug._repeated_rows = lambda X: None  # the search without the dedupe, for the ratio
    try:
        start = time.perf_counter()
        plain = searcher.kneighbors(X_query)
        plain_seconds = time.perf_counter() - start
    finally:
        ibug._repeated_rows = every_row
    n_distinct = len(np.unique(X_query, axis=0))
    report = {
        "n_train": int(n_train), "n_query": int(query.size), "n_distinct_query_rows": int(n_distinct),
        "n_trees": searcher.n_trees_, "k": searcher.k_, "xgb_fit_seconds": fit_seconds,
        "index_seconds": index_seconds, "search_seconds_every_row": plain_seconds,
        "search_seconds_deduped": deduped_seconds,
        "ms_per_row_every_row": 1e3 * plain_seconds / query.size,
        "ms_per_row_deduped": 1e3 * deduped_seconds / query.size,
        "speedup": plain_seconds / deduped_seconds,
        "identical": bool(all(np.array_equal(a, b) for a, b in zip(plain, deduped, strict=True))),
    }
    print(f"ibug: {query.size} rows ({n_distinct} distinct) against {n_train}: "
          f"{report['ms_per_row_every_row']:.2f} -> {report['ms_per_row_deduped']:.2f} ms per row, "
          f"identical {report['identical']}", file=sys.stderr, flush=True)
    return report


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data = prepare("mp18_comp", "e_form", ood=[], id_test_ids=args.id_test_ids)
    report: dict[str, Any] = io.read_json(args.out) if args.out.exists() else {}
    report.update({
        "benchmark": "paper protocol cost", "dataset": "mp18_comp", "target": "e_form",
        "split": "authors' hold-out", "n_pool": len(data.pool), "n_test": len(data.test),
    })
    start = time.perf_counter()
    if "curve" in args.parts:
        report["curve"] = {"rows": fit_curve(data, args.variants, args.fractions, args.rf),
                           "loadavg_1min_after": os.getloadavg()[0]}
    if "order" in args.parts:
        key = "order" if args.order_variant == "base" else f"order_{args.order_variant}"
        key += f"_seed{args.prune_seed}" if args.prune_seed else ""
        timed = pruning_order(data, args.order_variant, args.threshold, args.compare_order, args.save_order,
                              args.prune_seed)
        report[key] = {**timed, "loadavg_1min_after": os.getloadavg()[0]}
    if "eval" in args.parts:
        report["eval"] = {"orders": args.eval_orders, "rows": evaluate_orders(data, args.eval_orders)}
    if "ibug" in args.parts:
        key = "ibug" if args.ibug_train_frac == 0.5 else f"ibug_train{args.ibug_train_frac:g}"
        report[key] = {**ibug_scoring(data, args.ibug_train_frac),
                       "loadavg_1min_after": os.getloadavg()[0]}
    report["environment"] = {"python": platform.python_version(), "numpy": np.__version__,
                             "sklearn": sklearn.__version__, "xgboost": xgboost.__version__,
                             "cores": available_cores(), "machine": platform.machine(),
                             "seconds_this_run": time.perf_counter() - start}
    io.write_json(args.out, report)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
