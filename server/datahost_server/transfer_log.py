"""Download bandwidth, as Apache measured it.

Downloads are served by Apache (X-Sendfile), so Django never sees their bytes or duration. The
download view tags its response with ``X-DataHost-Transfer: <token>``; Apache writes one line
per request to ``logs/transfers.log`` (``%{X-DataHost-Transfer}o %>s %B %D %X``: token, status,
body bytes sent, microseconds, connection state), and ``ingest()`` reads the lines it has not read
yet into the matching Transfer records. It runs when a person or client asks for the history or
the listing; a lock keeps two readers from counting a line twice. Each host reads its own
Apache's log: the read position is kept per host and path (front-ends share one database).
"""

from __future__ import annotations

import datetime
import fcntl
import logging
import os
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from django.conf import settings
from django.db import transaction

from datahost_server.apache import TRANSFER_LOG_FORMAT
from datahost_server.models import LogCursor, Transfer

log = logging.getLogger(__name__)

LOG_FORMAT = TRANSFER_LOG_FORMAT
#: Never read more than this per call (a huge backlog is read over several calls).
MAX_READ = 8 << 20


@dataclass(frozen=True)
class LogLine:
    token: uuid.UUID
    status: int
    bytes: int
    seconds: float
    aborted: bool


def parse_line(line: str) -> Optional[LogLine]:
    """One line of the transfer log; None for requests that were not downloads."""
    parts = line.split()
    if len(parts) != 5 or parts[0] == "-":
        return None
    token, status, size, micros, connection = parts
    try:
        return LogLine(
            uuid.UUID(token),
            int(status),
            0 if size == "-" else int(size),
            int(micros) / 1e6,
            connection == "X",
        )
    except ValueError:
        return None


def ingest(path: Optional[Path] = None) -> int:
    """Read new lines of the transfer log into Transfer records; return how many were applied."""
    path = Path(path or settings.DATAHOST_TRANSFER_LOG)
    lock_path = Path(settings.DATAHOST_RUN_DIR) / "transfer-log.lock"
    if not path.exists():
        return 0
    with open(path, "rb") as handle, open(lock_path, "a+b") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        stat = os.fstat(handle.fileno())
        cursor = _cursor(path)
        offset = cursor.offset if cursor.inode == stat.st_ino and cursor.offset <= stat.st_size else 0
        handle.seek(offset)
        data = handle.read(MAX_READ)
        complete = data[: data.rfind(b"\n") + 1]  # a line Apache is still writing waits
        applied = 0
        with transaction.atomic():
            for raw in complete.decode("utf-8", "replace").splitlines():
                entry = parse_line(raw)
                if entry is not None and _apply(entry):
                    applied += 1
            cursor.inode = stat.st_ino
            cursor.offset = offset + len(complete)
            cursor.save()
        return applied


def _cursor(path: Path) -> LogCursor:
    """This host's read position in its log ``path`` (a position kept under the bare path, from
    before positions were kept per host, is taken over once)."""
    cursor, created = LogCursor.objects.get_or_create(path=f"{socket.gethostname()}:{path}")
    if created:
        earlier = LogCursor.objects.filter(path=str(path)).first()
        if earlier is not None:
            cursor.inode, cursor.offset = earlier.inode, earlier.offset
    return cursor


def _apply(entry: LogLine) -> bool:
    transfer = Transfer.objects.filter(token=entry.token, kind=Transfer.DOWNLOAD).first()
    if transfer is None:
        return False
    transfer.bytes = entry.bytes
    transfer.seconds = entry.seconds
    # When the last byte went out, not when the log was read (a page view, maybe hours later).
    started = transfer.started or transfer.created
    transfer.finished = started + datetime.timedelta(seconds=entry.seconds)
    complete = entry.status in (200, 206) and not entry.aborted
    transfer.state = Transfer.DONE if complete else Transfer.FAILED
    if not complete:
        transfer.error = "the client disconnected" if entry.aborted else f"HTTP status {entry.status}"
    transfer.save(update_fields=["bytes", "seconds", "finished", "state", "error"])
    return True
