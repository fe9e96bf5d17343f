#!/usr/bin/env bash
# The paper's active-learning demo on the embedded MP-2018 data (mp18_comp), formation energy:
# random, QBC, RF-U and XGB-U campaigns with 3 seeds (quick profile unless --profile paper), plus XGB/RF
# fitted on the whole pool so the summary can give the fraction within 10 % of full-data RMSE.
# Extra arguments go to codes/run_al.py and win over the defaults, e.g.
#   bash run_al.bash --profile paper --out results/paper      bash run_al.bash --target bandgap
# Finished campaigns are skipped; an interrupted run continues at its first unfinished step.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
case "${1:-}" in
    -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; echo; exec .venv/bin/python codes/run_al.py --help ;;
esac
bash setup_env.bash
n_jobs=$(nproc 2>/dev/null || echo 1)
exec .venv/bin/python codes/run_al.py --dataset mp18_comp --target e_form \
    --strategies random,qbc,rf_u,xgb_u --seeds 0,1,2 --profile quick --n-jobs "$n_jobs" \
    --full-reference "$@"
