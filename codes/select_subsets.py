#!/usr/bin/env python
"""Thin command-line wrapper; the logic lives in lessdata.cli.scripts (run with --help)."""

from lessdata.cli.scripts import run_main, select_subsets_main

if __name__ == "__main__":
    raise SystemExit(run_main(select_subsets_main))
