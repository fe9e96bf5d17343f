"""The command-line layer: every script's parser and main (``codes/*.py`` and the ``lessdata`` command).

A main parses and checks its arguments, calls its step in :mod:`lessdata.experiments.studies` and prints;
the steps
themselves (splits, cells, manifest, summary) take no command line, so code can run them too.

Every script prints ``--help``, and exits with status 2 and a one-line reason on bad input (any
:class:`lessdata.errors.LessdataError`); any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from lessdata import config
from lessdata import files as lio
from lessdata.analysis.results import load_results
from lessdata.data.datasets import DatasetError, all_specs, load_dataset, resolve
from lessdata.data.user_tables import SKIPPED_ROWS_FILE, register_user_dataset
from lessdata.errors import LessdataError
from lessdata.experiments import studies
from lessdata.experiments.active import EVALUATED_MODELS
from lessdata.experiments.pruning_study import REDUNDANCY_FALLBACK_FRACTION
from lessdata.experiments.runner import ResultsStore, RunContext
from lessdata.experiments.store import StoreLayout
from lessdata.models.factory import MODELS
from lessdata.reporting.figures import make_all, save_plot
from lessdata.reporting.report import build_report
from lessdata.selection import registry as selectors
from lessdata.selection.redundancy import SIGNIFICANCE_Q

#: Program name shown in usage lines instead of the script's (``lessdata prune`` from the console).
_PROGRAM: str | None = None


def program_name(script: str) -> str:
    """The name a parser shows: the script's, or the console command's while one runs."""
    return _PROGRAM or script


@contextlib.contextmanager
def shown_as(program: str) -> Iterator[None]:
    """Parsers built inside show ``program`` (e.g. ``lessdata prune``) in their usage and errors."""
    global _PROGRAM
    previous, _PROGRAM = _PROGRAM, program
    try:
        yield
    finally:
        _PROGRAM = previous


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


def seed_count(text: str) -> int:
    """argparse type of a number of seeds, at least 1 (a bad value exits with status 2 and usage)."""
    try:
        value = int(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected a whole number of seeds, got {text!r}") from error
    if value < 1:
        raise argparse.ArgumentTypeError(f"the number of seeds must be at least 1, got {value}")
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
        raise LessdataError("--n-jobs must be at least 1")
    id_test_ids = getattr(args, "id_test_ids", None)
    split_seeds = tuple(getattr(args, "split_seeds", None) or (config.ID_SPLIT_SEED,))
    if id_test_ids is not None and getattr(args, "split_seeds", None):
        raise LessdataError("--id-test-ids fixes the ID test set; it cannot be combined with --split-seeds "
                            "(run the random splits as a second command into the same --out)")
    context = RunContext(str(args.out), args.profile, None if args.ood is None else tuple(args.ood),
                         args.device, n_threads, split_seeds=split_seeds,
                         id_test_ids=None if id_test_ids is None else str(id_test_ids))
    ResultsStore(args.out).claim(config.study_settings(args.profile))
    return context


def study_options(args: argparse.Namespace) -> studies.StudyOptions:
    """The options every study step takes, from parsed experiment arguments."""
    return studies.StudyOptions(args.dataset, args.target, n_jobs=args.n_jobs, scheduler=args.scheduler,
                                progress=not args.no_progress)


def recorded(args: argparse.Namespace) -> dict[str, Any]:
    """The manifest's record of a command: every argument as parsed, the results folder as text."""
    return {**vars(args), "out": str(args.out)}


def run_main(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None) -> int:
    """Run a script's main, turning input errors into one line on stderr and exit status 2.

    Only a :class:`~lessdata.errors.LessdataError` (bad input: a file, a column, an option, a name) is
    caught; any other exception, a plain ``ValueError`` or ``KeyError`` included, is a bug and
    propagates with its traceback.  Ctrl-C returns 130.
    """
    # pymatgen warns once per noble-gas composition that it has no electronegativity; matminer handles it.
    warnings.filterwarnings("ignore", message="No Pauling electronegativity")
    try:
        return main(argv)
    except LessdataError as error:  # bad input; anything else is a bug and keeps its traceback
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
        prog=program_name("featurize.py"),
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
    parser.add_argument("--n-jobs", type=int, default=None,
                        help="featurization processes (default: all cores for structures, 1 for "
                             "compositions); structural features are checkpointed, rerun to resume")
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
        skipped = config.data_dir() / spec.key / SKIPPED_ROWS_FILE
        if skipped.exists():
            print(f"skipped invalid rows are listed in {skipped}")
        args.dataset = spec.key
    if not args.dataset:
        featurize_parser().print_usage(sys.stderr)
        raise DatasetError("give --dataset NAME, --input FILE ... or --list")
    spec = resolve(args.dataset)
    for target in [args.target] if args.target else list(spec.targets):
        started = time.perf_counter()
        dataset = load_dataset(spec.key, target, progress=not args.no_progress, base_url=args.base_url,
                               n_jobs=args.n_jobs)
        print(dataset.summary())
        print(f"  features: {'from cache' if dataset.provenance.get('features_from_cache') else 'computed'}"
              f", {time.perf_counter() - started:.1f} s")
    return 0


# --------------------------------------------------------------------------------------------------
# random_baseline.py
# --------------------------------------------------------------------------------------------------
def random_baseline_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=program_name("random_baseline.py"),
        description="Random-subsampling baseline: train each model on random subsets of the pool over "
                    "training-set sizes and seeds; score on the ID test set, the unused pool and the "
                    "OOD sets. Rows go to OUT/scores.csv; a rerun skips finished cells.",
        epilog="example:\n  python codes/random_baseline.py --dataset mp18_comp --target e_form "
               "--models xgb,rf --profile quick --n-jobs 2 --out results/",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(parser)
    parser.add_argument("--models", type=comma_list, default=list(EVALUATED_MODELS),
                        help=f"comma-separated models from {', '.join(m for m in MODELS if m != 'xgb_ibug')}"
                             " (default: xgb,rf)")
    parser.add_argument("--fractions", type=fraction_list, default=None,
                        help="training fractions of the pool, overriding the profile's grid")
    parser.add_argument("--seeds", type=seed_count, default=None,
                        help="seeds per model (default: the profile's, e.g. paper 10 for trees, 5 ALIGNN)")
    add_run_args(parser)
    return parser


def check_models(models: Sequence[str]) -> None:
    """Refuse unknown model names with the list of known ones."""
    for model in models:
        if model not in MODELS:
            raise LessdataError(f"unknown model {model!r}; choose from {', '.join(MODELS)}")


def random_baseline_main(argv: Sequence[str] | None = None) -> int:
    args = random_baseline_parser().parse_args(argv)
    check_models(args.models)
    result = studies.random_baseline(context_from(args), study_options(args), args.models,
                                     fractions=args.fractions, seeds=args.seeds, record=recorded(args),
                                     say=print)
    print_summary(result)
    return 0


def print_summary(result: studies.StudyResult) -> None:
    """Print the redundancy summary a step refreshed, then its intervals (all columns in summary.csv)."""
    print("\nredundancy summary (ID test RMSE; smallest training fraction within 5/10/20 % of full data):")
    print_table(result.summary)
    intervals = result.intervals
    if len(intervals):
        shown = intervals[["dataset", "target", "model", "curve", "full_rmse", "within10_rmse",
                           "within10_rmse_lo", "within10_rmse_hi", "within10_mae"]]
        print("\nwith 95 % paired-bootstrap intervals (all columns in summary.csv):")
        print_table(shown)


# --------------------------------------------------------------------------------------------------
# select_subsets.py
# --------------------------------------------------------------------------------------------------
def select_subsets_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=program_name("select_subsets.py"),
        description="Subset samplers beside random subsets: each sampler orders the pool once per seed "
                    "(label-free coverage samplers, or the pruning order read for coverage), the first n "
                    "entries train each model, and the cells are scored like the random baseline's (ID "
                    "test, unused pool, OOD sets). Orderings go to OUT/selections/subset_*.json with the "
                    "seconds they took, rows to OUT/scores.csv (method = sampler). Resumes.",
        epilog="samplers:\n" + "\n".join(f"  {name:10s} {selectors.get(name).help}"
                                          for name in selectors.names("subset"))
               + "\n\nexample:\n  python codes/select_subsets.py --dataset mp18_comp --target e_form "
                 "--methods kcenter,direct,prune_cov --models xgb --seeds 2 --n-jobs 2 --out results/",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(parser)
    parser.add_argument("--methods", type=comma_list, default=selectors.names("subset"),
                        help=f"comma-separated samplers from {', '.join(selectors.names('subset'))} "
                             "(default: all)")
    parser.add_argument("--models", type=comma_list, default=["xgb"],
                        help="models trained on the selected sets (default: xgb)")
    parser.add_argument("--fractions", type=fraction_list, default=None,
                        help="training fractions of the pool (default: the profile's random-subset grid "
                             "below 100 %%)")
    parser.add_argument("--seeds", type=seed_count, default=None,
                        help="seeds per sampler, 0..n-1 (default: the profile's seed count of the first "
                             "model)")
    parser.add_argument("--guide", choices=["xgb", "rf"], default="xgb",
                        help="guide whose stored pruning order the pruning-signal samplers read "
                             "(default xgb)")
    add_run_args(parser)
    return parser


def select_subsets_main(argv: Sequence[str] | None = None) -> int:
    args = select_subsets_parser().parse_args(argv)
    selectors.check_subsets(args.methods)
    check_models(args.models)
    result = studies.select_subsets(context_from(args), study_options(args), args.methods, args.models,
                                    fractions=args.fractions, seeds=args.seeds, guide=args.guide,
                                    record=recorded(args), say=print)
    print_summary(result)
    return 0


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
    parser = argparse.ArgumentParser(
        prog=program_name("run_al.py"),
        description="Active learning (Li et al. 2023): from a random init fraction of the pool, each step "
                    "fits XGB and RF on the selected set, scores them (ID test, unused pool, OOD sets) and "
                    "adds a batch of step fraction x pool chosen by the strategy, up to the stop fraction. "
                    "Rows go to OUT/scores.csv (method = strategy), the selection order to "
                    "OUT/selections/al_*.json (the per-step checkpoint) and per-step diagnostics (Spearman "
                    "rho of scores vs true errors, batch vs pool error, calibration) to "
                    "OUT/al_diagnostics.csv. A rerun skips finished campaigns and continues interrupted "
                    "ones at their first unfinished step.",
        epilog="strategies:\n" + "\n".join(f"  {name:11s} {selectors.get(name).help}"
                                            for name in selectors.strategy_names())
               + "\n\nexample:\n  python codes/run_al.py --dataset mp18_comp --target e_form "
                 "--strategies random,qbc,rf_u,xgb_u --seeds 0,1,2 --profile quick --n-jobs 2 "
                 "--full-reference --out results/",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(parser)
    parser.add_argument("--strategies", type=comma_list, default=["random", "qbc", "rf_u", "xgb_u"],
                        help=f"comma-separated query strategies from {', '.join(selectors.strategy_names())} "
                             "(default: random,qbc,rf_u,xgb_u)")
    parser.add_argument("--seeds", type=seed_list, default=None,
                        help="comma-separated seeds, e.g. 0,1,2; each seeds the initial set, the models and "
                             "the tie-breaks (default: 0..n-1 with the profile's tree seed count)")
    al = {name: settings["al"] for name, settings in config.PROFILES.items()}

    def profiles_say(key: str) -> str:
        return ", ".join(f"{name} {values[key]:g}" for name, values in al.items())

    parser.add_argument("--init-frac", type=float, default=None,
                        help=f"initial random fraction of the pool (default: the profile's; "
                             f"{profiles_say('init_frac')})")
    parser.add_argument("--step-frac", type=float, default=None,
                        help=f"fraction of the pool added per step (default: the profile's; "
                             f"{profiles_say('step_frac')})")
    parser.add_argument("--stop-frac", type=float, default=None,
                        help=f"last training fraction (default: the profile's; {profiles_say('stop_frac')})")
    parser.add_argument("--full-reference", action="store_true",
                        help="also fit XGB and RF on the whole pool for each seed (random-baseline cells at "
                             "fraction 1, shared with random_baseline.py) so the summary can report the "
                             "smallest fraction within 10 %% of the full-data RMSE")
    add_run_args(parser)
    return parser


def run_al_main(argv: Sequence[str] | None = None) -> int:
    args = run_al_parser().parse_args(argv)
    selectors.check_strategies(args.strategies)
    result = studies.run_al(context_from(args), study_options(args), args.strategies, seeds=args.seeds,
                            init_frac=args.init_frac, step_frac=args.step_frac, stop_frac=args.stop_frac,
                            full_reference=args.full_reference, record=recorded(args), say=print)
    print(f"\nID test RMSE of XGB trained on the selected set (mean over seeds; {args.target}):")
    print_table(result.tables["curves"])
    print("\nper-step diagnostics (means over seeds and steps): Spearman rho of the strategy's scores vs "
          "XGB's true |error| on the unlabelled pool, chosen-batch / pool mean |error|, ID-test calibration")
    print_table(result.tables["diagnostics"])
    print_summary(result)
    return 0


# --------------------------------------------------------------------------------------------------
# prune_data.py
# --------------------------------------------------------------------------------------------------
def prune_data_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=program_name("prune_data.py"),
        description="Prune a dataset's pool with a guiding model (Li et al. 2023): order the entries "
                    "from redundant to informative, evaluate the retained sets with the guiding and the "
                    "transfer model on the ID test set, the unused pool and the OOD sets, and write where "
                    "the redundant data lies. Resumes after an interruption.",
        epilog="examples:\n  python codes/prune_data.py --dataset mp18_comp --target e_form --guide xgb\n"
               "  python codes/prune_data.py --dataset mp18_comp --target e_form --guide xgb --export 0.2",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(parser)
    parser.add_argument("--guide", choices=["xgb", "rf"], default="xgb", help="guiding model (default xgb)")
    parser.add_argument("--eval-models", type=comma_list, default=None,
                        help="models trained on the retained sets (default: the guide and the transfer "
                             "model, e.g. xgb,rf; add alignn for structure datasets)")
    parser.add_argument("--eval-fractions", type=fraction_list, default=None, metavar="F1,F2",
                        help="evaluate the rounds nearest these fractions instead of the profile's grid "
                             "(paper: every round); a later run into the same folder adds the missing ones")
    parser.add_argument("--export", type=float, default=None, metavar="FRACTION",
                        help="also write the pruned training set at this fraction of the pool to "
                             "OUT/pruned_<dataset>_<target>_<split>_<guide>_<fraction>.csv")
    parser.add_argument("--redundancy-fraction", type=unit_fraction, default=None, metavar="F",
                        help="compare removed and retained entries (OUT/redundancy/) at the retained set of "
                             "this fraction of the pool, 0 < F <= 1 (default: the smallest pruned fraction "
                             "whose guide-model ID-test RMSE is within 10 %% of the full-data RMSE, else "
                             f"{REDUNDANCY_FALLBACK_FRACTION:g})")
    parser.add_argument("--prune-seeds", type=seed_list, default=[0], metavar="S1,S2",
                        help="independent pruning runs (guide seed, threshold fit and round splits), e.g. "
                             "0,1,2; the report resamples them like training seeds. Redundancy tables and "
                             "--export use the first (default: 0)")
    add_run_args(parser)
    return parser


def _print_significant(tables: dict[str, pd.DataFrame], fraction: float, top: int = 8) -> None:
    """Print the element and arity enrichments that are more than chance (q < 0.05), or say there are none."""
    print(f"\nwhere the redundant data lies, at retained fraction {fraction:.4g} (groups with BH q < "
          f"{SIGNIFICANCE_Q:g} only; all groups in OUT/redundancy/):")
    columns = ["n_total", "n_removed", "n_retained", "enrichment", "enrichment_ci_low", "enrichment_ci_high",
               "q_value"]
    for name, group, label, singular in (
            ("elements", "element", "elements", "element"),
            ("n_elements", "arity_name", "numbers of elements", "number of elements")):
        table = tables.get(name)
        if table is None:
            continue
        significant = table[table["significant"]].sort_values("enrichment", ascending=False)
        over, under = significant[significant["enrichment"] > 1], significant[significant["enrichment"] < 1]
        if significant.empty:
            print(f"no {singular} is significantly over- or under-represented among the removed entries")
            continue
        if len(over):
            print(f"{label} over-represented among the removed entries ({len(over)} significant):")
            print_table(over.head(top)[[group, *columns]])
        if len(under):
            print(f"{label} under-represented among the removed entries, i.e. kept "
                  f"({len(under)} significant):")
            print_table(under.iloc[::-1].head(top)[[group, *columns]])


def prune_data_main(argv: Sequence[str] | None = None) -> int:
    args = prune_data_parser().parse_args(argv)
    prune = studies.PruneOptions(args.guide, args.eval_models or (), args.eval_fractions, args.export,
                                 args.redundancy_fraction, args.prune_seeds)
    check_models(prune.eval_models)
    if args.export is not None and not 0 < args.export <= 1:
        raise LessdataError(f"--export {args.export} is outside (0, 1]")
    result = studies.prune_data(context_from(args), study_options(args), prune, record=recorded(args),
                                say=print, on_redundancy=_print_significant)
    print_summary(result)
    return 0


# --------------------------------------------------------------------------------------------------
# make_figures.py
# --------------------------------------------------------------------------------------------------
def make_figures_parser() -> argparse.ArgumentParser:
    """Arguments of ``codes/make_figures.py``."""
    parser = argparse.ArgumentParser(
        prog=program_name("make_figures.py"),
        description="Regenerate the study's figures and report from a results folder, without refitting "
                    "anything: (a) ID RMSE vs training size, random and pruned; (b) unused-pool vs "
                    "ID-test RMSE; (c) OOD vs ID-test RMSE per OOD split; (d) active-learning curves with "
                    "random and pruning; (e) where the redundant data lies; (f) per-step AL diagnostics. "
                    "Each figure is written as PNG and PDF to FIGDIR (figures whose tables are missing "
                    "are skipped with a note); the report goes to DIR/REPORT.md and is printed, and its "
                    "intervals and verdicts to DIR/summary.csv.",
        epilog="example:\n  python codes/make_figures.py --results results/ --out figs/",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=config.results_dir(), metavar="DIR",
                        help="results folder written by random_baseline.py, prune_data.py and run_al.py "
                             "(default: results/)")
    parser.add_argument("--out", type=Path, default=config.figs_dir(), metavar="FIGDIR",
                        help="folder for the figures (default: figs/)")
    parser.add_argument("--report", type=Path, default=None, metavar="FILE",
                        help="where to write the report (default: DIR/REPORT.md)")
    parser.add_argument("--formats", default="png,pdf",
                        help="comma-separated figure formats (default: png,pdf)")
    parser.add_argument("--quiet", action="store_true", help="do not print the report")
    return parser


def make_figures_main(argv: Sequence[str] | None = None) -> int:
    """Draw and save every figure, write and print the report."""
    args = make_figures_parser().parse_args(argv)
    formats = [f.strip().lower() for f in args.formats.split(",") if f.strip()]
    unknown = sorted(set(formats) - {"png", "pdf", "svg"})
    if unknown or not formats:
        raise LessdataError(f"--formats {args.formats!r}: choose from png, pdf, svg")
    started = time.perf_counter()
    results = load_results(args.results)
    plots = make_all(results)
    for plot in plots:
        paths = save_plot(plot, args.out, formats)
        if paths:
            print(f"{plot.name}: " + ", ".join(str(p) for p in paths))
        for note in plot.notes:
            print(f"  note: {note}")
        if plot.figure is None:
            print(f"{plot.name}: skipped")
    layout = StoreLayout(args.results)
    report_path = args.report or layout.report
    text = build_report(results, plots, fig_dir=args.out, report_path=report_path)
    lio.write_text(report_path, text)
    if results.intervals is not None and len(results.intervals):
        lio.write_csv(layout.summary, results.intervals)  # the report's numbers, with every column
    if not args.quiet:
        print()
        print(text)
    print(f"report: {report_path}; figures: {args.out}/ ({time.perf_counter() - started:.1f} s)")
    return 0
