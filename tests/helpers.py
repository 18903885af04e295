"""Small helpers shared by the tests: files with known content, specs, fast settings."""

from __future__ import annotations

import os
import random
import zlib
from pathlib import Path
from typing import Any

from pilot_movers.checksums import Checksum
from pilot_movers.engine.settings import TransferSettings
from pilot_movers.values import FileSpec, Location, Role

#: Settings that keep tests fast: tiny backoff, quick watchdog.
FAST = TransferSettings(backoff_initial=0.01, backoff_max=0.05, backoff_jitter=0.01, watchdog_interval=0.05)


def write_file(path: Path, size: int, seed: int = 0) -> Checksum:
    """Write ``size`` pseudo-random bytes to ``path``; return their adler32."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    adler = 1
    with open(path, "wb") as handle:
        left = size
        while left:
            n = min(left, 1 << 20)
            block = rng.randbytes(n)
            adler = zlib.adler32(block, adler)
            handle.write(block)
            left -= n
    return Checksum.adler32_of_int(adler)


def local_spec(
    source: Path, destination: Path, *, role: Role = Role.INPUT, checksum: Checksum | None = None
) -> FileSpec:
    return FileSpec(
        destination.name, Location.local(str(source)), Location.local(str(destination)), role, checksum=checksum
    )


def debris(directory: Path) -> list[str]:
    """Temporary files the engine would have left behind."""
    found = []
    for root, _dirs, files in os.walk(directory):
        found += [os.path.join(root, f) for f in files if f.endswith(".part") and ".pilot-movers-" in f]
    return found


def assert_nothing_lost(result: Any, *, files: int) -> None:
    """A DataHost load run (``datahost_load.LoadResult``), printed: no pilot failed, no file lost
    or corrupted, no server error, no retry, ``files`` files moved."""
    from pilot_movers_testkit.datahost_load import result_to_json

    report = result_to_json(result)
    print(report)
    assert result.failed == [], report
    assert (result.lost, result.corrupted, result.server_errors) == ([], [], []), report
    assert result.retried == 0, report
    assert result.files_moved == files
