#!/usr/bin/env bash
# The study on one dataset, end to end: random baselines (XGB 3 seeds, RF 1), XGB-guided pruning
# (evaluated with XGB and, as transfer, RF), OOD evaluation, active learning (QBC, seed 1, to 30 %,
# against the random subsets of the same seed), then figures (figs/) and the report with 95 % intervals
# (results/).  Each step prints its time.
#   bash run_demo.bash                         quick profile on the embedded mp18_comp, target e_form
#   bash run_demo.bash --profile paper --out results/paper   the study's protocol (hours on 2 cores)
#   bash run_demo.bash --dataset oqmd_icsd --target e_form,bandgap --n-jobs 2
# Left out to stay near 20 min on 2 cores, added by --full: a second RF seed, RF-guided pruning, the
# random campaign at every 1 % step (its rows at the baseline's sizes are the baseline's own), the RF-U
# and XGB-U strategies, AL seed 0 and AL up to the profile's 35 %.
# Every step skips work already in the results folder: rerun after an interruption to continue.
# The steps live in lessdata.experiments.demo; installed, `lessdata demo` runs them from any folder.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
case "${1:-}" in
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; echo ;;
    *) bash setup_env.bash ;;
esac
exec .venv/bin/python -m lessdata.cli.console demo "$@"
