#!/usr/bin/env bash
# Set up everything pilot-movers needs on a fresh Debian machine; fast when already done.
#   1. Debian packages: the grid servers and clients the tests and the demo run, gfal2's Python
#      binding, Apache with mod_gridsite, mod_wsgi and mod_xsendfile for the DataHost server, and
#      PostgreSQL, the DataHost's tested production database, and Chromium with its driver for
#      the DataHost page's browser tests (apt; only what is missing is installed).
#   2. A venv in .venv built on /usr/bin/python3, the interpreter Debian's python3-gfal2 is
#      compiled for; gfal2 is made visible to it by a .pth file (no other system package leaks in).
#   3. The project's three distributions in editable mode (pip; skipped when their setup.cfg are
#      unchanged): the pilot library with every extra, the DataHost server (server/, with psycopg) and the
#      testkit (testkit/: the local grid, the Globus emulator, the conformance kit).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV="$ROOT/.venv"

APT_PACKAGES=(
  python3 python3-venv python3-dev
  myproxy-server myproxy
  globus-gridftp-server-progs globus-proxy-utils globus-gass-copy-progs
  gfal2 gfal2-plugin-gridftp gfal2-plugin-http gfal2-plugin-xrootd gfal2-plugin-file
  python3-gfal2 gfal2-util-scripts
  xrootd-server xrootd-client
  voms-clients
  apache2 gridsite libapache2-mod-wsgi-py3 libapache2-mod-xsendfile
  postgresql
  chromium chromium-driver
  curl openssl iproute2 util-linux
)

say() { printf 'bootstrap: %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    say "need root to run: $*"; exit 1; fi
}

missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV with /usr/bin/python3"
  /usr/bin/python3 -m venv "$VENV"
fi

# gfal2's binding lives in Debian's dist-packages; expose that one module to the venv only.
BINDINGS="$VENV/distro-bindings"
mkdir -p "$BINDINGS"
for module in /usr/lib/python3/dist-packages/gfal2*.so; do
  [ -e "$module" ] && ln -sf "$module" "$BINDINGS/"
done
SITE=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$BINDINGS" > "$SITE/pilot_movers_distro_bindings.pth"

STAMP="$VENV/.pilot-movers-installed"
WANT=$(cat setup.cfg pyproject.toml server/setup.cfg testkit/setup.cfg | sha256sum | cut -d' ' -f1)
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
  say "installing pilot-movers (editable) with all extras"
  "$VENV/bin/python" -m pip install -q --upgrade "pip>=23" "setuptools>=77" wheel
  "$VENV/bin/python" -m pip install -q -e ".[all,test]" -e "./server[postgresql]" -e ./testkit
  echo "$WANT" > "$STAMP"
fi

"$VENV/bin/python" - <<'EOF'
import gfal2, XRootD.client, tenacity, cryptography, requests, myproxy.client, globus_sdk, django, tqdm, zlib_ng, psycopg  # noqa: F401
EOF
say "ready: $VENV"
