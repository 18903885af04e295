"""Constant memory at any file size: 2 GiB up and 2 GiB down through each mover, in a process of
its own whose peak resident size (the kernel's high-water mark, VmHWM) must stay under 150 MB."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pilot_movers.checksums import Checksum
from tests.https.conftest import Endpoint

SIZE = 2 << 30
LIMIT_MB = 150

#: Runs in a fresh interpreter: the movers' imports included, nothing else of the test's.
MEASURE = """
import json, sys
from pilot_movers.credentials.bundle import Credentials
from pilot_movers.engine.settings import TransferSettings
from pilot_movers.registry import get_mover_class
from pilot_movers.values import FileSpec, Location, Role

name, proxy, ca_dir, source, remote, back = sys.argv[1:]
mover = get_mover_class(name)(TransferSettings(stall_timeout=60))
mover.start(Credentials(x509_proxy=proxy, ca_dir=ca_dir))
try:
    (up,) = mover.stage_out([FileSpec("big", Location.local(source), Location.parse(remote), Role.OUTPUT)])
    (down,) = mover.stage_in([FileSpec("big", Location.parse(remote), Location.local(back), Role.INPUT)])
finally:
    mover.stop()
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({
    "peak_kb": peak,
    "results": [[r.status.value, r.bytes, str(r.checksum), r.verified, r.seconds] for r in (up, down)],
}))
"""


@pytest.fixture(scope="module")
def two_gib(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Checksum]:
    """2 GiB of varied bytes (one random MiB, each copy shifted), and their adler32."""
    import os
    import zlib

    path = tmp_path_factory.mktemp("two-gib") / "source.bin"
    block = os.urandom(1 << 20)
    adler = 1
    with open(path, "wb") as handle:
        for i in range(SIZE >> 20):
            chunk = block[i % 4096 :] + block[: i % 4096]
            adler = zlib.adler32(chunk, adler)
            handle.write(chunk)
    return path, Checksum.adler32_of_int(adler)


def test_two_gib_stream_each_way_in_constant_memory(endpoint: Endpoint, tmp_path: Path, two_gib):
    source, checksum = two_gib
    back = tmp_path / "back.bin"
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            MEASURE,
            endpoint.name,
            str(endpoint.grid.user_proxy),
            str(endpoint.grid.cert_dir),
            str(source),
            endpoint.url("two-gib.bin"),
            str(back),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    (up_status, up_bytes, up_sum, up_verified, up_s), (down_status, down_bytes, down_sum, down_verified, down_s) = (
        measured["results"]
    )
    assert (up_status, up_bytes, up_sum, up_verified) == ("done", SIZE, str(checksum), True)
    assert (down_status, down_bytes, down_sum, down_verified) == ("done", SIZE, str(checksum), True)
    assert back.stat().st_size == SIZE
    peak_mb = measured["peak_kb"] / 1024
    print(
        f"{endpoint.name}: 2 GiB up {SIZE / up_s / 1e6:.0f} MB/s, down {SIZE / down_s / 1e6:.0f} MB/s, "
        f"peak RSS {peak_mb:.0f} MB"
    )
    assert peak_mb < LIMIT_MB, f"peak RSS {peak_mb:.0f} MB"
    back.unlink()
    endpoint.path("two-gib.bin").unlink()
