#!/usr/bin/env bash
# The test command: bootstraps .venv (setup_env.bash, quick when up to date), checks style, builds the
# documentation site (docs/ -> site/, warnings are errors), runs pytest.
# Extra arguments go to pytest, e.g. `bash run_tests.bash -k splits -x`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
bash setup_env.bash
.venv/bin/ruff check codes tests benchmarks
.venv/bin/mkdocs build --strict
.venv/bin/python -m pytest "$@"
