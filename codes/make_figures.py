#!/usr/bin/env python
"""Thin command-line wrapper; the logic lives in lessdata.report and lessdata.figures (run with --help)."""

from lessdata.cli import run_main
from lessdata.report import make_figures_main

if __name__ == "__main__":
    raise SystemExit(run_main(make_figures_main))
