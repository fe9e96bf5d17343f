#!/usr/bin/env python
"""Thin command-line wrapper; the logic lives in lessdata.cli.scripts (run with --help)."""

from lessdata.cli.scripts import run_al_main, run_main

if __name__ == "__main__":
    raise SystemExit(run_main(run_al_main))
