"""The study on one dataset, end to end: the steps behind ``lessdata demo`` and ``run_demo.bash``.

Random baselines (XGB with the profile's seeds, RF with one), XGB-guided pruning (evaluated with XGB
and, as transfer, RF), OOD evaluation, active learning (QBC, seed 1, to 30 %, against the random
subsets of the same seed), then figures and the report with 95 % intervals.  ``--full`` adds what is
left out to stay near 20 minutes on 2 cores: the second RF seed, RF-guided pruning, the random
campaign at every 1 % step, the RF-U and XGB-U strategies, AL seed 0 and AL up to the profile's range.

Each step runs as its own ``lessdata`` command in a fresh process (exactly what ``run_demo.bash`` ran
before it called this module) and skips work already in the results folder, so rerunning after an
interruption continues.  It works from any folder: outside a clone, data go to the per-user cache and
results and figures under the current folder (:mod:`lessdata.config`).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from lessdata import config

__all__ = ["demo_parser", "demo_steps", "demo_main"]


def demo_parser() -> argparse.ArgumentParser:
    """Options of ``lessdata demo`` (and ``run_demo.bash``)."""
    parser = argparse.ArgumentParser(
        prog="lessdata demo", description=__doc__.split("\n\n")[0],
        epilog="examples:\n  lessdata demo                          quick profile on mp18_comp, e_form\n"
               "  lessdata demo --profile paper --out results/paper   the study's protocol (hours)\n"
               "  lessdata demo --dataset oqmd_icsd --target e_form,bandgap",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="mp18_comp", help="dataset key (default: mp18_comp)")
    parser.add_argument("--target", "--targets", dest="targets", default="e_form",
                        help="target(s), comma-separated (default: e_form)")
    parser.add_argument("--profile", default="quick", choices=("quick", "paper"))
    parser.add_argument("--n-jobs", type=int, default=2, help="worker processes (default: 2)")
    parser.add_argument("--out", type=Path, default=None, help="results folder (default: results/)")
    parser.add_argument("--figs", type=Path, default=None, help="figures folder (default: figs/)")
    parser.add_argument("--al-seeds", default=None, help="active-learning seeds (default 1; --full: 0,1)")
    parser.add_argument("--full", action="store_true", help="the whole protocol, not the 20-minute cut")
    parser.add_argument("--ood", help="OOD sets (see `lessdata random --help`), or none")
    parser.add_argument("--id-test-ids", help="file of ID test ids (e.g. the authors' split)")
    parser.add_argument("--split-seeds", help="several random ID splits, comma-separated")
    return parser


def _shown(folder: Path) -> Path:
    """``folder`` relative to the current folder when inside it (``results``, as the scripts always wrote)."""
    try:
        return folder.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return folder


def demo_steps(args: argparse.Namespace) -> list[tuple[str, list[str]]]:
    """The study's commands in order, as (label, ``lessdata`` arguments)."""
    out = str(args.out if args.out is not None else _shown(config.results_dir()))
    figs = str(args.figs if args.figs is not None else _shown(config.figs_dir()))
    split_args = [item for flag, value in (("--ood", args.ood), ("--id-test-ids", args.id_test_ids),
                                           ("--split-seeds", args.split_seeds)) if value
                  for item in (flag, value)]
    common = ["--dataset", args.dataset, "--profile", args.profile, "--n-jobs", str(args.n_jobs),
              "--out", out, *split_args]
    steps = [(f"dataset and features: {args.dataset}",
              ["featurize", "--dataset", args.dataset, "--no-progress"])]
    for target in [item for item in args.targets.split(",") if item]:
        # Default: the profile's XGB seeds, one RF seed, AL to 30 %; --full: the profile's seeds and range.
        # Random AL draws the random baseline's nested subsets (same seed, same rows, same cells), so QBC
        # is compared with the baseline at its sizes; --full also runs random at every 1 % step.
        rf_seeds, al_range, guides, strategies = ["--seeds", "1"], ["--stop-frac", "0.3"], ["xgb"], "qbc"
        al_seeds = args.al_seeds or "1"
        if args.full:
            rf_seeds, al_range, guides, strategies = [], [], ["xgb", "rf"], "random,qbc,rf_u,xgb_u"
            al_seeds = args.al_seeds or "0,1"
        steps.append((f"random baselines ({target})",
                      ["random", *common, "--target", target, "--models", "xgb"]))
        steps.append((f"random baselines ({target}, rf)",
                      ["random", *common, "--target", target, "--models", "rf", *rf_seeds]))
        for guide in guides:
            steps.append((f"pruning guided by {guide} ({target})",
                          ["prune", *common, "--target", target, "--guide", guide]))
        steps.append((f"active learning ({target}: {strategies})",
                      ["al", *common, "--target", target, "--strategies", strategies, "--seeds", al_seeds,
                       *al_range]))
    steps.append(("figures and report", ["figures", "--results", out, "--out", figs]))
    return steps


def demo_main(argv: Sequence[str] | None = None) -> int:
    """Run every step; stop at the first that fails (its status is returned)."""
    args = demo_parser().parse_args(argv)
    started = last = time.time()
    for label, arguments in demo_steps(args):
        now = time.time()
        print(f"\n=== [{now - started:.0f} s, previous step {now - last:.0f} s] {label}", flush=True)
        last = now
        status = subprocess.call([sys.executable, "-m", "lessdata.cli.console", *arguments])
        if status != 0:
            print(f"lessdata demo: step '{label}' failed (exit {status}); rerun to continue", file=sys.stderr)
            return status
    print(f"\n=== done in {time.time() - started:.0f} s")
    out = args.out if args.out is not None else _shown(config.results_dir())
    print(f"results: {out}/scores.csv, {out}/summary.csv, {out}/REPORT.md")
    print(f"figures: {args.figs if args.figs is not None else _shown(config.figs_dir())}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(demo_main())
