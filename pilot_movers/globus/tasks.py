"""One Globus transfer task for the files of one batch between one pair of endpoints: submitted
with checksum verification on, followed until SUCCEEDED or FAILED (INACTIVE is still running),
its progress reported, cancelled when asked, and every file answered exactly once: from the
task's successful transfers as they appear, from its events and fatal error when it ends.

A file is never answered while the task could still write it, except when a cancelled task does
not end within ``cancel_timeout`` (the task is then left to the mover's ``close()``).
"""

from __future__ import annotations

import datetime
import logging
import re
import threading
import time
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Optional

import globus_sdk

from pilot_movers.checksums import Checksum
from pilot_movers.engine.contract import AttemptOutcome, Copied, CopyRequest
from pilot_movers.errors import EndpointNotAnswering, MoverError, Scope, TransferCancelled, TransferFailed
from pilot_movers.globus.endpoints import Endpoint
from pilot_movers.globus.errors import event_fields, from_event, from_fatal
from pilot_movers.globus.service import GlobusService

log = logging.getLogger(__name__)

FINAL = ("SUCCEEDED", "FAILED")
#: A task's ``nice_status`` while an endpoint does not answer it.
OFFLINE_STATUSES = ("CONNECT_FAILED", "GC_NOT_CONNECTED")
#: The service's names of the algorithms this library verifies with.
ALGORITHMS = {"adler32": "ADLER32", "md5": "MD5"}
_EVENT_PAGE = 1000
_EVENT_PAGES = 20
_LABEL = re.compile(r"[^A-Za-z0-9 _,.-]+")


@dataclass(frozen=True)
class TaskItem:
    """One file of a task: its request, its paths on the two endpoints, and the checksum the
    service must find at both ends (``external_checksum``), when one is known."""

    request: CopyRequest
    source_path: str
    destination_path: str
    checksum: Optional[Checksum] = None


@dataclass(frozen=True)
class TaskSettings:
    label: str
    poll_interval: float
    cancel_timeout: float
    deadline: float
    """Seconds from submission after which the service itself gives up (a safety net for a
    pilot that dies without cancelling)."""


def task_label(text: str) -> str:
    """A label the service accepts: letters, digits, space, ``_ , . -``; at most 128 characters."""
    return _LABEL.sub("_", text)[:128]


class TransferTask:
    """``run()`` (on a thread of its own) does it all; ``answer`` receives each file's outcome,
    ``progress`` is called when ``bytes`` changed, ``stop`` (or every file's clock cancelled)
    asks for a cancel, ``size_of`` gives a copied file's size."""

    def __init__(
        self,
        service: GlobusService,
        source: Endpoint,
        destination: Endpoint,
        items: list[TaskItem],
        settings: TaskSettings,
        *,
        stop: threading.Event,
        answer: Callable[[CopyRequest, AttemptOutcome], None],
        progress: Callable[[], None],
        size_of: Callable[[CopyRequest], int],
    ) -> None:
        self.service = service
        self.source = source
        self.destination = destination
        self.items = items
        self.settings = settings
        self.stop = stop
        self._answer = answer
        self._progress = progress
        self._size_of = size_of
        self.bytes = 0
        self.task_id: Optional[str] = None
        self._answered: set[int] = set()
        self._by_destination = {item.destination_path: item for item in items}
        self._marker: Optional[str] = None
        self._cancel_sent = False
        #: The task's last ``nice_status`` while it waited (``CONNECT_FAILED``...) and its details.
        self.waiting_on: Optional[tuple[str, str]] = None

    # -- the task's life ---------------------------------------------------------------------

    def run(self) -> None:
        failure: Optional[MoverError] = None
        ended = False
        try:
            if not self.stopping:
                self.task_id = self._submit()
                task = self._follow(self.task_id)
                ended = True
                self._settle(task)
        except Exception as exc:  # a MoverError, or a bug: these files fail, the batch goes on
            if not isinstance(exc, MoverError):
                log.exception("Globus task %s: unexpected error", self.task_id)
            failure = exc if isinstance(exc, MoverError) else self.service.translate(exc, f"task {self.task_id}")
            if self.task_id is not None and not ended and not self._cancel_sent:
                ended = self._abandon(self.task_id, failure)
        finally:
            if self.task_id is not None and ended:
                self.service.task_ended(self.task_id)
            for item in self.items:
                if id(item) not in self._answered:
                    self._give(item, item.request.clock.reason or failure or TransferCancelled("not started"))

    def _submit(self) -> str:
        deadline = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=self.settings.deadline)
        data = globus_sdk.TransferData(
            source_endpoint=self.source.id,
            destination_endpoint=self.destination.id,
            label=task_label(self.settings.label),
            verify_checksum=True,
            fail_on_quota_errors=True,
            deadline=deadline.replace(microsecond=0).isoformat(),
        )
        for item in self.items:
            extra: dict[str, Any] = {}
            if item.checksum is not None:
                extra = {
                    "external_checksum": item.checksum.value,
                    "checksum_algorithm": ALGORITHMS[item.checksum.algorithm],
                }
            data.add_item(item.source_path, item.destination_path, **extra)
        what = f"submitting a transfer from {self.source} to {self.destination}"
        task_id = str(self.service.call(what, lambda tc: tc.submit_transfer(data))["task_id"])
        self.service.task_started(task_id)
        log.info("Globus task %s: %d file(s) from %s to %s", task_id, len(self.items), self.source, self.destination)
        return task_id

    def _follow(self, task_id: str) -> dict[str, Any]:
        """Poll until the task ends; cancel it once ``stop`` is set."""
        cancelled_at: Optional[float] = None
        reported = 0
        pause = min(1.0, self.settings.poll_interval)  # short tasks end soon: look again soon
        while True:
            task = dict(self.service.call(f"looking at task {task_id}", lambda tc: tc.get_task(task_id)).data)
            if task.get("status") not in FINAL:  # what it waits on now (cleared when it moves again)
                waiting = task.get("nice_status") not in (None, "", "OK", "Queued")
                self.waiting_on = (
                    (str(task.get("nice_status")), str(task.get("nice_status_details") or "")) if waiting else None
                )
            moved = int(task.get("bytes_transferred") or 0)
            if moved != self.bytes:
                self.bytes = moved
                self._progress()
            done = int(task.get("files_transferred") or 0)
            if done > reported:
                self._collect_successes(task_id)
                reported = done
            if task.get("status") in FINAL:
                return task
            if self.stopping:
                if cancelled_at is None:
                    cancelled_at = time.monotonic()
                    self._cancel(task_id, self._clock_reason())
                elif time.monotonic() - cancelled_at > self.settings.cancel_timeout:
                    raise TransferCancelled(
                        f"Globus task {task_id} was cancelled but did not end within {self.settings.cancel_timeout:g} s"
                    )
                time.sleep(min(self.settings.poll_interval, 0.2))
            else:
                self.stop.wait(pause)
                pause = min(pause * 2, self.settings.poll_interval)

    @property
    def stopping(self) -> bool:
        """The batch was cancelled, or every file of this task was."""
        return self.stop.is_set() or all(item.request.clock.cancelled.is_set() for item in self.items)

    def _clock_reason(self) -> Optional[MoverError]:
        return next((i.request.clock.reason for i in self.items if i.request.clock.reason), None)

    def _cancel(self, task_id: str, reason: Optional[MoverError]) -> None:
        self._cancel_sent = True
        log.warning("Globus task %s: cancelling (%s)", task_id, reason.message if reason else "the job is stopping")
        try:
            self.service.call(f"cancelling task {task_id}", lambda tc: tc.cancel_task(task_id))
        except MoverError as exc:  # 409 TaskComplete: it ended meanwhile; the next look says how
            log.info("Globus task %s: cancel answered: %s", task_id, exc.message)

    def _abandon(self, task_id: str, failure: MoverError) -> bool:
        """Following the task failed (the service stopped answering): cancel it and wait for it to
        end, so that it writes nothing after its files were answered. True when it ended."""
        self._cancel(task_id, failure)
        deadline = time.monotonic() + self.settings.cancel_timeout
        while time.monotonic() < deadline:
            try:
                task = self.service.call(f"looking at task {task_id}", lambda tc: tc.get_task(task_id))
                if task["status"] in FINAL:
                    return True
            except MoverError:
                pass
            time.sleep(min(self.settings.poll_interval, 1.0))
        log.error("Globus task %s: could not be seen to end; it is cancelled again when the mover closes", task_id)
        return False

    # -- answers -----------------------------------------------------------------------------

    def _give(self, item: TaskItem, outcome: AttemptOutcome) -> None:
        self._answered.add(id(item))
        self._answer(item.request, outcome)

    def _collect_successes(self, task_id: str) -> None:
        """Answer every file the task lists as transferred and not answered yet."""
        while True:
            page = self.service.call(
                f"listing the transfers of task {task_id}",
                partial(_successful_transfers, task_id=task_id, marker=self._marker),
            )
            for entry in page:
                item = self._by_destination.get(str(entry.get("destination_path")))
                if item is not None and id(item) not in self._answered:
                    self._give(item, self._copied(item))
            following = page.get("next_marker")
            if following in (None, ""):
                return
            self._marker = str(following)

    def _copied(self, item: TaskItem) -> AttemptOutcome:
        try:
            size = self._size_of(item.request)
        except MoverError as exc:
            return exc
        checksums = (item.checksum,) if item.checksum is not None else ()
        # the service verified the copy where it lies (verify_checksum on a known value): on a
        # remote endpoint, nobody needs to look at it again (one listing per file saved)
        return Copied(size, checksums, verified=True, at_target=not item.request.target.is_local)

    def _settle(self, task: dict[str, Any]) -> None:
        """The task ended: answer every file it did not list as transferred."""
        assert self.task_id is not None
        self._collect_successes(self.task_id)
        left = [item for item in self.items if id(item) not in self._answered]
        if not left:
            log.info("Globus task %s: %s", self.task_id, task.get("status"))
            return
        if task.get("status") == "SUCCEEDED":
            for item in left:
                self._give(
                    item,
                    TransferFailed(f"Globus task {self.task_id} succeeded but does not list this file", transient=True),
                )
            return
        fatal = from_fatal(task.get("fatal_error"))
        log.warning("Globus task %s: FAILED: %s", self.task_id, fatal.message)
        offline = self._offline() if self._cancel_sent else None
        if offline is not None:  # cancelled by us while it waited on an endpoint that does not answer
            for item in left:
                self._give(item, offline)
            return
        events = self._error_events(self.task_id)
        named = {id(item): found for item in left if (found := _event_about(item, events)) is not None}
        for item in left:
            self._give(item, item.request.clock.reason or self._file_error(item, named.get(id(item)), fatal, named))

    def _offline(self) -> Optional[MoverError]:
        """Why the task moved nothing, when it last waited on an endpoint that does not answer
        (``CONNECT_FAILED``; the details name the endpoint)."""
        if self.waiting_on is None or self.waiting_on[0] not in OFFLINE_STATUSES:
            return None
        status, details = self.waiting_on
        if not details and self.task_id is not None:  # the task's own events name the endpoint
            try:
                said = [e for e in self._error_events(self.task_id) if str(e.get("code")) == status]
            except MoverError:
                said = []
            details = str(said[0].get("details") or "") if said else ""
        return EndpointNotAnswering(
            f"Globus task {self.task_id} waited on an endpoint that does not answer ({status}: "
            f"{details or 'no details'}); the service retries until the task's deadline"
        )

    def _file_error(
        self,
        item: TaskItem,
        found: Optional[tuple[dict[str, Any], Scope]],
        fatal: MoverError,
        named: dict[int, tuple[dict[str, Any], Scope]],
    ) -> MoverError:
        if found is not None:
            event, scope = found
            algorithm = item.checksum.algorithm if item.checksum else item.request.checksum_algorithm
            return from_event(event, algorithm=algorithm, scope=scope)
        if named:  # the task ended on another file's error before reaching this one
            return TransferFailed(
                f"not transferred: Globus task {self.task_id} ended on another file's error ({fatal.message})",
                transient=True,
            )
        return fatal

    def _error_events(self, task_id: str) -> list[dict[str, Any]]:
        """The task's error events, newest first."""
        found: list[dict[str, Any]] = []
        for page in range(_EVENT_PAGES):
            events = list(
                self.service.call(
                    f"reading the events of task {task_id}",
                    partial(_events, task_id=task_id, offset=page * _EVENT_PAGE),
                )
            )
            found += [dict(event) for event in events if event.get("is_error")]
            if len(events) < _EVENT_PAGE:
                break
        return found


def _event_about(item: TaskItem, events: list[dict[str, Any]]) -> Optional[tuple[dict[str, Any], Scope]]:
    """The newest error event about this file, and which side it names: by the ``File:`` line
    of its details, else by the file's path appearing in them."""
    for event in events:
        details = str(event.get("details") or "")
        named = event_fields(details).get("File")
        for path, scope in ((item.source_path, Scope.SOURCE), (item.destination_path, Scope.DESTINATION)):
            if named == path or (named is None and re.search(re.escape(path) + r"(?![^\s:;,])", details)):
                return event, scope
    return None


def _successful_transfers(client: globus_sdk.TransferClient, *, task_id: str, marker: Optional[str]) -> Any:
    if marker is None:
        return client.task_successful_transfers(task_id)
    return client.task_successful_transfers(task_id, marker=marker)


def _events(client: globus_sdk.TransferClient, *, task_id: str, offset: int) -> Any:
    return client.task_event_list(task_id, limit=_EVENT_PAGE, offset=offset)
