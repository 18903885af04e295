#!/usr/bin/env bash
# The demo: start a local grid (throwaway CA, GridFTP, XRootD, MyProxy on loopback), run a full
# pilot job against it (inputs from GridFTP, outputs to XRootD), print the JSON report.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec scripts/in-private-network.sh .venv/bin/python -m pilot_movers_testkit.demo "$@"
