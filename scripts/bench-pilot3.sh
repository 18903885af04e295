#!/usr/bin/env bash
# PanDA Pilot 3's own copytools and the movers side by side on the local grid (see
# bench/pilot3_side_by_side.py); defaults: 1000 x 100 KB and one 1 GiB file, each way of copying
# checked against the same catalogue checksums.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec scripts/in-private-network.sh .venv/bin/python bench/pilot3_side_by_side.py "$@"
