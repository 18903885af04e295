"""Files on disk: one directory per user, names checked, temporary files for transfers in
progress, and the one place where a complete file is put into place (``commit``).

A file being written has a hidden name in its owner's directory,
``.upload-<pid>@<host>-<random>.part`` (or ``.pull-...``), so the final rename never crosses file
systems and a crashed process's leftovers can be told apart from live ones: by their pid on the
host that wrote them; another host's (the storage may be shared) only by their age.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import secrets
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from django.conf import settings

from datahost_server.names import suggest_name
from datahost_server.shared_lock import shared_commit_lock
from pilot_movers.https_datahost.protocol import FILE_NAME

log = logging.getLogger(__name__)

#: File names users may store: no path separators, no leading dot (hidden names are ours).
NAME_PATTERN = FILE_NAME  # the client's rule too: pilot_movers.https_datahost.protocol
#: ``.upload-<pid>@<host>-<12 random>.part``; names without ``@<host>`` are from before hosts were named.
_TEMPORARY = re.compile(r"^\.(upload|pull)-(\d+)(?:@([A-Za-z0-9._-]+)-[A-Za-z0-9_-]{12}|-[A-Za-z0-9_-]+)\.part$")


class BadName(ValueError):
    """A file name that cannot be stored."""


@dataclass(frozen=True)
class FileEntry:
    name: str
    size: int
    mtime_ns: int


def check_name(name: str) -> str:
    """Return ``name`` if users may store a file under it, else raise BadName."""
    if not NAME_PATTERN.match(name or ""):
        raise BadName(
            f"{name!r} is not a valid file name: use letters, digits and ._+=,@%- "
            f"(no '/', no leading '.', at most 255 characters), for example {suggest_name(name or '')!r}"
        )
    return name


def storage_root() -> Path:
    return Path(settings.DATAHOST_STORAGE)


def user_directory(user_id: int, *, create: bool = True) -> Path:
    """A user's directory, named by the user's id (user names may change; ids do not)."""
    directory = storage_root() / str(int(user_id))
    if create:
        directory.mkdir(mode=0o750, parents=True, exist_ok=True)
    return directory


def file_path(user_id: int, name: str) -> Path:
    return user_directory(user_id) / check_name(name)


def list_files(user_id: int) -> list[FileEntry]:
    """The user's complete files (temporary ones excluded), by name."""
    directory = user_directory(user_id, create=False)
    entries = []
    try:
        with os.scandir(directory) as scan:
            for entry in scan:
                if entry.name.startswith(".") or not entry.is_file(follow_symlinks=False):
                    continue
                stat = entry.stat(follow_symlinks=False)
                entries.append(FileEntry(entry.name, stat.st_size, stat.st_mtime_ns))
    except FileNotFoundError:
        return []
    return sorted(entries, key=lambda e: e.name)


def usage(user_id: int) -> int:
    """Bytes on disk in the user's directory: complete files and the temporary files of
    transfers in progress (what quotas count)."""
    total = 0
    try:
        with os.scandir(user_directory(user_id, create=False)) as scan:
            for entry in scan:
                try:
                    if entry.is_file(follow_symlinks=False):
                        total += entry.stat(follow_symlinks=False).st_size
                except FileNotFoundError:  # a temporary file removed meanwhile
                    continue
    except FileNotFoundError:
        return 0
    return total


def temporary_file(user_id: int, purpose: str) -> tuple[Path, int]:
    """Create a new hidden temporary file in the user's directory; return its path and an open
    write descriptor."""
    directory = user_directory(user_id)
    while True:
        path = directory / f".{purpose}-{os.getpid()}@{host_label()}-{secrets.token_urlsafe(9)}.part"
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o640)
        except FileExistsError:
            continue
        return path, descriptor


def discard(path: Optional[Path]) -> None:
    """Remove a temporary file if it is still there."""
    if path is None:
        return
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("cannot remove the temporary file %s: %s", path, exc.strerror)


def host_label() -> str:
    """This host's name as temporary file names carry it (letters, digits, ``._-`` only)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", socket.gethostname())[:64] or "host"


@contextmanager
def commit_lock() -> Iterator[None]:
    """Serialise quota checks and renames across the threads and processes of an instance: a
    file lock for this host's processes, then the database's lock for the other hosts'."""
    lock_path = Path(settings.DATAHOST_RUN_DIR) / "commit.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        with shared_commit_lock():
            yield
    finally:
        os.close(descriptor)  # releases the lock


def place(temporary: Path, target: Path, *, overwrite: bool) -> None:
    """Rename a complete temporary file to its name. Without ``overwrite`` an existing file is
    never replaced, even by a racing writer (link, then unlink the temporary name)."""
    if overwrite:
        os.replace(temporary, target)
        return
    os.link(temporary, target)  # FileExistsError if the name was taken meanwhile
    os.unlink(temporary)


def sweep_orphans(*, at_startup: bool = False) -> int:
    """Remove temporary files left by processes that no longer exist (a crashed daemon).

    Only this host's files are judged by their pid; on shared storage another host's file (or
    one named before hosts were named) is removed only once nobody wrote it for
    ``DATAHOST_STALE_TEMPORARY_SECONDS``: its pid means nothing here. ``at_startup``: this
    process serves nothing yet, so files named with its own pid (left by an earlier process that
    had the same pid) are orphans too."""
    removed = 0
    root = storage_root()
    if not root.is_dir():
        return 0
    here = host_label()
    stale_before = time.time() - settings.DATAHOST_STALE_TEMPORARY_SECONDS
    for directory in root.iterdir():
        if not directory.is_dir():
            continue
        for entry in directory.iterdir():
            match = _TEMPORARY.match(entry.name)
            if match is None:
                continue
            pid, host = int(match.group(2)), match.group(3)
            mine = pid == os.getpid()
            if host != here:
                orphan = _modified_before(entry, stale_before)
            else:
                orphan = (mine and at_startup) or (not mine and not _alive(pid))
            if orphan:
                discard(entry)
                removed += 1
    if removed:
        log.warning("removed %d temporary file(s) left by processes that died", removed)
    return removed


def _modified_before(path: Path, moment: float) -> bool:
    try:
        return path.stat().st_mtime < moment
    except FileNotFoundError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
