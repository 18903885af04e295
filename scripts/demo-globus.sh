#!/usr/bin/env bash
# The Globus demo: start the Globus emulator (Transfer and Auth APIs on loopback, the seed's
# endpoints) and run the seed's sendJob job through the globus mover with a temporary Globus
# Connect Personal worker endpoint (the emulator's stand-in), then print the JSON report.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec scripts/in-private-network.sh .venv/bin/python -m pilot_movers_testkit.globus_demo "$@"
