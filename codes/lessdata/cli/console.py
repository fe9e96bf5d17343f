"""The ``lessdata`` command: one entry point for the study's scripts (``lessdata prune --help``).

Each subcommand runs the same main as the script in ``codes/`` (``lessdata prune ...`` is
``python codes/prune_data.py ...``) through :func:`lessdata.cli.scripts.run_main`; :func:`main` dispatches.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from lessdata import __version__

#: Subcommand -> (module, main function, one line of help).
COMMANDS: dict[str, tuple[str, str, str]] = {
    "featurize": ("lessdata.cli.scripts", "featurize_main",
                  "build, download or register a dataset and compute its features (cached)"),
    "random": ("lessdata.cli.scripts", "random_baseline_main",
               "random-subset baselines: test error vs training-set size over seeds"),
    "subsets": ("lessdata.cli.scripts", "select_subsets_main",
                "subset samplers (coverage, DIRECT, stratified pruning order) beside random subsets"),
    "prune": ("lessdata.cli.scripts", "prune_data_main",
              "prune a pool with a guiding model, evaluate the pruned sets, find the redundant data"),
    "al": ("lessdata.cli.scripts", "run_al_main",
           "active learning: grow a training set batch by batch with a selection strategy"),
    "figures": ("lessdata.cli.scripts", "make_figures_main",
                "draw the figures and write the report from a results folder"),
    "demo": ("lessdata.experiments.demo", "demo_main",
             "the whole study on one dataset, step by step (what run_demo.bash runs)"),
}


def usage() -> str:
    """The overview printed by ``lessdata --help``."""
    width = max(len(name) for name in COMMANDS)
    lines = [
        "usage: lessdata [-h] [--version] COMMAND [ARGS ...]",
        "",
        "Measure and exploit redundancy in materials datasets (Li et al., Nat Commun 14, 7283, 2023).",
        "",
        "commands:",
        *(f"  {name:<{width}}  {text}" for name, (_, _, text) in COMMANDS.items()),
        "",
        "`lessdata COMMAND --help` shows a command's options; from Python, see lessdata.prune.",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch ``argv`` (default: ``sys.argv[1:]``) to a subcommand; return the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(usage(), file=sys.stdout if args else sys.stderr)
        return 0 if args else 2
    if args[0] == "--version":
        print(f"lessdata {__version__}")
        return 0
    if args[0] not in COMMANDS:
        print(f"{usage()}\n\nlessdata: error: unknown command {args[0]!r} (choose from "
              f"{', '.join(COMMANDS)})", file=sys.stderr)
        return 2
    module_name, function_name, _ = COMMANDS[args[0]]
    from lessdata.cli.scripts import run_main, shown_as  # noqa: PLC0415 - the engine only to run a command

    command_main = getattr(importlib.import_module(module_name), function_name)
    with shown_as(f"lessdata {args[0]}"):
        return run_main(command_main, args[1:])


if __name__ == "__main__":
    raise SystemExit(main())
