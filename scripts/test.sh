#!/usr/bin/env bash
# The test command: set up everything a fresh machine lacks, then run the whole suite (pytest
# starts the local grid itself) inside a private loopback-only network namespace.
#   scripts/test.sh                 # everything
#   scripts/test.sh -k gridftp -x   # extra arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec scripts/in-private-network.sh .venv/bin/python -m pytest "$@"
