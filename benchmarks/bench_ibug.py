"""Benchmark IBUG neighbour search: brute-force reference vs the fast path, in one run.

Real data: compositions sampled from matminer's bundled Materials Project transport database
(``mp_transport/transport_database.tar.xz``), featurized with the study's 145 compositional features
(Magpie element properties, stoichiometry, valence-orbital fractions, ion properties), target = the
real Seebeck coefficient ``S_p``.  The study's IBUG XGB (``make_model("xgb_ibug")``, ``--trees`` trees)
is trained on ``--train`` rows; IBUG is tuned on ``--val`` rows; then, from the same leaf indices:

* brute force (``lessdata.models.ibug._brute_force_topk``: per row, compare with every training row) on
  ``--brute-rows`` query rows;
* scipy sparse product ``Q @ T.T`` (the textbook formulation) on ``--sparse-rows`` rows;
* the fast path (bit-packed leaf sets, carry-save counters, argpartition) on all ``--query`` rows;

asserting identical neighbours, affinities and scales on the rows every path scored, and reporting
seconds per query row, the ratio to brute force, and peak memory (tracemalloc peak of the fast
``pred_dist`` on all query rows; process max RSS).  Prints a table and writes JSON to ``--out``.

Example::

    .venv/bin/python benchmarks/bench_ibug.py                        # defaults, ~1.5 min on 2 cores
    .venv/bin/python benchmarks/bench_ibug.py --train 8000 --trees 1000 --out /tmp/big.json
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import tarfile
import time
import tracemalloc
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path
from typing import Any

import matminer
import numpy as np
import pandas as pd
import scipy
import sklearn
import xgboost
from matminer.featurizers.base import MultipleFeaturizer
from matminer.featurizers.composition import ElementProperty, IonProperty, Stoichiometry, ValenceOrbital
from pymatgen.core import Composition

from lessdata.models import ibug
from lessdata.models.factory import available_cores, make_model

TRANSPORT_ARCHIVE = "utils/data_files/mp_transport/transport_database.tar.xz"
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "bench_ibug.json"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--train", type=int, default=3000, help="training rows (IBUG neighbour pool)")
    parser.add_argument("--val", type=int, default=500, help="validation rows used to tune k")
    parser.add_argument("--query", type=int, default=1000, help="query rows scored by the fast path")
    parser.add_argument("--brute-rows", type=int, default=100, help="query rows scored by brute force")
    parser.add_argument("--sparse-rows", type=int, default=200,
                        help="query rows scored by the scipy sparse product (0: skip)")
    parser.add_argument("--trees", type=int, default=500, help="boosting rounds of the IBUG XGB")
    parser.add_argument("--features", choices=("compositional145", "magpie"), default="compositional145",
                        help="feature set (magpie: the 132 Magpie features only, ~10%% faster)")
    parser.add_argument("--threads", type=int, default=min(2, available_cores()),
                        help="XGBoost threads (training, apply, predict)")
    parser.add_argument("--max-memory-gb", type=float, default=4.0, help="IBUG chunk memory bound")
    parser.add_argument("--seed", type=int, default=0, help="sampling and model seed")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results path")
    args = parser.parse_args(argv)
    for name in ("train", "val", "query", "brute_rows", "trees", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.brute_rows > args.query or args.sparse_rows > args.query:
        parser.error("--brute-rows and --sparse-rows must not exceed --query")
    return args


def load_materials(n_rows: int, feature_set: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n_rows`` distinct real MP compositions, featurized, with their Seebeck coefficients."""
    with tarfile.open(files("matminer") / TRANSPORT_ARCHIVE) as archive:
        table = pd.read_csv(archive.extractfile("transport_database.csv"))
    distinct = table.drop_duplicates("pretty_formula")
    if n_rows > len(distinct):
        raise SystemExit(f"asked for {n_rows} rows but the transport database has {len(distinct)} formulas")
    sample = distinct.sample(n_rows, random_state=seed)
    featurizers = [ElementProperty.from_preset("magpie")]
    if feature_set == "compositional145":
        featurizers += [Stoichiometry(), ValenceOrbital(props=["frac"]), IonProperty(fast=True)]
    featurizer = MultipleFeaturizer(featurizers)
    featurizer.set_n_jobs(1)
    X = np.array(featurizer.featurize_many([Composition(f) for f in sample["pretty_formula"]],
                                           pbar=False), dtype=float)
    finite = np.isfinite(X).all(axis=1)
    if not finite.all():
        print(f"dropping {np.count_nonzero(~finite)} rows whose features failed", file=sys.stderr)
    return X[finite], sample["S_p"].to_numpy(dtype=float)[finite]


def timed(function: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    n_total = args.train + args.val + args.query
    (X, y), featurize_s = timed(lambda: load_materials(n_total, args.features, args.seed))
    if len(y) < n_total:
        raise SystemExit(f"only {len(y)} rows featurized, need {n_total}")
    X_train, y_train = X[:args.train], y[:args.train]
    X_val, y_val = X[args.train:args.train + args.val], y[args.train:args.train + args.val]
    X_query = X[args.train + args.val:]

    model = make_model("xgb_ibug", profile="paper", n_estimators=args.trees, n_threads=args.threads,
                       random_state=args.seed)
    _, model_fit_s = timed(lambda: model.fit(X_train, y_train))
    ibug_model = ibug.IBUGRegressor(model, max_memory_gb=args.max_memory_gb)
    _, ibug_fit_s = timed(lambda: ibug_model.fit(X_train, y_train, X_val, y_val))
    k = ibug_model.k_

    train_leaves = ibug.leaf_indices(model, X_train)
    query_leaves, apply_s = timed(lambda: ibug.leaf_indices(model, X_query))
    n_trees = train_leaves.shape[1]
    leaf_columns = ibug_model.leaf_columns_
    train_columns = leaf_columns.columns(train_leaves)
    sizes = np.bincount(train_columns.ravel(), minlength=leaf_columns.n_columns)  # rows per leaf

    def fast_scale() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        indices, affinities = ibug._search_chunks(
            lambda rows: leaf_columns.columns(query_leaves[rows]), len(X_query), ibug_model.leaf_bitsets_,
            args.train, n_trees, k, args.max_memory_gb)
        return indices, affinities, np.maximum(np.std(y_train[indices], axis=1), ibug_model.min_scale)

    (fast_idx, fast_aff, fast_raw), fast_s = timed(fast_scale)
    brute_rows = slice(0, args.brute_rows)
    (brute_idx, brute_aff), brute_s = timed(
        lambda: ibug._brute_force_topk(query_leaves[brute_rows], train_leaves, k))
    brute_raw = np.maximum(np.std(y_train[brute_idx], axis=1), ibug_model.min_scale)
    identical = bool(np.array_equal(fast_idx[brute_rows], brute_idx)
                     and np.array_equal(fast_aff[brute_rows], brute_aff)
                     and np.array_equal(fast_raw[brute_rows], brute_raw))
    assert identical, "fast path and brute force disagree"

    sparse_per_row = None
    if args.sparse_rows:
        members = leaf_columns.incidence(train_columns).T.tocsr()
        sparse_rows = slice(0, args.sparse_rows)

        def sparse_topk() -> tuple[np.ndarray, np.ndarray]:
            query_incidence = leaf_columns.incidence(leaf_columns.columns(query_leaves[sparse_rows]))
            return ibug._topk_from_affinity(ibug._sparse_affinity(query_incidence, members), k, n_trees)

        (sparse_idx, sparse_aff), sparse_s = timed(sparse_topk)
        assert np.array_equal(sparse_idx, fast_idx[sparse_rows]), "sparse product disagrees"
        assert np.array_equal(sparse_aff, fast_aff[sparse_rows]), "sparse product disagrees"
        sparse_per_row = sparse_s / args.sparse_rows
        del members

    _, pred_dist_s = timed(lambda: ibug_model.pred_dist(X_query))
    tracemalloc.start()
    ibug_model.pred_dist(X_query)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    brute_per_row = brute_s / args.brute_rows
    fast_per_row = fast_s / len(X_query)
    result = {
        "benchmark": "ibug_neighbour_search",
        "data": {"source": f"matminer {TRANSPORT_ARCHIVE}", "target": "S_p", "features": args.features,
                 "n_features": int(X.shape[1]), "n_train": args.train, "n_val": args.val,
                 "n_query": len(X_query), "n_brute_rows": args.brute_rows, "n_sparse_rows": args.sparse_rows},
        "model": {"name": "xgb_ibug", "n_trees": int(n_trees), "threads": args.threads,
                  "leaf_columns": leaf_columns.n_columns,
                  "mean_leaf_size": float(sizes.mean()),
                  # what the sparse product pays per (row, tree): the size of the row's own leaf
                  "mean_leaf_size_seen_by_a_row": float((sizes.astype(float) ** 2).sum() / sizes.sum())},
        "ibug": {"k": int(k), "gamma": ibug_model.gamma_, "delta": ibug_model.delta_,
                 "val_nll": ibug_model.val_nll_, "val_nll_uncalibrated": ibug_model.val_nll_by_k_[k],
                 "max_memory_gb": args.max_memory_gb},
        "seconds": {"featurize": featurize_s, "model_fit": model_fit_s, "ibug_fit_tuning": ibug_fit_s,
                    "xgb_apply_query": apply_s, "pred_dist_all_query": pred_dist_s},
        "per_row_seconds": {"brute_force": brute_per_row, "sparse_product": sparse_per_row,
                            "fast": fast_per_row, "fast_pred_dist_end_to_end": pred_dist_s / len(X_query)},
        "speedup_vs_brute_force": {"fast": brute_per_row / fast_per_row,
                                   "sparse_product": None if sparse_per_row is None
                                   else brute_per_row / sparse_per_row},
        "identical_on_sampled_rows": identical,
        "memory": {"pred_dist_traced_peak_mb": traced_peak / 1e6,
                   "fitted_leaf_bitsets_mb": ibug_model.leaf_bitsets_.nbytes / 1e6,
                   "process_max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3},
        "environment": {"python": platform.python_version(), "numpy": np.__version__,
                        "scipy": scipy.__version__, "xgboost": xgboost.__version__,
                        "scikit-learn": sklearn.__version__, "matminer": matminer.__version__,
                        "cores_available": available_cores(), "machine": platform.machine()},
        "total_seconds": time.perf_counter() - started,
    }

    rows = [("brute force (reference)", brute_per_row, args.brute_rows, 1.0),
            ("scipy sparse Q @ T.T", sparse_per_row, args.sparse_rows,
             result["speedup_vs_brute_force"]["sparse_product"]),
            ("fast (bitset counters)", fast_per_row, len(X_query), result["speedup_vs_brute_force"]["fast"]),
            ("pred_dist incl. xgboost", pred_dist_s / len(X_query), len(X_query), None)]
    print(f"IBUG neighbour search: {args.train} training rows x {n_trees} trees x {X.shape[1]} features, "
          f"k={k}, {args.threads} XGBoost threads")
    print(f"{'path':<30}{'ms / row':>10}{'rows':>8}{'speedup':>10}")
    for name, per_row, n_rows, speedup in rows:
        if per_row is not None:
            ratio = "" if speedup is None else f"{speedup:.1f}x"
            print(f"{name:<30}{per_row * 1e3:>10.3f}{n_rows:>8}{ratio:>10}")
    print(f"identical on sampled rows: {identical}; pred_dist peak traced memory "
          f"{traced_peak / 1e6:.1f} MB; leaf bitsets {ibug_model.leaf_bitsets_.nbytes / 1e6:.1f} MB; "
          f"max RSS {result['memory']['process_max_rss_mb']:.0f} MB")
    print("times exclude xgboost's leaf lookup (same for every path) except the pred_dist row, which is "
          f"IBUGRegressor.pred_dist end to end (xgboost apply {apply_s / len(X_query) * 1e3:.3f} ms/row)")
    print(f"fit: model {model_fit_s:.1f} s, IBUG tuning {ibug_fit_s:.2f} s; featurize {featurize_s:.1f} s; "
          f"total {result['total_seconds']:.1f} s")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    temporary = args.out.with_suffix(args.out.suffix + ".tmp")
    temporary.write_text(json.dumps(result, indent=2) + "\n")
    temporary.replace(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
