"""A job's log files: the outputs marked ``kind = log`` (PanDA's ``logFile``, ``files-log=``).

Pilot 3 stages the log out in every outcome: it is what a shifter reads when a job failed. So
does the Job: after a failed stage-in or payload it stages out the log files alone. A tarball
log (``.tgz``, ``.tar.gz``, ``.tar``) the payload did not write (it never ran, it died first) is
made here (Pilot 3 makes its own of the work dir too): the work dir's regular files, without
the job's inputs and outputs, the library's own files, links and hard-linked files, the job's
credentials and any file holding a private key, files over ``MAX_MEMBER`` bytes (and no more than
``MAX_TOTAL`` in all), plus the job's report as it stands (``pilot_movers_report.json``).
Written under a temporary name and renamed: a log is whole or absent.
"""

from __future__ import annotations

import io
import logging
import os
import secrets
import stat
import tarfile
from typing import BinaryIO, Collection, Iterable, Optional, Sequence

from pilot_movers.planner import PlannedFile
from pilot_movers.reserved import MARK, REPORT_NAME, is_reserved
from pilot_movers.values import FileSpec

log = logging.getLogger(__name__)

#: A work dir file bigger than this stays out of a log the library makes (a payload's output).
MAX_MEMBER = 64 * 1024 * 1024
#: What a log the library makes holds at most (before compression).
MAX_TOTAL = 256 * 1024 * 1024
#: How far into a file a private key is looked for (a proxy's key follows its certificates).
KEY_SCAN = 64 * 1024
TARBALL_SUFFIXES = (".tgz", ".tar.gz", ".tar")


def is_log(spec: FileSpec) -> bool:
    """One of the job's log files (PanDA's ``logFile``, ``files-log=``)."""
    return spec.metadata.get("kind") == "log"


def log_files(planned: Sequence[PlannedFile]) -> list[PlannedFile]:
    """The plan's log files, in its order."""
    return [item for item in planned if is_log(item.spec)]


def can_make(name: str) -> bool:
    """Whether the library makes this log when the payload did not: a tarball name."""
    return name.endswith(TARBALL_SUFFIXES) or _tarball_with_attempt(name)


def _tarball_with_attempt(name: str) -> bool:
    """PanDA names logs ``log.<task>._<n>.job.log.tgz.<attempt>``."""
    stem, _, attempt = name.rpartition(".")
    return attempt.isdigit() and stem.endswith(TARBALL_SUFFIXES)


def make_log_tarball(
    path: str,
    workdir: str,
    leave_out: Collection[str],
    report_json: str,
    secrets_at: Iterable[str] = (),
) -> list[str]:
    """Write the tarball ``path`` of ``workdir``'s regular files and ``report_json``; the names it
    holds. Left out: ``leave_out`` (the job's inputs and outputs), the library's own files, links,
    hard-linked files, the files ``secrets_at`` names (the job's proxies, found by inode), any file
    holding a private key, files over ``MAX_MEMBER`` and whatever would take the tarball past
    ``MAX_TOTAL``. Each member is opened without following links and without blocking, and
    checked on the open descriptor: a file swapped for a link or a FIFO meanwhile is not read."""
    members: list[str] = []
    secret_inodes = _inodes(secrets_at)
    # named as the library's temporary copies are, so a sweep of a killed job's work dir removes it
    temporary = os.path.join(os.path.dirname(path), f"{os.path.basename(path)}{MARK}a0-{secrets.token_hex(4)}.part")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    total = 0
    try:
        with os.fdopen(descriptor, "wb") as handle, _tar_for(path, handle) as tar:
            for name in sorted(os.listdir(workdir)):
                if (
                    name in leave_out
                    or is_reserved(name)
                    or name == os.path.basename(path)
                    or name.startswith(".report-")
                ):
                    continue
                added = _add_member(tar, os.path.join(workdir, name), name, secret_inodes, MAX_TOTAL - total)
                if added is not None:
                    total += added
                    members.append(name)
            data = report_json.encode("utf-8")
            info = tarfile.TarInfo(REPORT_NAME)
            info.size, info.mode = len(data), 0o600
            tar.addfile(info, io.BytesIO(data))
            members.append(REPORT_NAME)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
    log.info("log %s made of the work dir: %s", os.path.basename(path), ", ".join(members))
    return members


def _tar_for(path: str, handle: BinaryIO) -> tarfile.TarFile:
    if path.endswith(".tar"):
        return tarfile.open(fileobj=handle, mode="w")
    return tarfile.open(fileobj=handle, mode="w:gz")


def _inodes(paths: Iterable[str]) -> set[tuple[int, int]]:
    found = set()
    for path in paths:
        try:
            facts = os.stat(path)
        except OSError:
            continue
        found.add((facts.st_dev, facts.st_ino))
    return found


def _add_member(
    tar: tarfile.TarFile, path: str, name: str, secret_inodes: set[tuple[int, int]], room: int
) -> Optional[int]:
    """Add one work dir file, checked on its open descriptor; its size, or None when left out
    (each reason in the debug log; a file that cannot be read is left out, not the log)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:  # a link (ELOOP), gone, unreadable
        log.debug("log: %s left out: %s", name, exc.strerror)
        return None
    with os.fdopen(fd, "rb") as member:
        facts = os.fstat(fd)
        why = ""
        if not stat.S_ISREG(facts.st_mode):
            why = "not a regular file"
        elif facts.st_nlink > 1:
            why = "hard-linked (it could be a secret kept elsewhere)"
        elif (facts.st_dev, facts.st_ino) in secret_inodes:
            why = "a credential of the job"
        elif facts.st_size > min(MAX_MEMBER, room):
            why = f"{facts.st_size} bytes: over what the log takes"
        elif _holds_a_private_key(member):
            why = "it holds a private key"
        if why:
            log.debug("log: %s left out: %s", name, why)
            return None
        member.seek(0)
        info = tar.gettarinfo(arcname=name, fileobj=member)
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        try:
            tar.addfile(info, member)
        except OSError as exc:  # it shrank meanwhile: tarfile says "unexpected end of data"
            raise OSError(f"{name} changed while the log was made: {exc}") from exc
        return int(facts.st_size)


def _holds_a_private_key(member: BinaryIO) -> bool:
    """A PEM private key (a proxy holds one) in the first ``KEY_SCAN`` bytes."""
    head = member.read(KEY_SCAN)
    return b"PRIVATE KEY-----" in head
