#!/usr/bin/env bash
# Run a command inside new network and mount namespaces: the network has only the loopback
# interface, and mounts made inside (tests mount small or read-only file systems) stay inside.
# XRootD cannot bind to 127.0.0.1 only; in here "every interface" is loopback, so servers started
# by the tests or the demo are reachable from nowhere else. Nothing in here reaches the internet:
# install everything before entering (scripts/bootstrap.sh).
set -euo pipefail
if [ "$(id -u)" = 0 ]; then
  exec unshare --net --mount --propagation private -- bash -c 'ip link set lo up && exec "$@"' in-private-network "$@"
fi
exec unshare --net --mount --propagation private --map-root-user -- bash -c 'ip link set lo up && exec "$@"' in-private-network "$@"
