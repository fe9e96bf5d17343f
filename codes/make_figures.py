#!/usr/bin/env python
"""Thin command-line wrapper around lessdata.cli.make_figures_main (run with --help)."""

from lessdata.cli import make_figures_main, run_main

if __name__ == "__main__":
    raise SystemExit(run_main(make_figures_main))
