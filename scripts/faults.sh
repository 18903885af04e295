#!/usr/bin/env bash
# The fault suite with its figures: each fault injected FAULT_RUNS times (default 20) into the
# real local grid, then docs/reliability.md written from what happened.
#   scripts/faults.sh            # 20 runs per fault
#   FAULT_RUNS=5 scripts/faults.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
rm -f var/faults/figures.jsonl
FAULT_RUNS="${FAULT_RUNS:-20}" scripts/in-private-network.sh .venv/bin/python -m pytest tests/faults -q -p no:cacheprovider
.venv/bin/python -m tests.faults.report
