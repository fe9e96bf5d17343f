"""Running the study: cells, the results store, baselines, pruning, active learning and the steps the CLI
calls."""
