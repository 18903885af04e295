"""What a job holds beyond files, for the ledger: process groups and directories a mover started
or made on the node (removed here, by whichever later job finds them), and things at a service
only that mover can remove (a Globus worker endpoint: handed to the mover of a later job).

A killed pilot (SIGKILL: an OOM kill, a batch system's hard limit) runs no cleanup. Its record in
the ledger still lists what it held, and the next job of the user on the node:

* ``process-group`` ``PGID MARKER``: stops the group (SIGTERM, then SIGKILL) when it is a
  session of its own (GCP is started so), not this process's group, session or an ancestor's,
  ``MARKER`` is a GCP state dir of the library's (``pilot-movers-gcp-*``) and a process of the
  group still runs with it in its command line: a group id the kernel gave to someone else since
  is left alone;
* ``directory`` ``PATH``: removes it when its name is a GCP state dir of the library's
  (``pilot-movers-gcp-*``) and it is this user's own directory, not a link;

The payload runs under the same uid and can read the ledger's key, so it can forge a line: at
worst it has a GCP state dir removed or a GCP process group stopped (another job's, on this node:
that job's Globus transfers fail and are retried), or a worker endpoint of the pilot's own made
by pilot-movers deleted (``globus.worker.delete_orphan_endpoints`` checks the endpoint first).
* any other kind: takes it over into its own record; the mover that knows the kind finds it in
  ``JobFacts.holdings.left_by_dead_jobs(kind)`` when the job opens it, removes it and releases it.
  A job that opens no such mover keeps it in its record for the next.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import stat
import time
from typing import Optional

from pilot_movers.ledger import JobRecord

log = logging.getLogger(__name__)

PROCESS_GROUP = "process-group"
DIRECTORY = "directory"
#: Kinds removed on the node by any job; others need the mover that made them.
LOCAL_KINDS = (PROCESS_GROUP, DIRECTORY)


class JobHoldings:
    """A job's ``Holdings`` (``job_facts``): its record, and what dead jobs left for its movers."""

    def __init__(self, record: Optional[JobRecord], orphans: Optional[dict[str, list[str]]] = None) -> None:
        self.record = record
        self.orphans = orphans if orphans is not None else {}

    def hold(self, kind: str, value: str) -> None:
        if self.record is not None:
            self.record.hold(kind, value)

    def release(self, kind: str, value: str) -> None:
        if self.record is not None:
            self.record.release(kind, value)
        if value in self.orphans.get(kind, []):
            self.orphans[kind].remove(value)

    def left_by_dead_jobs(self, kind: str) -> list[str]:
        return list(self.orphans.get(kind, []))


#: The name every GCP state dir of the library's starts with (``globus.worker``).
GCP_STATE_PREFIX = "pilot-movers-gcp-"


def remove_local(kind: str, value: str) -> Optional[str]:
    """Remove a local holding a dead job left; what was removed (for the notes), or None when
    nothing of it was there, it was not the library's, or the line made no sense. Never raises
    (a line a payload forged must not stop every later job)."""
    try:
        if kind == PROCESS_GROUP:
            group, _, marker = value.partition(" ")
            if not (group.isascii() and group.isdigit() and marker):
                return None
            return stop_group(int(group), marker)
        if kind == DIRECTORY:
            return remove_directory(value)
    except Exception as exc:  # noqa: BLE001 - a holding that cannot be removed is left, said
        log.warning("could not remove %s %s left by a killed job: %s", kind, value[:200], exc)
    return None


def _stat(pid: object) -> Optional[tuple[str, int, int, int]]:
    """``/proc/PID/stat``'s state, parent, process group and session (None: gone, unreadable)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            fields = handle.read().rpartition(")")[2].split()
        return fields[0], int(fields[1]), int(fields[2]), int(fields[3])
    except (OSError, IndexError, ValueError):
        return None


def _ours(group: int) -> bool:
    """``group`` is this process's group or session, or an ancestor's: never stopped."""
    mine = {os.getpgid(0), os.getsid(0)}
    pid = os.getpid()
    while pid > 1:
        mine.add(pid)
        found = _stat(pid)
        if found is None:
            break
        pid = found[1]
    return group in mine or group <= 1


def stop_group(group: int, marker: str, grace: float = 3.0) -> Optional[str]:
    """Stop process group ``group`` when it is a session of its own, not ours, ``marker`` is a
    GCP state dir of the library's, and one of its processes still runs with ``marker`` in its
    command line; what was stopped, or None."""
    if not os.path.basename(os.path.normpath(marker)).startswith(GCP_STATE_PREFIX) or _ours(group):
        return None
    members = _members(group)
    leader = _stat(group)
    if not any(marker in command for command in members.values()) or leader is None or leader[3] != group:
        return None
    for number in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(group, number)
        except ProcessLookupError:
            break
        except PermissionError:  # not ours
            return None
        deadline = time.monotonic() + grace
        while _members(group) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not _members(group):
            break
    shown = "; ".join(f"{pid} {command[:80]}" for pid, command in sorted(members.items()))
    return f"process group {group} ({shown})"


def _members(group: int) -> dict[int, str]:
    """The live processes of ``group`` and their command lines (zombies left out)."""
    found: dict[int, str] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return found
    for name in names:
        if not name.isdigit():
            continue
        facts = _stat(name)
        if facts is None or facts[0] == "Z" or facts[2] != group:
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as handle:
                found[int(name)] = handle.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
        except OSError:
            continue
    return found


def remove_directory(path: str) -> Optional[str]:
    """Remove ``path`` when it is a GCP state dir of the library's (its name starts with
    ``pilot-movers-gcp-``) and this user's own, not a link; ``path`` when removed."""
    if not os.path.basename(os.path.normpath(path)).startswith(GCP_STATE_PREFIX):
        return None
    try:
        facts = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISDIR(facts.st_mode) or facts.st_uid != os.getuid():
        return None
    shutil.rmtree(path, ignore_errors=True)
    return path
