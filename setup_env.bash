#!/usr/bin/env bash
# Create .venv/ and install lessdata (editable) with its dependencies from pyproject.toml.
#   bash setup_env.bash          CPU build: torch==2.13.0 (CPU) and xgboost-cpu (small, no CUDA libraries)
#   bash setup_env.bash --gpu    CUDA-capable torch and xgboost instead
# Idempotent: a second run with an unchanged pyproject.toml returns at once and changes nothing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

variant=cpu
for arg in "$@"; do
    case "$arg" in
        --gpu) variant=gpu ;;
        --cpu) variant=cpu ;;
        -h|--help) sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "setup_env.bash: unknown option $arg (use --gpu, --cpu or --help)" >&2; exit 2 ;;
    esac
done

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
    echo "setup_env.bash: needs Python >= 3.10 (set PYTHON=/path/to/python3.11)" >&2; exit 2
fi
[ -x .venv/bin/python ] || "$python" -m venv .venv

stamp=".venv/.lessdata-$variant-$(sha256sum pyproject.toml | cut -c1-16)"
if [ -f "$stamp" ]; then
    echo "setup_env.bash: .venv is up to date ($variant)"
    exit 0
fi
started=$(date +%s)
if [ "$variant" = gpu ]; then
    # The CPU builds would shadow the CUDA ones: both xgboost wheels provide the module `xgboost`.
    .venv/bin/pip uninstall -y -q xgboost-cpu >/dev/null 2>&1 || true
    if .venv/bin/python -c 'import torch, sys; sys.exit("+cpu" not in torch.__version__)' 2>/dev/null; then
        .venv/bin/pip uninstall -y -q torch
    fi
else
    .venv/bin/pip uninstall -y -q xgboost >/dev/null 2>&1 || true
fi
.venv/bin/pip install --disable-pip-version-check -q -e ".[$variant,dev]"
rm -f .venv/.lessdata-*
touch "$stamp"
echo "setup_env.bash: installed lessdata ($variant) into .venv in $(( $(date +%s) - started )) s," \
     "$(du -sh .venv | cut -f1)"
