"""Runs tasks in the background, as the service does: real bytes between the directories behind
the endpoints, each file written under a temporary name next to its destination, verified, then
renamed; unreachable endpoints make a task wait; injected faults apply as the plan says.

Error handling follows the service's: a missing source or a refused permission ends the task at
once (FAILED), a checksum mismatch or a full quota is retried a few times (the real service retries
until the deadline), a cancel or a passed deadline ends it.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from pilot_movers_testkit.globus_emulator.endpoints import Endpoint, EndpointTable
from pilot_movers_testkit.globus_emulator.errors import TransferError
from pilot_movers_testkit.globus_emulator.faults import Fault, FaultKind, FaultPlan, Target
from pilot_movers_testkit.globus_emulator.local_files import Hasher, checksum_of, same_checksum
from pilot_movers_testkit.globus_emulator.tasks import Item, Task, utc_now

log = logging.getLogger(__name__)

TEMPORARY_SUFFIX = ".globus-emulator.part"
CHUNK = 256 * 1024


class FileFailure(Exception):
    """One attempt at one file failed with an event code; ``retryable`` says whether to retry."""

    def __init__(self, code: str, details: str, *, retryable: bool) -> None:
        super().__init__(f"{code}: {details}")
        self.code = code
        self.details = details
        self.retryable = retryable


class TaskStopped(Exception):
    """The task was canceled or its deadline passed: it ends with this code."""

    def __init__(self, code: str, details: str) -> None:
        super().__init__(f"{code}: {details}")
        self.code = code
        self.details = details


@dataclass
class RunnerSettings:
    file_retries: int = 3
    """Attempts per file for retryable errors (checksum mismatch, quota) before the task fails."""
    retry_delay: float = 0.2
    poll: float = 0.05
    event_interval: float = 10.0
    """While an endpoint stays unreachable, the waiting event is logged again this often."""


@dataclass(frozen=True)
class FilePair:
    source_path: str
    destination_path: str
    item: Item


class TaskRunner:
    """Starts a thread per task; the thread owns the task's progress until it ends."""

    def __init__(self, endpoints: EndpointTable, faults: FaultPlan, settings: Optional[RunnerSettings] = None) -> None:
        self.endpoints = endpoints
        self.faults = faults
        self.settings = settings or RunnerSettings()

    def start(self, task: Task) -> None:
        thread = threading.Thread(target=self._run, args=(task,), name=f"globus-task-{task.task_id[:8]}", daemon=True)
        thread.start()

    def _run(self, task: Task) -> None:
        try:
            self._delay_start(task)
            task.log("STARTED", task.started_details())
            with task.lock:
                task.nice_status = "OK"
            forced = self.faults.find(FaultKind.FAIL_TASK, Target(task.task_id, task.label))
            if forced is not None:
                code = forced.code or "ENDPOINT_ERROR"
                task.finish("FAILED", (code, f"Injected failure: {code}"))
                return
            if task.type == "TRANSFER":
                self._transfer(task)
            else:
                self._delete(task)
            task.finish("SUCCEEDED")
        except TaskStopped as stop:
            task.finish("FAILED", (stop.code, stop.details))
        except FileFailure as failure:
            task.finish("FAILED", (failure.code, failure.details))
        except Exception as error:  # a bug in the emulator must still end the task
            log.exception("task %s crashed", task.task_id)
            task.finish("FAILED", ("ENDPOINT_ERROR", f"emulator error: {error}"))

    # -- waiting -----------------------------------------------------------------------------

    def _check_stop(self, task: Task) -> None:
        if task.cancel_requested.is_set():
            raise TaskStopped("CANCELED", "Canceled by the task owner")
        if utc_now() >= task.deadline:
            raise TaskStopped("EXPIRED", "The task's deadline passed before it completed")

    def _sleep(self, task: Task, seconds: float) -> None:
        end = time.monotonic() + seconds
        while True:
            self._check_stop(task)
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, self.settings.poll))

    def _delay_start(self, task: Task) -> None:
        fault = self.faults.find(FaultKind.START_DELAY, Target(task.task_id, task.label))
        if fault is not None and fault.seconds > 0:
            self._sleep(task, fault.seconds)

    def _unreachable(self, task: Task) -> Optional[tuple[str, str, bool]]:
        """Why the task cannot talk to one of its endpoints now: (event code, details, inactive)."""
        for endpoint in (task.source, task.destination):
            if endpoint is None:
                continue
            offline = self.faults.endpoint_offline(endpoint.id)
            if offline is not None:
                details = f"Could not connect to endpoint {endpoint.display_name} ({endpoint.id}): injected outage"
                return "CONNECT_FAILED", details, offline.status == "INACTIVE"
            if not endpoint.connected(self.endpoints.heartbeat_timeout):
                details = f"Globus Connect Personal endpoint {endpoint.display_name} ({endpoint.id}) is not connected"
                return "GC_NOT_CONNECTED", details, False
        return None

    def _wait_for_endpoints(self, task: Task) -> None:
        """Block while an endpoint is unreachable, logging it as the service does; then go on."""
        last_logged: Optional[tuple[str, float]] = None
        while True:
            self._check_stop(task)
            problem = self._unreachable(task)
            if problem is None:
                if last_logged is not None:
                    with task.lock:
                        task.status, task.nice_status = "ACTIVE", "OK"
                return
            code, details, inactive = problem
            now = time.monotonic()
            if last_logged is None or last_logged[0] != code or now - last_logged[1] >= self.settings.event_interval:
                with task.lock:
                    task.log(code, details, is_error=True)
                    task.faults += 1
                    task.nice_status = code
                    task.status = "INACTIVE" if inactive else "ACTIVE"
                last_logged = (code, now)
            time.sleep(self.settings.poll)

    # -- transfer ----------------------------------------------------------------------------

    def _transfer(self, task: Task) -> None:
        assert task.destination is not None
        self._wait_for_endpoints(task)
        pairs = [pair for item in task.items for pair in self._expand(task, item)]
        with task.lock:
            task.files = len(pairs)
        for pair in pairs:
            self._transfer_file(task, pair)

    def _expand(self, task: Task, item: Item) -> list[FilePair]:
        """The files an item names; a recursive item's directories are made at the destination."""
        if not item.recursive:
            return [FilePair(item.source_path, item.destination_path or item.source_path, item)]
        try:
            local = self._readable(task, task.source, item.source_path)
        except FileFailure as failure:
            if failure.code == "FILE_NOT_FOUND" and task.skip_source_errors:
                task.log(failure.code, failure.details, is_error=True)
                with task.lock:
                    task.files_skipped += 1
                return []
            raise
        if not local.is_dir():
            raise FileFailure("FILE_NOT_FOUND", f"No such directory: {item.source_path}", retryable=False)
        pairs = []
        source_base = item.source_path.rstrip("/")
        destination_base = (item.destination_path or item.source_path).rstrip("/")
        for directory, subdirs, names in os.walk(local):
            subdirs.sort()
            relative = os.path.relpath(directory, local)
            relative = "" if relative == "." else relative + "/"
            with task.lock:
                task.directories += 1
            self._make_directory(task, f"{destination_base}/{relative}")
            for name in sorted(names):
                if name.endswith(TEMPORARY_SUFFIX):
                    continue
                pairs.append(FilePair(f"{source_base}/{relative}{name}", f"{destination_base}/{relative}{name}", item))
        return pairs

    def _readable(self, task: Task, endpoint: Endpoint, globus_path: str) -> Path:
        local = self._local(endpoint, globus_path, write=False)
        if self.faults.find(FaultKind.PERMISSION_DENIED, Target(task.task_id, task.label, endpoint.id, globus_path)):
            raise FileFailure(
                "PERMISSION_DENIED",
                _details(endpoint, globus_path, "RETR", "Permission denied (injected)"),
                retryable=False,
            )
        if not os.path.exists(local):
            raise FileFailure(
                "FILE_NOT_FOUND", _details(endpoint, globus_path, "RETR", "No such file or directory"), retryable=False
            )
        if not os.access(local, os.R_OK):
            raise FileFailure(
                "PERMISSION_DENIED", _details(endpoint, globus_path, "RETR", "Permission denied"), retryable=False
            )
        return local

    def _writable(self, task: Task, endpoint: Endpoint, globus_path: str) -> Path:
        local = self._local(endpoint, globus_path, write=True)
        target = Target(task.task_id, task.label, endpoint.id, globus_path)
        if self.faults.find(FaultKind.PERMISSION_DENIED, target):
            raise FileFailure(
                "PERMISSION_DENIED",
                _details(endpoint, globus_path, "STOR", "Permission denied (injected)"),
                retryable=False,
            )
        if self.faults.find(FaultKind.QUOTA_EXCEEDED, target):
            raise FileFailure(
                "QUOTA_EXCEEDED",
                _details(endpoint, globus_path, "STOR", "Disk quota exceeded (injected)"),
                retryable=not task.fail_on_quota_errors,
            )
        return local

    def _local(self, endpoint: Endpoint, globus_path: str, *, write: bool) -> Path:
        try:
            local = endpoint.local_path(globus_path)
            endpoint.check_access(local, write=write, globus_path=globus_path)
        except TransferError as refused:
            raise FileFailure("PERMISSION_DENIED", refused.message, retryable=False) from None
        return local

    def _make_directory(self, task: Task, globus_path: str) -> None:
        assert task.destination is not None
        local = self._writable(task, task.destination, globus_path)
        try:
            local.mkdir(parents=True, exist_ok=True)
        except PermissionError as error:
            raise FileFailure(
                "PERMISSION_DENIED", _details(task.destination, globus_path, "MKD", str(error)), retryable=False
            ) from None

    def _transfer_file(self, task: Task, pair: FilePair) -> None:
        attempt = 0
        while True:
            self._wait_for_endpoints(task)
            attempt += 1
            try:
                self._copy_once(task, pair)
                return
            except FileFailure as failure:
                if failure.code == "FILE_NOT_FOUND" and task.skip_source_errors:
                    with task.lock:
                        task.files_skipped += 1
                    task.log(failure.code, failure.details, is_error=True)
                    return
                if not failure.retryable or attempt >= self.settings.file_retries:
                    raise
                with task.lock:
                    task.faults += 1
                    task.subtasks_retrying = 1
                task.log(failure.code, failure.details, is_error=True)
                self._sleep(task, self.settings.retry_delay)
                with task.lock:
                    task.subtasks_retrying = 0

    def _copy_once(self, task: Task, pair: FilePair) -> None:
        assert task.destination is not None
        source_ep, destination_ep = task.source, task.destination
        source = self._readable(task, source_ep, pair.source_path)
        if source.is_dir():
            raise FileFailure("IS_A_DIRECTORY", f"{pair.source_path} is a directory", retryable=False)
        destination = self._writable(task, destination_ep, pair.destination_path)
        if self._in_sync(task, source, destination, pair):
            with task.lock:
                task.files_skipped += 1
            return
        try:
            destination.parent.mkdir(parents=True, exist_ok=True)
        except PermissionError as error:
            raise FileFailure(
                "PERMISSION_DENIED", _details(destination_ep, pair.destination_path, "MKD", str(error)), retryable=False
            ) from None
        algorithm = pair.item.checksum_algorithm
        verify = task.verify_checksum or pair.item.external_checksum is not None
        temporary = destination.parent / f".{destination.name}.{uuid.uuid4().hex[:8]}{TEMPORARY_SUFFIX}"
        moved = 0
        bytes_before = task.bytes_transferred
        try:
            source_checksum = self._stream(task, pair, source, temporary, algorithm)
            moved = source.stat().st_size
            if self._fault_for_file(FaultKind.CHECKSUM_MISMATCH, task, pair) is not None:
                _corrupt(temporary)
            if verify:
                self._verify(task, pair, source_checksum, temporary, moved)
            os.replace(temporary, destination)
            if task.preserve_timestamp:
                stat = source.stat()
                os.utime(destination, (stat.st_atime, stat.st_mtime))
        except FileFailure:
            with task.lock:
                task.bytes_transferred = bytes_before  # what landed is what counts
            raise
        finally:
            task.moving = False
            if temporary.exists():
                temporary.unlink()
        with task.lock:
            task.files_transferred += 1
            task.successful.append((pair.source_path, pair.destination_path))

    def _in_sync(self, task: Task, source: Path, destination: Path, pair: FilePair) -> bool:
        """``sync_level``: 0 exists, 1 same size, 2 destination not older, 3 same checksum."""
        level = task.sync_level
        if level is None or not destination.is_file():
            return False
        if level == 0:
            return True
        if source.stat().st_size != destination.stat().st_size:
            return False
        if level == 1:
            return True
        if level == 2:
            return destination.stat().st_mtime >= source.stat().st_mtime
        algorithm = pair.item.checksum_algorithm
        return checksum_of(source, algorithm) == checksum_of(destination, algorithm)

    def _fault_for_file(self, kind: FaultKind, task: Task, pair: FilePair, *, consume: bool = True) -> Optional[Fault]:
        """A fault that applies to this file, by its source or its destination side."""
        assert task.destination is not None
        for endpoint, path in ((task.source, pair.source_path), (task.destination, pair.destination_path)):
            fault = self.faults.find(kind, Target(task.task_id, task.label, endpoint.id, path), consume=consume)
            if fault is not None:
                return fault
        return None

    def _stream(self, task: Task, pair: FilePair, source: Path, temporary: Path, algorithm: Optional[str]) -> str:
        """Copy the bytes at the pace the faults allow; return the source's checksum."""
        hasher = Hasher(algorithm)
        throttle = self._fault_for_file(FaultKind.THROUGHPUT, task, pair, consume=False)
        stall = self._fault_for_file(FaultKind.STALL, task, pair)
        rate = throttle.bytes_per_second if throttle is not None and throttle.bytes_per_second else None
        chunk = max(1024, min(CHUNK, int(rate / 10))) if rate else CHUNK
        started = time.monotonic()
        done = 0
        with open(source, "rb") as reader, open(temporary, "wb") as writer:
            task.moving = True
            while True:
                self._check_stop(task)
                if stall is not None and done >= stall.after_bytes and self.faults.active(stall.id):
                    task.moving = False
                    time.sleep(self.settings.poll)
                    continue
                self._check_reachable(task)
                block = reader.read(chunk)
                if not block:
                    break
                writer.write(block)
                hasher.update(block)
                done += len(block)
                with task.lock:
                    task.bytes_transferred += len(block)
                task.moving = True
                if rate:
                    ahead = done / rate - (time.monotonic() - started)
                    if ahead > 0:
                        self._sleep(task, ahead)
        return hasher.hexdigest()

    def _check_reachable(self, task: Task) -> None:
        problem = self._unreachable(task)
        if problem is not None:
            code, details, _ = problem
            raise FileFailure(code, details, retryable=True)

    def _verify(self, task: Task, pair: FilePair, source_checksum: str, temporary: Path, size: int) -> None:
        """The copy against the source (retryable) and the source against ``external_checksum``
        (not: the source itself is not what the submitter expected)."""
        algorithm = pair.item.checksum_algorithm
        external = pair.item.external_checksum
        name = Hasher(algorithm).algorithm
        if external is not None and not same_checksum(external, source_checksum, name):
            raise FileFailure(
                "CHECKSUM_MISMATCH",
                f"Source file {pair.source_path} has {name} checksum {source_checksum}, not the expected {external}",
                retryable=False,
            )
        landed = checksum_of(temporary, algorithm)
        with task.lock:
            task.bytes_checksummed += size
        if temporary.stat().st_size != size or landed != source_checksum:
            raise FileFailure(
                "CHECKSUM_MISMATCH",
                f"Checksum verification failed for {pair.destination_path}: "
                f"source {name} {source_checksum}, destination {landed}",
                retryable=True,
            )

    # -- delete ------------------------------------------------------------------------------

    def _delete(self, task: Task) -> None:
        endpoint = task.source
        with task.lock:
            task.files = len(task.items)
        for item in task.items:
            self._wait_for_endpoints(task)
            local = self._writable(task, endpoint, item.source_path)
            if not os.path.lexists(local):
                if task.ignore_missing:
                    continue
                raise FileFailure(
                    "FILE_NOT_FOUND",
                    _details(endpoint, item.source_path, "DELE", "No such file or directory"),
                    retryable=False,
                )
            if local.is_dir() and not local.is_symlink():
                if not task.recursive_delete:
                    raise FileFailure(
                        "IS_A_DIRECTORY", f"{item.source_path} is a directory: delete it recursively", retryable=False
                    )
                shutil.rmtree(local)
                with task.lock:
                    task.directories += 1
            else:
                local.unlink()
            with task.lock:
                task.deleted += 1


def _details(endpoint: Endpoint, globus_path: str, command: str, message: str) -> str:
    """Event details laid out as the service's are."""
    server = "Globus Connect Personal" if endpoint.is_globus_connect else "localhost"
    return (
        f"Error ({command})\nEndpoint: {endpoint.display_name} ({endpoint.id})\nServer: {server}\n"
        f"File: {globus_path}\nMessage: {message}"
    )


def _corrupt(path: Path) -> None:
    """Flip the first byte (or add one), as a bad network or disk would."""
    with open(path, "r+b") as handle:
        first = handle.read(1)
        handle.seek(0)
        handle.write(bytes([(first[0] ^ 0xFF) if first else 0x00]))
