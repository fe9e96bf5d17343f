#!/usr/bin/env bash
# The whole study on one dataset, end to end: random baselines, XGB- and RF-guided pruning, OOD
# evaluation, the four active-learning strategies, then figures (figs/) and the report (results/).
#   bash run_demo.bash                         quick profile on the embedded mp18_comp, target e_form
#   bash run_demo.bash --profile paper         the study's full protocol (hours to days on 2 cores)
#   bash run_demo.bash --dataset jarvis22 --target bandgap --n-jobs 4
# Every step skips work already in the results folder: rerun after an interruption to continue.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

dataset=mp18_comp; targets=e_form; profile=quick; n_jobs=2; out=results; figs=figs; seeds=0,1,2
while [ $# -gt 0 ]; do
    case "$1" in
        --dataset) dataset=$2; shift 2 ;;
        --target|--targets) targets=$2; shift 2 ;;
        --profile) profile=$2; shift 2 ;;
        --n-jobs) n_jobs=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --figs) figs=$2; shift 2 ;;
        --al-seeds) seeds=$2; shift 2 ;;
        -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
                   echo "options: --dataset NAME --target T[,T2] --profile quick|paper --n-jobs N --out DIR --figs DIR --al-seeds 0,1,2"
                   exit 0 ;;
        *) echo "run_demo.bash: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

started=$(date +%s)
stamp() { echo; echo "=== [$(( $(date +%s) - started )) s] $*"; }
bash setup_env.bash
py=.venv/bin/python
common=(--dataset "$dataset" --profile "$profile" --n-jobs "$n_jobs" --out "$out")

stamp "dataset and features: $dataset"
$py codes/featurize.py --dataset "$dataset" --no-progress
for target in ${targets//,/ }; do
    stamp "random baselines ($target)"
    $py codes/random_baseline.py "${common[@]}" --target "$target" --models xgb,rf
    for guide in xgb rf; do
        stamp "pruning guided by $guide ($target)"
        $py codes/prune_data.py "${common[@]}" --target "$target" --guide "$guide"
    done
    stamp "active learning ($target)"
    $py codes/run_al.py "${common[@]}" --target "$target" --strategies random,qbc,rf_u,xgb_u --seeds "$seeds"
done
stamp "figures and report"
$py codes/make_figures.py --results "$out" --out "$figs"
stamp "done in $(( $(date +%s) - started )) s"
echo "results: $out/scores.csv, $out/summary.csv, $out/REPORT.md"
echo "figures: $figs/"
