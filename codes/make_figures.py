#!/usr/bin/env python
"""Thin command-line wrapper around lessdata.cli.scripts.make_figures_main (run with --help)."""

from lessdata.cli.scripts import make_figures_main, run_main

if __name__ == "__main__":
    raise SystemExit(run_main(make_figures_main))
