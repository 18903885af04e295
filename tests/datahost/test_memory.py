"""The client streams: uploading and downloading 1 GiB keeps its peak memory far below the
file's size (each direction measured in a process of its own). What is measured is the growth of
the peak during the transfer, above the peak once the client is imported and connected: the
imports' weight changes with the libraries, a buffered file would add a gigabyte."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.helpers import write_file

GIB = 1 << 30
GROWTH_LIMIT_MB = 100

CLIENT = """
import json, resource, sys, time
from pilot_movers.https_datahost.client import DataHostClient
mode, address, ca_dir, proxy, path, name = sys.argv[1:]
def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
with DataHostClient(address, ca_dir=ca_dir, cert=proxy) as client:
    client.ls()
    before = peak_mb()
    started = time.monotonic()
    if mode == "put":
        result = client.put(path, name, overwrite=True)
    else:
        result = client.get(name, path, overwrite=True)
    seconds = time.monotonic() - started
figures = {"rss_mb": peak_mb(), "growth_mb": peak_mb() - before, "seconds": seconds}
print(json.dumps({**figures, "size": result.size, "adler32": result.adler32}))
"""


def _client(mode: str, datahost, path, name: str) -> dict:
    grid = datahost.grid
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            CLIENT,
            mode,
            datahost.address,
            str(grid.cert_dir),
            str(grid.user_proxy),
            str(path),
            name,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_one_gib_up_and_down_in_constant_memory(datahost, proxy_client, tmp_path):
    source = tmp_path / "one-gib.bin"
    expected = write_file(source, GIB, seed=81).value
    try:
        up = _client("put", datahost, source, "one-gib.bin")
        down = _client("get", datahost, tmp_path / "one-gib.copy", "one-gib.bin")
    finally:
        try:
            proxy_client.rm("one-gib.bin")
        except Exception:  # the assertion below says what went wrong
            pass
    assert up["size"] == down["size"] == GIB
    assert up["adler32"] == down["adler32"] == expected
    print(
        f"\n1 GiB upload: {GIB / up['seconds'] / 1e6:.0f} MB/s, peak RSS {up['rss_mb']:.0f} MB "
        f"(+{up['growth_mb']:.0f}); download: {GIB / down['seconds'] / 1e6:.0f} MB/s, peak RSS "
        f"{down['rss_mb']:.0f} MB (+{down['growth_mb']:.0f})"
    )
    assert up["growth_mb"] < GROWTH_LIMIT_MB, up
    assert down["growth_mb"] < GROWTH_LIMIT_MB, down
