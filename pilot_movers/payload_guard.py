"""The payload's guard: ``python -m pilot_movers.payload_guard CMD ARGS...``.

The job starts the payload through this small process, the leader of the payload's own process
group and a *child subreaper* (``PR_SET_CHILD_SUBREAPER``): every process the payload starts that
loses its parent, a double-forked or ``setsid`` daemon included, becomes the guard's child instead
of init's, so the guard sees the payload's whole tree however it tries to leave it. The guard
stops that whole tree, not only its process group:

* when the payload's main process exits (what it leaves running is killed at once);
* when it is told to stop (SIGTERM, SIGINT: SIGTERM to the tree, SIGKILL after the grace);
* when the pilot dies, even by SIGKILL, which no handler sees: the kernel tells the guard
  (``PR_SET_PDEATHSIG``).

Otherwise it is transparent: it exits as the payload did (same status, or killed by the same
signal). What could not be killed (a process of another user, one stuck in the kernel) is written
as JSON to the descriptor ``PILOT_MOVERS_GUARD_FD`` names, for the job's report.

Only the standard library, so it starts fast.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from types import FrameType
from typing import Optional

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
#: Seconds between SIGTERM and SIGKILL when the tree must stop.
GRACE = float(os.environ.get("PILOT_MOVERS_KILL_GRACE", "10"))
#: Rounds of killing and looking again (a payload that forks as fast as it is killed).
ROUNDS = 50


def _prctl(option: int, value: int) -> bool:
    libc = ctypes.CDLL(None, use_errno=True)
    return bool(libc.prctl(option, value, 0, 0, 0) == 0)


def _die_with_parent(parent: int) -> None:
    if not _prctl(PR_SET_PDEATHSIG, signal.SIGTERM):  # pragma: no cover - Linux only
        return
    if os.getppid() != parent:  # the pilot died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def descendants(root: int) -> list[int]:
    """Every process below ``root`` (by parent pid, read from /proc), nearest first."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:  # gone meanwhile
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses; it ends at the last ")"
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 1:
            children.setdefault(int(fields[1]), []).append(int(entry))
    found: list[int] = []
    queue = list(children.get(root, ()))
    while queue:
        pid = queue.pop(0)
        found.append(pid)
        queue.extend(children.get(pid, ()))
    return found


def _reap() -> None:
    """Collect every child that has exited (orphans adopted by this subreaper included)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _signal_all(pids: list[int], number: int) -> list[int]:
    """Send ``number`` to each of ``pids``; those it could not be sent to (not ours)."""
    refused = []
    for pid in pids:
        try:
            os.kill(pid, number)
        except ProcessLookupError:
            pass
        except PermissionError:
            refused.append(pid)
    return refused


def stop_tree(grace: float) -> list[str]:
    """SIGTERM to every descendant, SIGKILL to what remains after ``grace`` seconds, until none is
    left (or ``ROUNDS`` rounds); returns ``pid command`` of what could not be killed."""
    me = os.getpid()
    _signal_all(descendants(me), signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and descendants(me):
        _reap()
        time.sleep(0.05)
    refused: list[int] = []
    for _ in range(ROUNDS):
        left = descendants(me)
        if not left or set(left) <= set(refused):
            break
        refused = _signal_all(left, signal.SIGKILL)
        time.sleep(0.02)
        _reap()
    _reap()
    return [_describe(pid) for pid in descendants(me)]


def _describe(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            command = handle.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        command = "?"
    return f"{pid} {command[:200]}"


def _tell(survivors: list[str]) -> None:
    descriptor = os.environ.get("PILOT_MOVERS_GUARD_FD")
    if not descriptor:
        return
    try:
        os.write(int(descriptor), json.dumps({"survivors": survivors}).encode())
    except (OSError, ValueError):
        pass


def main(argv: Optional[list[str]] = None) -> int:
    command = list(sys.argv[1:] if argv is None else argv)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        print("payload_guard: no command", file=sys.stderr)
        return 2
    parent = int(os.environ.pop("PILOT_MOVERS_PARENT_PID", os.getppid()))
    report_fd = os.environ.pop("PILOT_MOVERS_GUARD_FD", None)
    if report_fd:
        os.environ["PILOT_MOVERS_GUARD_FD"] = report_fd  # for _tell; the payload does not get it
    stopping: list[int] = []

    def on_signal(number: int, frame: Optional[FrameType]) -> None:
        if stopping:
            return
        stopping.append(number)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _tell(stop_tree(GRACE))
        os._exit(128 + number)

    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # A mask inherited blocked (a library of the pilot's blocked signals) would make the guard,
    # and the payload after it, deaf to being stopped.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP})
    _die_with_parent(parent)
    payload_env = {k: v for k, v in os.environ.items() if k != "PILOT_MOVERS_GUARD_FD"}
    try:
        child = subprocess.Popen(command, env=payload_env)  # same process group: the group is the payload
    except OSError as exc:
        print(f"payload_guard: cannot start {command[0]}: {exc.strerror}", file=sys.stderr)
        return 127
    status = child.wait()
    # The payload's main process is done: what it left running (in the group or not) goes now.
    _tell(stop_tree(0.0))
    if status < 0:  # die of the same signal, so the job reports it as the payload's
        signal.signal(-status, signal.SIG_DFL)
        os.kill(os.getpid(), -status)
    return status


if __name__ == "__main__":
    sys.exit(main())
