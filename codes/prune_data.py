#!/usr/bin/env python
"""Thin command-line wrapper around lessdata.cli.scripts.prune_data_main (run with --help)."""

from lessdata.cli.scripts import prune_data_main, run_main

if __name__ == "__main__":
    raise SystemExit(run_main(prune_data_main))
