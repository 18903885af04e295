"""What a job holds beyond files, for the ledger: process groups and directories a mover started
or made on the node (removed here, by whichever later job finds them), and things at a service
only that mover can remove (a Globus worker endpoint: handed to the mover of a later job).

A killed pilot (SIGKILL: an OOM kill, a batch system's hard limit) runs no cleanup. Its record in
the ledger still lists what it held, and the next job of the user on the node:

* ``process-group`` ``PGID MARKER``: stops the group (SIGTERM, then SIGKILL) when a process of
  it still runs whose command line holds ``MARKER`` (the job's own state dir): a group id the
  kernel gave to someone else since is left alone;
* ``directory`` ``PATH``: removes it when its name is one of the library's (``pilot-movers-``)
  and it is this user's own directory, not a link;
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
_LIBRARY_PREFIX = "pilot-movers-"


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


def remove_local(kind: str, value: str) -> Optional[str]:
    """Remove a local holding a dead job left; what was removed (for the notes), or None when
    nothing of it was there (or it was not the library's)."""
    if kind == PROCESS_GROUP:
        group, _, marker = value.partition(" ")
        return stop_group(int(group), marker) if group.isdigit() and marker else None
    if kind == DIRECTORY:
        return remove_directory(value)
    return None


def stop_group(group: int, marker: str, grace: float = 3.0) -> Optional[str]:
    """Stop process group ``group`` when one of its processes still runs with ``marker`` in its
    command line; what was stopped, or None."""
    members = _members(group)
    if not any(marker in command for command in members.values()):
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
        try:
            with open(f"/proc/{name}/stat", encoding="ascii", errors="replace") as handle:
                fields = handle.read().rpartition(")")[2].split()
            if fields[0] == "Z" or int(fields[2]) != group:
                continue
            with open(f"/proc/{name}/cmdline", "rb") as handle:
                found[int(name)] = handle.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
        except (OSError, IndexError, ValueError):
            continue
    return found


def remove_directory(path: str) -> Optional[str]:
    """Remove ``path`` when it is a directory of the library's (its name starts with
    ``pilot-movers-``) and this user's own, not a link; ``path`` when removed."""
    if not os.path.basename(os.path.normpath(path)).startswith(_LIBRARY_PREFIX):
        return None
    try:
        facts = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISDIR(facts.st_mode) or facts.st_uid != os.getuid():
        return None
    shutil.rmtree(path, ignore_errors=True)
    return path
