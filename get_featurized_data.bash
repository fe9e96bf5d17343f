#!/usr/bin/env bash
# Build or download datasets and compute their features (cached under data/NAME/).
#   bash get_featurized_data.bash                  the embedded mp18_comp (built offline)
#   bash get_featurized_data.bash jarvis22 mp18    paper datasets from Zenodo record 8200972
#   bash get_featurized_data.bash --list           what is registered
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
case "${1:-}" in
    -h|--help) sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
bash setup_env.bash
if [ "${1:-}" = --list ]; then exec .venv/bin/python codes/featurize.py --list; fi
for name in "${@:-mp18_comp}"; do
    .venv/bin/python codes/featurize.py --dataset "$name"
done
