#!/usr/bin/env bash
# The local grid kept up, to try the README's commands by hand: starts the demo's grid (throwaway
# CA, GridFTP, XRootD, MyProxy on loopback), prints the environment that reaches it, and opens a
# shell in it (or runs the command given); leaving the shell stops the grid. Inside the same
# private loopback-only network namespace as the demo and the tests: the servers are reachable
# from that shell and from nowhere else.
#   scripts/local-grid.sh
#   scripts/local-grid.sh sh -c 'pilot-movers doctor --queue-config "$PILOT_MOVERS_QUEUE" --job-params "$JOB_PARAMS"'
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
exec scripts/in-private-network.sh .venv/bin/pilot-movers-grid "$@"
