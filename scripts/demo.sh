#!/usr/bin/env bash
# The demo: a full pilot job, end to end, then its JSON report.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
DEMO="$(pwd)/var/demo"
rm -rf "$DEMO"
mkdir -p "$DEMO/shared/in" "$DEMO/shared/out"
head -c 10000000 /dev/urandom > "$DEMO/shared/in/events.dat"
printf 'echo "payload on $(hostname): $(wc -c < events.dat) bytes in"; sha256sum events.dat > summary.txt\n' \
  > "$DEMO/shared/in/run.sh"
PARAMS="in-mode=local dir-in=$DEMO/shared/in files-in=events.dat,run.sh out-mode=local dir-out=$DEMO/shared/out files-out=summary.txt"
.venv/bin/pilot-movers run --job-params "$PARAMS" --queue-config examples/queues/local.json \
  --workdir "$DEMO/work" --report "$DEMO/report.json" -- sh run.sh
cat "$DEMO/report.json"
