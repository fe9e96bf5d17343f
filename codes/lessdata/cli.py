"""Argument parsing and entry points shared by the scripts in ``codes/``.

Every script prints ``--help``, and exits with status 2 and a one-line reason on bad input (unknown
dataset, target, model, a fraction outside (0, 1], a bad file) instead of a traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from lessdata import active, config
from lessdata import io as lio
from lessdata.analysis import interval_summary
from lessdata.baseline import random_cells
from lessdata.datasets import DatasetError, all_specs, load_dataset, register_user_dataset, resolve
from lessdata.evaluate import ExperimentData
from lessdata.models import MODELS
from lessdata.runner import ResultsStore, RunContext, experiment_data, manifest_data, run_cells, summarize


def comma_list(text: str) -> list[str]:
    """Parse ``a,b,c`` into a list, dropping blanks."""
    return [part.strip() for part in text.split(",") if part.strip()]


def unit_fraction(text: str) -> float:
    """argparse type of one fraction of the pool in (0, 1] (a bad value exits with status 2 and usage)."""
    try:
        value = float(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text!r}") from error
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"fraction {value:g} is outside (0, 1]")
    return value


def fraction_list(text: str) -> list[float]:
    """Parse ``0.1,0.5,1`` into fractions in (0, 1]."""
    return [unit_fraction(part) for part in comma_list(text)]


def add_data_args(parser: argparse.ArgumentParser, *, target: bool = True) -> None:
    """--dataset / --target."""
    parser.add_argument("--dataset", default="mp18_comp",
                        help="registered dataset name or alias (default: the embedded mp18_comp)")
    if target:
        parser.add_argument("--target", default="e_form", help="target column (default: e_form)")


def add_run_args(parser: argparse.ArgumentParser) -> None:
    """Options of every experiment script."""
    parser.add_argument("--profile", choices=sorted(config.PROFILES), default="quick",
                        help="quick: coarse grid, few seeds, light ensembles (minutes on 2 cores); "
                             "paper: the study's protocol (default: quick)")
    parser.add_argument("--out", type=Path, default=config.results_dir(),
                        help="results folder shared by all scripts of one study (default: results/)")
    parser.add_argument("--n-jobs", type=int, default=1,
                        help="local worker processes; threads per worker = cores / n-jobs (default: 1)")
    parser.add_argument("--scheduler", default=None,
                        help="dask.distributed scheduler address (tcp://host:8786) to run cells on a "
                             "cluster; workers must see the same data/ and --out folders")
    parser.add_argument("--ood", type=ood_list, default=None,
                        help="OOD sets, e.g. newest=0.1,element=Li+Co,cluster=10,target=0.05,version, or "
                             "none (the whole table is pool + ID test, as in the study's MP18); default: "
                             "version for paper snapshots with a later one, newest for Materials Project "
                             "ids (mp-N), else none")
    parser.add_argument("--id-test-ids", type=Path, default=None, metavar="FILE",
                        help="use these entries (one id per line) as the ID test set instead of a random "
                             "10 %% hold-out, e.g. data/mp18_comp_authors_test_ids.txt (the authors' split)")
    parser.add_argument("--split-seeds", type=seed_list, default=None, metavar="S1,S2",
                        help="seeds of repeated random 90/10 ID hold-out splits (default: 0); every method "
                             "reruns per split and the report folds the split spread into its intervals")
    parser.add_argument("--device", choices=["cpu", "cuda", "auto"], default="cpu",
                        help="XGBoost/ALIGNN device (default: cpu; cuda falls back to cpu with a warning)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def ood_list(text: str) -> list[str]:
    """Parse ``--ood``: OOD splitter specs, or ``none`` for no OOD set (an empty list)."""
    specs = comma_list(text)
    if [spec.lower() for spec in specs] == ["none"]:
        return []
    if any(spec.lower() == "none" for spec in specs):
        raise argparse.ArgumentTypeError("--ood none cannot be combined with other OOD sets")
    return specs


def context_from(args: argparse.Namespace, n_threads: int = 1) -> RunContext:
    """RunContext from parsed experiment arguments; claims the results folder for these settings.

    Raises:
        SettingsMismatchError: ``--out`` holds results of another profile or other hyperparameters.
    """
    if args.n_jobs < 1:
        raise ValueError("--n-jobs must be at least 1")
    id_test_ids = getattr(args, "id_test_ids", None)
    split_seeds = tuple(getattr(args, "split_seeds", None) or (config.ID_SPLIT_SEED,))
    if id_test_ids is not None and getattr(args, "split_seeds", None):
        raise ValueError("--id-test-ids fixes the ID test set; it cannot be combined with --split-seeds "
                         "(run the random splits as a second command into the same --out)")
    context = RunContext(str(args.out), args.profile, None if args.ood is None else tuple(args.ood),
                         args.device, n_threads, split_seeds=split_seeds,
                         id_test_ids=None if id_test_ids is None else str(id_test_ids))
    ResultsStore(args.out).claim(config.study_settings(args.profile))
    return context


def split_data(context: RunContext, dataset: str, target: str) -> list[ExperimentData]:
    """The prepared data of every ID hold-out split of a run (one, or one per ``--split-seeds``)."""
    seeds = (config.ID_SPLIT_SEED,) if context.id_test_ids else context.split_seeds
    prepared = [experiment_data(context, dataset, target, seed) for seed in seeds]
    print(prepared[0].dataset.summary())
    for data in prepared:
        print(data.split.summary())
    return prepared


def run_main(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None) -> int:
    """Run a script's main, turning input errors into one line on stderr and exit status 2."""
    # pymatgen warns once per noble-gas composition that it has no electronegativity; matminer handles it.
    warnings.filterwarnings("ignore", message="No Pauling electronegativity")
    try:
        return main(argv)
    except (DatasetError, ValueError, KeyError, FileNotFoundError) as error:
        message = str(error).strip() or type(error).__name__
        print(f"error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished work is saved; rerun the same command to continue", file=sys.stderr)
        return 130


def print_table(frame: pd.DataFrame, floatfmt: str = "{:.4g}") -> None:
    """Print a frame as an aligned text table."""
    if frame.empty:
        print("(no rows)")
        return
    print(frame.to_string(index=False, float_format=lambda value: floatfmt.format(value)))


# --------------------------------------------------------------------------------------------------
# featurize.py
# --------------------------------------------------------------------------------------------------
def featurize_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="featurize.py",
        description="Build, download or register a dataset and compute its matminer features (cached). "
                    "With --dataset: the embedded mp18_comp, a paper dataset from Zenodo (downloaded "
                    "once) or a registered one. With --input: register your own table under data/NAME/.",
        epilog="examples:\n  python codes/featurize.py --dataset mp18_comp\n"
               "  python codes/featurize.py --dataset jarvis22\n"
               "  python codes/featurize.py --input my.csv --name mine --id-col id --formula-col formula "
               "--targets e_form,bandgap",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--list", action="store_true", help="list the registered datasets and exit")
    parser.add_argument("--dataset", help="dataset to build/download/featurize")
    parser.add_argument("--target", help="only this target (default: every target of the dataset)")
    parser.add_argument("--input", type=Path, help="your table (.csv, .json or .parquet)")
    parser.add_argument("--name", help="name to register your table under (then use --dataset NAME)")
    parser.add_argument("--id-col", help="column of unique entry ids")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--formula-col", help="column of chemical formulas (145 compositional features)")
    group.add_argument("--structure-col", help="column of structures: CIF text, POSCAR text, pymatgen "
                                               "dict/JSON or jarvis Atoms dict (273 features)")
    parser.add_argument("--targets", type=comma_list, help="target columns, comma-separated")
    parser.add_argument("--skip-invalid", action="store_true",
                        help="drop invalid rows (listed in data/NAME/skipped_rows.csv) instead of refusing "
                             "the file")
    parser.add_argument("--base-url", help="download paper datasets from this mirror instead of Zenodo")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return parser


def featurize_main(argv: Sequence[str] | None = None) -> int:
    args = featurize_parser().parse_args(argv)
    if args.list:
        rows = [{"dataset": s.key, "paper name": s.title, "source": s.source, "input": s.input_kind,
                 "aliases": ",".join(s.aliases), "targets": ",".join(s.targets), "note": s.note}
                for s in all_specs().values()]
        print_table(pd.DataFrame(rows))
        return 0
    if args.input is not None:
        missing = [flag for flag, value in (("--name", args.name), ("--id-col", args.id_col),
                                            ("--targets", args.targets)) if not value]
        if missing:
            raise DatasetError(f"--input also needs {', '.join(missing)}")
        spec = register_user_dataset(args.input, args.name, id_col=args.id_col, targets=args.targets,
                                     formula_col=args.formula_col, structure_col=args.structure_col,
                                     skip_invalid=args.skip_invalid, progress=not args.no_progress)
        print(f"registered {args.input} as dataset {spec.key!r} ({spec.input_kind}) in "
              f"{config.data_dir() / spec.key}")
        skipped = config.data_dir() / spec.key / "skipped_rows.csv"
        if skipped.exists():
            print(f"skipped invalid rows are listed in {skipped}")
        args.dataset = spec.key
    if not args.dataset:
        featurize_parser().print_usage(sys.stderr)
        raise DatasetError("give --dataset NAME, --input FILE ... or --list")
    spec = resolve(args.dataset)
    for target in [args.target] if args.target else list(spec.targets):
        started = time.perf_counter()
        dataset = load_dataset(spec.key, target, progress=not args.no_progress, base_url=args.base_url)
        print(dataset.summary())
        print(f"  features: {'from cache' if dataset.provenance.get('features_from_cache') else 'computed'}"
              f", {time.perf_counter() - started:.1f} s")
    return 0


# --------------------------------------------------------------------------------------------------
# random_baseline.py
# --------------------------------------------------------------------------------------------------
def random_baseline_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="random_baseline.py",
        description="Random-subsampling baseline: train each model on random subsets of the pool over "
                    "training-set sizes and seeds; score on the ID test set, the unused pool and the "
                    "OOD sets. Rows go to OUT/scores.csv; a rerun skips finished cells.",
        epilog="example:\n  python codes/random_baseline.py --dataset mp18_comp --target e_form "
               "--models xgb,rf --profile quick --n-jobs 2 --out results/",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(parser)
    parser.add_argument("--models", type=comma_list, default=["xgb", "rf"],
                        help=f"comma-separated models from {', '.join(m for m in MODELS if m != 'xgb_ibug')}"
                             " (default: xgb,rf)")
    parser.add_argument("--fractions", type=fraction_list, default=None,
                        help="training fractions of the pool, overriding the profile's grid")
    parser.add_argument("--seeds", type=int, default=None,
                        help="seeds per model (default: the profile's, e.g. paper 10 for trees, 5 ALIGNN)")
    add_run_args(parser)
    return parser


def check_models(models: Sequence[str]) -> None:
    """Refuse unknown model names with the list of known ones."""
    for model in models:
        if model not in MODELS:
            raise ValueError(f"unknown model {model!r}; choose from {', '.join(MODELS)}")


def random_baseline_main(argv: Sequence[str] | None = None) -> int:
    args = random_baseline_parser().parse_args(argv)
    check_models(args.models)
    if args.seeds is not None and args.seeds < 1:
        raise ValueError("--seeds must be at least 1")
    context = context_from(args)
    started = time.perf_counter()
    splits = split_data(context, args.dataset, args.target)
    data = splits[0]
    if "alignn" in args.models and not data.dataset.has_structures:
        data.pool.model_input("alignn")  # raises the clear composition-only error
    cells = [cell for prepared in splits
             for cell in random_cells(data.dataset.name, args.target, args.models, len(prepared.pool),
                                      profile=args.profile, fractions=args.fractions, seeds=args.seeds,
                                      split=prepared.split.label)]
    report = run_cells(cells, context, n_jobs=args.n_jobs, scheduler=args.scheduler,
                       progress=not args.no_progress, description="random baseline")
    store = ResultsStore(args.out)
    print(f"{report.n_run} cells run, {report.n_skipped} already done; wall {report.wall_seconds:.1f} s, "
          f"fits {report.fit_seconds:.1f} s")
    store.write_manifest("random_baseline", {**vars(args), "out": str(args.out)},
                         {"wall_seconds": round(time.perf_counter() - started, 2),
                          "cells_run": report.n_run, "cells_skipped": report.n_skipped,
                          "fit_seconds": round(report.fit_seconds, 2)}, manifest_data(data))
    write_summary(store)
    return 0


def write_summary(store: ResultsStore) -> pd.DataFrame:
    """Print the redundancy summary of everything in the store; save it with intervals as OUT/summary.csv.

    ``summary.csv`` holds the headline numbers with 95 % paired-bootstrap intervals
    (:func:`lessdata.analysis.interval_summary`); the printout adds the point summary at 5/10/20 %.
    """
    summary = summarize(store.read())
    print("\nredundancy summary (ID test RMSE; smallest training fraction within 5/10/20 % of full data):")
    print_table(summary)
    intervals = interval_summary(store.out_dir)
    if len(intervals):
        lio.write_csv(store.layout.summary, intervals)
        shown = intervals[["dataset", "target", "model", "curve", "full_rmse", "within10_rmse",
                           "within10_rmse_lo", "within10_rmse_hi", "within10_mae"]]
        print("\nwith 95 % paired-bootstrap intervals (all columns in summary.csv):")
        print_table(shown)
    return intervals


# --------------------------------------------------------------------------------------------------
# run_al.py
# --------------------------------------------------------------------------------------------------
def seed_list(text: str) -> list[int]:
    """Parse ``0,1,2`` into distinct non-negative integer seeds."""
    try:
        seeds = [int(part) for part in comma_list(text)]
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"seeds must be comma-separated integers, got {text!r}") from error
    if not seeds or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"seeds must be non-negative integers, got {text!r}")
    return list(dict.fromkeys(seeds))


def run_al_parser() -> argparse.ArgumentParser:
    strategy_help = {"random": "the next rows of the seeded permutation (= the random baseline's subsets)",
                     "qbc": "largest |RF - XGB| prediction (query by committee, the step's two models)",
                     "rf_u": "widest 5-95 % interval of the RF's per-tree predictions (the paper)",
                     "rf_u_std": "largest standard deviation of the RF's per-tree predictions",
                     "xgb_u": "largest IBUG scale of an xgb_ibug model, the paper's IBUG: k = 100, "
                              "uncalibrated (Brophy & Lowd 2022)",
                     "xgb_u_tuned": "xgb_u with our tuned IBUG: k and a scale calibration chosen on a "
                                    "hold-out of the selected rows"}
    parser = argparse.ArgumentParser(
        prog="run_al.py",
        description="Active learning (Li et al. 2023): from a random init fraction of the pool, each step "
                    "fits XGB and RF on the selected set, scores them (ID test, unused pool, OOD sets) and "
                    "adds a batch of step fraction x pool chosen by the strategy, up to the stop fraction. "
                    "Rows go to OUT/scores.csv (method = strategy), the selection order to "
                    "OUT/selections/al_*.json (the per-step checkpoint) and per-step diagnostics (Spearman "
                    "rho of scores vs true errors, batch vs pool error, calibration) to "
                    "OUT/al_diagnostics.csv. A rerun skips finished campaigns and continues interrupted "
                    "ones at their first unfinished step.",
        epilog="strategies:\n" + "\n".join(f"  {name:11s} {strategy_help.get(name, '')}"
                                            for name in active.STRATEGIES)
               + "\n\nexample:\n  python codes/run_al.py --dataset mp18_comp --target e_form "
                 "--strategies random,qbc,rf_u,xgb_u --seeds 0,1,2 --profile quick --n-jobs 2 "
                 "--full-reference --out results/",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(parser)
    parser.add_argument("--strategies", type=comma_list, default=["random", "qbc", "rf_u", "xgb_u"],
                        help=f"comma-separated query strategies from {', '.join(active.STRATEGIES)} "
                             "(default: random,qbc,rf_u,xgb_u)")
    parser.add_argument("--seeds", type=seed_list, default=None,
                        help="comma-separated seeds, e.g. 0,1,2; each seeds the initial set, the models and "
                             "the tie-breaks (default: 0..n-1 with the profile's tree seed count)")
    parser.add_argument("--init-frac", type=float, default=None,
                        help="initial random fraction of the pool (default: the profile's, 0.01)")
    parser.add_argument("--step-frac", type=float, default=None,
                        help="fraction of the pool added per step (default: the profile's; paper 0.01, "
                             "quick 0.02)")
    parser.add_argument("--stop-frac", type=float, default=None,
                        help="last training fraction (default: the profile's; paper 0.5, quick 0.21)")
    parser.add_argument("--full-reference", action="store_true",
                        help="also fit XGB and RF on the whole pool for each seed (random-baseline cells at "
                             "fraction 1, shared with random_baseline.py) so the summary can report the "
                             "smallest fraction within 10 %% of the full-data RMSE")
    add_run_args(parser)
    return parser


def run_al_main(argv: Sequence[str] | None = None) -> int:
    args = run_al_parser().parse_args(argv)
    active.check_strategies(args.strategies)
    context = context_from(args)
    started = time.perf_counter()
    splits = split_data(context, args.dataset, args.target)
    data = splits[0]
    seeds = args.seeds
    if seeds is None:
        seeds = list(range(config.profile(args.profile)["seeds"]["xgb"]))
    campaigns = [campaign for prepared in splits
                 for campaign in active.campaigns_for(data.dataset.name, args.target, args.strategies, seeds,
                                                      profile=args.profile, init_frac=args.init_frac,
                                                      step_frac=args.step_frac, stop_frac=args.stop_frac,
                                                      split=prepared.split.label)]
    plan = campaigns[0].plan(len(data.pool))  # refuses a step too small for the pool before any work
    print(f"{len(campaigns)} campaigns ({', '.join(args.strategies)} x seeds {seeds}); {len(plan)} steps "
          f"at {plan.fractions[0]:g}..{plan.fractions[-1]:g} of the pool "
          f"({plan.sizes[0]}..{plan.sizes[-1]} rows)")
    report = active.run_campaigns(campaigns, context, n_jobs=args.n_jobs, scheduler=args.scheduler,
                                  progress=not args.no_progress)
    print(f"{len(report.campaigns)} campaigns run ({report.steps_run} steps), {report.n_skipped} already "
          f"finished; wall {report.wall_seconds:.1f} s, fits {report.fit_seconds:.1f} s")
    reference = None
    if args.full_reference:
        cells = [cell for prepared in splits
                 for cell in random_cells(data.dataset.name, args.target, ["xgb", "rf"], len(prepared.pool),
                                          profile=args.profile, fractions=[1.0], seeds=seeds,
                                          split=prepared.split.label)]
        reference = run_cells(cells, context, n_jobs=args.n_jobs, scheduler=args.scheduler,
                              progress=not args.no_progress, description="full-pool reference")
        print(f"full-pool reference: {reference.n_run} cells run, {reference.n_skipped} already done; wall "
              f"{reference.wall_seconds:.1f} s")
    store = ResultsStore(args.out)
    timings = {"wall_seconds": round(time.perf_counter() - started, 2),
               "campaigns_run": len(report.campaigns), "campaigns_skipped": report.n_skipped,
               "steps_run": report.steps_run, "fit_seconds": round(report.fit_seconds, 2),
               "campaigns": [{"name": c.name, "steps_run": c.steps_run,
                              "wall_seconds": round(c.wall_seconds, 2),
                              "fit_seconds": round(c.fit_seconds, 2)} for c in report.campaigns]}
    if reference is not None:
        timings["reference_wall_seconds"] = round(reference.wall_seconds, 2)
    store.write_manifest("run_al", {**vars(args), "out": str(args.out), "seeds": seeds,
                                    "fractions": list(plan.fractions)}, timings, manifest_data(data))
    scores = store.read()
    shown = list(dict.fromkeys(["random", *args.strategies]))
    curves = active.learning_curves(scores, dataset=data.dataset.name, target=args.target, strategies=shown)
    print(f"\nID test RMSE of XGB trained on the selected set (mean over seeds; {args.target}):")
    print_table(curves)
    print("\nper-step diagnostics (means over seeds and steps): Spearman rho of the strategy's scores vs "
          "XGB's true |error| on the unlabelled pool, chosen-batch / pool mean |error|, ID-test calibration")
    diagnostics = active.DiagnosticsTable(args.out).read()
    if len(diagnostics):
        diagnostics = diagnostics[(diagnostics["dataset"] == data.dataset.name)
                                  & (diagnostics["target"] == args.target)]
    print_table(active.diagnostics_summary(diagnostics))
    write_summary(store)
    return 0
