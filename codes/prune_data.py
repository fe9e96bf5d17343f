#!/usr/bin/env python
"""Thin command-line wrapper; the logic lives in lessdata.pruning_study (run with --help)."""

from lessdata.cli import run_main
from lessdata.pruning_study import prune_data_main

if __name__ == "__main__":
    raise SystemExit(run_main(prune_data_main))
