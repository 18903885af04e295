"""The payload's guard: ``python -m pilot_movers.payload_guard CMD ARGS...``.

The job starts the payload through this small process, the leader of the payload's own process
group. The kernel tells the guard when the pilot dies, even by SIGKILL, which no handler sees
(``PR_SET_PDEATHSIG``); the guard then stops the whole group, payload and children, so nothing
keeps running with the user's proxy after the pilot is gone. Otherwise it is transparent: it
exits as the payload did (same status, or killed by the same signal).

Only the standard library, so it starts fast.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from types import FrameType
from typing import Optional

PR_SET_PDEATHSIG = 1
#: Seconds between SIGTERM and SIGKILL when the group must stop.
GRACE = float(os.environ.get("PILOT_MOVERS_KILL_GRACE", "10"))


def _die_with_parent(parent: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:  # pragma: no cover - Linux only
        return
    if os.getppid() != parent:  # the pilot died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _stop_group(grace: float) -> None:
    """SIGTERM to every other process of the group, SIGKILL to what remains after ``grace``."""
    group = os.getpgrp()
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        os.killpg(group, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            time.sleep(0.05)
    os.killpg(group, signal.SIGKILL)


def main(argv: Optional[list[str]] = None) -> int:
    command = list(sys.argv[1:] if argv is None else argv)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        print("payload_guard: no command", file=sys.stderr)
        return 2
    parent = int(os.environ.pop("PILOT_MOVERS_PARENT_PID", os.getppid()))
    stopping = []

    def on_signal(number: int, frame: Optional[FrameType]) -> None:
        stopping.append(number)
        _stop_group(GRACE)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # A mask inherited blocked (a library of the pilot's blocked signals) would make the guard,
    # and the payload after it, deaf to being stopped.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP})
    _die_with_parent(parent)
    try:
        child = subprocess.Popen(command)  # same process group: the group is the payload
    except OSError as exc:
        print(f"payload_guard: cannot start {command[0]}: {exc.strerror}", file=sys.stderr)
        return 127
    status = child.wait()
    if status < 0:  # die of the same signal, so the job reports it as the payload's
        signal.signal(-status, signal.SIG_DFL)
        os.kill(os.getpid(), -status)
    return status


if __name__ == "__main__":
    sys.exit(main())
