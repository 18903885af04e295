"""Transfer and delete tasks: their state, event log and successful transfers, and the task
document the Transfer API returns for them (field for field as in the real service's).
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

from pilot_movers_testkit.globus_emulator.auth import Identity
from pilot_movers_testkit.globus_emulator.endpoints import Endpoint

DEFAULT_DEADLINE = timedelta(days=1)

#: Event codes and the descriptions the real service pairs with them.
DESCRIPTIONS = {
    "STARTED": "started",
    "SUCCEEDED": "succeeded",
    "FILE_NOT_FOUND": "file not found",
    "PERMISSION_DENIED": "permission denied",
    "CHECKSUM_MISMATCH": "checksum verification failed",
    "ENDPOINT_ERROR": "endpoint error",
    "CONNECT_FAILED": "connection failed",
    "GC_NOT_CONNECTED": "Globus Connect not connected",
    "QUOTA_EXCEEDED": "quota exceeded",
    "CANCELED": "canceled",
    "DEADLINE_EXCEEDED": "deadline exceeded",
    "IS_A_DIRECTORY": "is a directory",
}


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def timestamp(moment: Optional[datetime]) -> Optional[str]:
    """``2021-09-02T18:04:49+00:00``: how task documents write times."""
    return moment.isoformat() if moment is not None else None


@dataclass(frozen=True)
class Event:
    code: str
    details: str
    is_error: bool
    time: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "DATA_TYPE": "event",
            "code": self.code,
            "description": DESCRIPTIONS.get(self.code, self.code.lower().replace("_", " ")),
            "details": self.details,
            "is_error": self.is_error,
            "time": timestamp(self.time),
        }


@dataclass(frozen=True)
class Item:
    """One ``transfer_item`` or ``delete_item`` of a submission."""

    source_path: str
    destination_path: Optional[str] = None
    recursive: bool = False
    external_checksum: Optional[str] = None
    checksum_algorithm: Optional[str] = None


@dataclass
class Task:
    """A task's state. Mutated only under ``lock`` (the runner thread and the API both touch it)."""

    task_id: str
    type: str  # TRANSFER or DELETE
    owner: Identity
    source: Endpoint
    destination: Optional[Endpoint]
    items: list[Item]
    submission_id: str
    label: Optional[str] = None
    deadline: datetime = field(default_factory=lambda: utc_now() + DEFAULT_DEADLINE)
    verify_checksum: bool = False
    sync_level: Optional[int] = None
    preserve_timestamp: bool = False
    encrypt_data: bool = False
    skip_source_errors: bool = False
    fail_on_quota_errors: bool = False
    delete_destination_extra: bool = False
    recursive_delete: bool = False
    ignore_missing: bool = False

    status: str = "ACTIVE"
    nice_status: Optional[str] = "Queued"
    request_time: datetime = field(default_factory=utc_now)
    completion_time: Optional[datetime] = None
    files: int = 0
    directories: int = 0
    files_transferred: int = 0
    files_skipped: int = 0
    bytes_transferred: int = 0
    bytes_checksummed: int = 0
    faults: int = 0
    subtasks_failed: int = 0
    subtasks_retrying: int = 0
    fatal_error: Optional[dict[str, str]] = None
    events: list[Event] = field(default_factory=list)
    successful: list[tuple[str, str]] = field(default_factory=list)
    deleted: int = 0
    moving: bool = False
    """Bytes are flowing right now (what GCP's ``-status`` calls active)."""
    cancel_requested: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @classmethod
    def new_id(cls) -> str:
        return str(uuid.uuid1())

    @property
    def active(self) -> bool:
        return self.status in ("ACTIVE", "INACTIVE")

    def log(self, code: str, details: str = "", *, is_error: bool = False) -> None:
        with self.lock:
            self.events.append(Event(code, details, is_error, utc_now()))

    def finish(self, status: str, fatal: Optional[tuple[str, str]] = None) -> None:
        """End the task once: SUCCEEDED, or FAILED with the fatal error's code and details."""
        with self.lock:
            if not self.active:
                return
            self.status = status
            self.nice_status = None
            self.moving = False
            self.completion_time = utc_now()
            if fatal is not None:
                code, details = fatal
                self.fatal_error = {"code": code, "description": DESCRIPTIONS.get(code, code.lower().replace("_", " "))}
                self.subtasks_failed += 1
                self.events.append(Event(code, details, True, self.completion_time))
            else:
                self.events.append(Event("SUCCEEDED", "{}", False, self.completion_time))
        self.done.set()

    def to_dict(self) -> dict[str, Any]:
        with self.lock:
            seconds = max(1.0, ((self.completion_time or utc_now()) - self.request_time).total_seconds())
            destination = self.destination
            finished = self.files_transferred + self.files_skipped + self.deleted
            pending = 0 if not self.active else max(0, self.files - finished)
            return {
                "DATA_TYPE": "task",
                "task_id": self.task_id,
                "type": self.type,
                "status": self.status,
                "nice_status": self.nice_status,
                "nice_status_details": None,
                "nice_status_expires_in": None,
                "nice_status_short_description": self.nice_status,
                "label": self.label,
                "owner_id": self.owner.id,
                "username": self.owner.short_name,
                "command": "API 0.10",
                "request_time": timestamp(self.request_time),
                "completion_time": timestamp(self.completion_time),
                "deadline": timestamp(self.deadline),
                "source_endpoint": self.source.canonical_name,
                "source_endpoint_id": self.source.id,
                "source_endpoint_display_name": self.source.display_name,
                "destination_endpoint": destination.canonical_name if destination else None,
                "destination_endpoint_id": destination.id if destination else None,
                "destination_endpoint_display_name": destination.display_name if destination else None,
                "sync_level": self.sync_level,
                "verify_checksum": self.verify_checksum,
                "preserve_timestamp": self.preserve_timestamp,
                "encrypt_data": self.encrypt_data,
                "delete_destination_extra": self.delete_destination_extra,
                "skip_source_errors": self.skip_source_errors,
                "fail_on_quota_errors": self.fail_on_quota_errors,
                "recursive_symlinks": "ignore" if self.type == "TRANSFER" else None,
                "files": self.files,
                "directories": self.directories,
                "symlinks": 0,
                "files_transferred": self.files_transferred,
                "files_skipped": self.files_skipped,
                "bytes_transferred": self.bytes_transferred,
                "bytes_checksummed": self.bytes_checksummed,
                "effective_bytes_per_second": int(self.bytes_transferred / seconds),
                "faults": self.faults,
                "fatal_error": dict(self.fatal_error) if self.fatal_error else None,
                "is_ok": None if not self.active else self.faults == 0,
                "is_paused": False,
                "history_deleted": False,
                "canceled_by_admin": None,
                "canceled_by_admin_message": None,
                "filter_rules": None,
                "subtasks_total": max(self.files, len(self.items)),
                "subtasks_succeeded": self.files_transferred + self.files_skipped + self.deleted,
                "subtasks_pending": pending,
                "subtasks_retrying": self.subtasks_retrying,
                "subtasks_failed": self.subtasks_failed,
                "subtasks_canceled": 1 if self.fatal_error and self.fatal_error["code"] == "CANCELED" else 0,
                "subtasks_expired": 1 if self.fatal_error and self.fatal_error["code"] == "DEADLINE_EXCEEDED" else 0,
                "subtasks_skipped_errors": 0,
            }

    def started_details(self) -> str:
        kind = "GridFTP Transfer" if self.type == "TRANSFER" else "Delete"
        return json.dumps({"type": kind, "concurrency": 1, "parallelism": 1, "pipelining": 1}, indent=2)


class TaskTable:
    """Every task by id, and submissions already accepted (a repeated submission id is a duplicate)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tasks: dict[str, Task] = {}
        self._by_submission: dict[str, str] = {}

    def add(self, task: Task) -> None:
        with self._lock:
            self._tasks[task.task_id] = task
            self._by_submission[task.submission_id] = task.task_id

    def get(self, task_id: str) -> Optional[Task]:
        with self._lock:
            return self._tasks.get(task_id)

    def by_submission(self, submission_id: str) -> Optional[Task]:
        with self._lock:
            task_id = self._by_submission.get(submission_id)
            return self._tasks.get(task_id) if task_id else None

    def all(self) -> list[Task]:
        with self._lock:
            return list(self._tasks.values())
