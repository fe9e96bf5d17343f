"""DIRECT as published (maml's components) against lessdata's earlier variant, with paired intervals.

Issue 27 asked whether the verdict on DIRECT rests on our implementation.  lessdata's first ``direct``
took the n *largest* Birch leaf clusters; the published method (Qi et al. 2024) clusters into exactly n
clusters and takes the entry nearest each centre, which ``direct_maml`` runs with maml's own PCA,
Birch and stratified-sampling components.  Both were run on the same split and seeds of a results
folder (``codes/select_subsets.py --methods direct,direct_maml``); this script reads the stored test
predictions and prints, per fraction and metric, the paired difference published - variant and each
one's difference to random subsets, with 95 % intervals from the report's hierarchical bootstrap
(test entries by formula, seeds resampled) and Holm-adjusted p-values over the whole table.

Example (a minute on 2 cores)::

    .venv/bin/python benchmarks/bench_direct_variants.py results/selectors_mp18_comp
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from lessdata.analysis.intervals import holm
from lessdata.analysis.summary import ALPHA, bootstrap_for
from lessdata.reporting.formatting import md_table

BENCH_DIR = Path(__file__).resolve().parent
FRACTIONS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7)
PAIRS = (("direct_maml", "direct"), ("direct_maml", "random"), ("direct", "random"))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("folder", type=Path, help="results folder holding direct and direct_maml cells")
    parser.add_argument("--dataset", default="mp18_comp")
    parser.add_argument("--target", default="e_form")
    parser.add_argument("--model", default="xgb")
    parser.add_argument("--n-boot", type=int, default=None, help="resamples (default: the report's)")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results" / "bench_direct_variants.json")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Compute the table, write JSON and Markdown beside it, print the Markdown."""
    args = parse_args(argv)
    boot = bootstrap_for(args.folder, args.dataset, args.target, model=args.model, n_boot=args.n_boot)
    rows = []
    for fraction in FRACTIONS:
        for metric in ("rmse", "mae"):
            for a, b in PAIRS:
                estimate = boot.difference(args.model, a, b, fraction, metric)
                rows.append({"fraction": fraction, "metric": metric, "comparison": f"{a} - {b}",
                             "difference": estimate.point, "lo": estimate.lo, "hi": estimate.hi,
                             "p": estimate.p_value,
                             "curve_a": boot.curve(args.model, a, fraction, metric).point,
                             "curve_b": boot.curve(args.model, b, fraction, metric).point})
    table = pd.DataFrame(rows)
    table["p_holm"] = holm(table["p"].to_numpy(dtype=np.float64))
    table["verdict"] = np.where(~np.isfinite(table["difference"]), "not measured",
                                np.where(table["p_holm"] >= ALPHA, "not resolved",
                                         np.where(table["difference"] < 0, "lower error", "higher error")))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"folder": str(args.folder), "dataset": args.dataset,
                                    "target": args.target, "model": args.model, "n_boot": boot.n_boot,
                                    "rows": table.to_dict("records")}, indent=1) + "\n")
    shown = pd.DataFrame({
        "share": [f"{f:.0%}" for f in table["fraction"]], "metric": table["metric"].str.upper(),
        "comparison": table["comparison"],
        "A / B": [f"{a:.4f} / {b:.4f}" for a, b in zip(table["curve_a"], table["curve_b"], strict=True)],
        "A − B [95 %]": [f"{d:+.4f} [{lo:+.4f}, {hi:+.4f}]"
                         for d, lo, hi in zip(table["difference"], table["lo"], table["hi"], strict=True)],
        "Holm p": [f"{p:.3g}" for p in table["p_holm"]], "verdict (A vs B)": table["verdict"]})
    text = "\n".join([
        f"# DIRECT as published against lessdata's variant ({args.dataset} {args.target}, {args.model})", "",
        f"Written by `benchmarks/bench_direct_variants.py {args.folder}`; {boot.n_boot} resamples of the "
        "report's hierarchical bootstrap (test entries by formula, seeds resampled); Holm over the "
        f"{int(np.isfinite(table['p']).sum())} comparisons below. `direct_maml`: maml's PCA, Birch into "
        "exactly n clusters, the entry nearest each centre; `direct`: our variant, the n largest Birch "
        "leaf clusters. Errors in the target's unit; negative = A has the lower error.", "",
        md_table(shown)])
    args.out.with_suffix(".md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
