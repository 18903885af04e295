"""Many small files over GridFTP through the globus-url-copy engine (pipelined, concurrent).

gfal2 copies between GridFTP and local files one at a time, each with its own data channel and a
few round trips (about 80 ms a file on loopback, where ``globus-url-copy -pp -cc 4`` needs under
2 ms): gfal2 exposes no pipelining for such copies. So batches of small files go to the Globus
Toolkit's own client, the program ``globus-url-copy``, with a file list: pipelined commands,
``parallel`` transfers at once, data channels kept. It only moves bytes; verification stays the
mover's (checksums compared with the job's or the server's), and any file it did not move goes
through gfal2 again, whose errors carry errnos.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Sequence

from pilot_movers.errors import MoverUnavailable
from pilot_movers.secrecy import child_environment

PROGRAM = "globus-url-copy"
#: How often progress is read while the program runs, in seconds.
POLL = 0.2


@dataclass(frozen=True)
class Pair:
    source: str
    target: str


def available() -> bool:
    return shutil.which(PROGRAM) is not None


def copy_files(
    pairs: Sequence[Pair],
    *,
    parallel: int,
    environment: Mapping[str, str],
    progress: Callable[[int], None],
    cancelled: threading.Event,
    stall_timeout: float,
) -> set[int]:
    """Copy ``pairs``; the indices of those that were not copied (None of them: an empty set).

    ``progress`` gets the bytes moved so far (read from the program's I/O counters);
    ``cancelled`` stops the program at once. The program makes target directories; it never
    overwrites (the targets are new temporary names).
    """
    if not available():
        raise MoverUnavailable(f"{PROGRAM} is not installed (Debian: globus-gass-copy-progs)")
    with tempfile.TemporaryDirectory(prefix="pilot-movers-guc-") as scratch:
        listing = os.path.join(scratch, "pairs")
        failed = os.path.join(scratch, "untransferred")
        with open(listing, "w", encoding="utf-8") as handle:
            handle.writelines(f"{_quoted(p.source)} {_quoted(p.target)}\n" for p in pairs)
        argv = [
            PROGRAM,
            "-pp",
            "-cc",
            str(max(1, parallel)),
            "-cd",
            "-nodcau",
            "-st",
            str(max(1, int(stall_timeout))),
            "-rst-retries",
            "1",
            "-df",
            failed,
            "-f",
            listing,
        ]
        process = subprocess.Popen(
            argv,
            env=child_environment(environment, keep_prefixes=("GLOBUS_", "X509_")),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            while True:
                try:
                    process.wait(timeout=POLL)
                    break
                except subprocess.TimeoutExpired:
                    pass
                if cancelled.is_set():
                    _kill(process)
                    return set(range(len(pairs)))
                moved = _bytes_moved(process.pid)
                if moved is not None:
                    progress(moved)
        finally:
            if process.poll() is None:
                _kill(process)
        if process.returncode == 0:
            return set()
        return _untransferred(failed, pairs)


def _untransferred(dumpfile: str, pairs: Sequence[Pair]) -> set[int]:
    try:
        with open(dumpfile, encoding="utf-8") as handle:
            listed = {line.split()[0].strip('"') for line in handle if line.strip()}
    except FileNotFoundError:
        return set(range(len(pairs)))  # it failed before it could say: take nothing as moved
    found = {index for index, pair in enumerate(pairs) if pair.source in listed}
    return found or set(range(len(pairs)))


def _bytes_moved(pid: int) -> Optional[int]:
    """Bytes the program read and wrote so far (its /proc I/O counters): a download writes
    what arrives, an upload reads what it sends."""
    try:
        with open(f"/proc/{pid}/io", encoding="ascii") as handle:
            counters = dict(line.split(":", 1) for line in handle)
    except OSError:
        return None
    return int(counters.get("rchar", 0)) + int(counters.get("wchar", 0))


def _kill(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def _quoted(url: str) -> str:
    return f'"{url}"' if any(c.isspace() for c in url) else url
