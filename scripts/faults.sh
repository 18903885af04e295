#!/usr/bin/env bash
# The fault suite with its figures: each fault injected FAULT_RUNS times (default 20) into the
# real local grid, the mover conformance fault suite (slow link, frozen server, full disk, refused
# connection, SIGTERM: tests/conformance) run CONFORMANCE_RUNS times (default 3, about 8 minutes
# each), then docs/reliability.md written from what happened.
#   scripts/faults.sh            # 20 runs per fault, 3 of the conformance suite
#   FAULT_RUNS=5 CONFORMANCE_RUNS=1 scripts/faults.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
rm -f var/faults/figures.jsonl
# every fault counts, passed or failed: the figures say so, and the report is written either way
FAULT_RUNS="${FAULT_RUNS:-20}" scripts/in-private-network.sh .venv/bin/python -m pytest tests/faults -q -p no:cacheprovider || true
for _ in $(seq "${CONFORMANCE_RUNS:-3}"); do
  # every run counts, passed or failed: the figures say so
  scripts/in-private-network.sh .venv/bin/python -m pytest tests/conformance -q -p no:cacheprovider || true
done
.venv/bin/python -m tests.faults.report
