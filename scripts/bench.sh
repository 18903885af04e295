#!/usr/bin/env bash
# Benchmarks: each mover against the standard tools on the local grid (see bench/run.py).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec scripts/in-private-network.sh .venv/bin/python bench/run.py "$@"
