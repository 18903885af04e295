"""A job's log files: the outputs marked ``kind = log`` (PanDA's ``logFile``, ``files-log=``).

Pilot 3 stages the log out in every outcome: it is what a shifter reads when a job failed. So
does the Job: after a failed stage-in or payload it stages out the log files alone. A tarball
log (``.tgz``, ``.tar.gz``, ``.tar``) the payload did not write (it never ran, it died first) is
made here, as Pilot 3 makes its own: the work dir's regular files, without the inputs, the
library's own files (temporary copies, the user's proxy) and files over ``MAX_MEMBER`` bytes,
plus the job's report as it stands (``pilot_movers_report.json``). Written under a temporary
name and renamed: a log is whole or absent.
"""

from __future__ import annotations

import io
import logging
import os
import secrets
import tarfile
from typing import Collection, Sequence

from pilot_movers.planner import PlannedFile
from pilot_movers.reserved import MARK, REPORT_NAME, is_reserved

log = logging.getLogger(__name__)

#: A work dir file bigger than this stays out of a log the library makes (a payload's output).
MAX_MEMBER = 64 * 1024 * 1024
TARBALL_SUFFIXES = (".tgz", ".tar.gz", ".tar")


def is_log(item: PlannedFile) -> bool:
    return item.spec.metadata.get("kind") == "log"


def log_files(planned: Sequence[PlannedFile]) -> list[PlannedFile]:
    """The plan's log files, in its order."""
    return [item for item in planned if is_log(item)]


def can_make(name: str) -> bool:
    """Whether the library makes this log when the payload did not: a tarball name."""
    return name.endswith(TARBALL_SUFFIXES) or _tarball_with_attempt(name)


def _tarball_with_attempt(name: str) -> bool:
    """PanDA names logs ``log.<task>._<n>.job.log.tgz.<attempt>``."""
    stem, _, attempt = name.rpartition(".")
    return attempt.isdigit() and stem.endswith(TARBALL_SUFFIXES)


def make_log_tarball(path: str, workdir: str, leave_out: Collection[str], report_json: str) -> list[str]:
    """Write the tarball ``path`` of ``workdir``'s regular files (not ``leave_out``, not the
    library's, none over ``MAX_MEMBER``) and ``report_json``; the names it holds."""
    members: list[str] = []
    # named as the library's temporary copies are, so a sweep of a killed job's work dir removes it
    temporary = os.path.join(os.path.dirname(path), f"{os.path.basename(path)}{MARK}a0-{secrets.token_hex(4)}.part")
    os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
    mode = "w" if path.endswith(".tar") else "w:gz"
    try:
        with tarfile.open(temporary, mode) as tar:  # type: ignore[call-overload]
            for entry in sorted(os.scandir(workdir), key=lambda e: e.name):
                name = entry.name
                if name in leave_out or is_reserved(name) or name == os.path.basename(path):
                    continue
                if name.startswith(".report-"):  # a report being written
                    continue
                if not entry.is_file(follow_symlinks=False):
                    continue  # a link could point at a secret (the pilot's proxy)
                facts = entry.stat(follow_symlinks=False)
                if facts.st_size > MAX_MEMBER or facts.st_nlink > 1:  # a hard link could be a secret too
                    continue
                tar.add(entry.path, arcname=name, recursive=False)
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
