"""Injected delays and failures, for tests and rehearsals: what goes wrong, and for which task,
endpoint or path. The task runner and the file operations ask the plan what applies to them.
"""

from __future__ import annotations

import fnmatch
import itertools
import threading
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any, Optional


@dataclass(frozen=True)
class Target:
    """What a fault may apply to: a task (by id or label), an endpoint id, a Globus path."""

    task_id: Optional[str] = None
    label: Optional[str] = None
    endpoint: Optional[str] = None
    path: Optional[str] = None


class FaultKind(str, Enum):
    """What a fault does (the admin API takes the value, e.g. ``"stall"``)."""

    THROUGHPUT = "throughput"
    """Cap the bytes per second of matching files (``bytes_per_second``)."""
    STALL = "stall"
    """Bytes stop moving once ``after_bytes`` of a matching file have moved, until removed."""
    START_DELAY = "start_delay"
    """A matching task waits ``seconds`` (ACTIVE, nice_status ``Queued``) before it starts."""
    FAIL_TASK = "fail_task"
    """A matching task fails at once with fatal error ``code`` (default ``ENDPOINT_ERROR``)."""
    PERMISSION_DENIED = "permission_denied"
    """Reading or writing a matching path is refused (``PERMISSION_DENIED``, fatal)."""
    CHECKSUM_MISMATCH = "checksum_mismatch"
    """The copy of a matching file arrives corrupted, so verification fails (retried)."""
    QUOTA_EXCEEDED = "quota_exceeded"
    """Writing a matching path fails with ``QUOTA_EXCEEDED`` (retried, fatal with
    ``fail_on_quota_errors``)."""
    ENDPOINT_OFFLINE = "endpoint_offline"
    """``endpoint`` does not answer: tasks wait (``CONNECT_FAILED``), file operations fail."""
    API_HANG = "api_hang"
    """Every Transfer API call (``path``: a shell pattern of the request's path, e.g.
    ``/v0.10/endpoint/*``) is held without an answer until the fault is removed, then dropped
    (503) without reaching the service: the service hanging, as a frozen load balancer does."""
    RELAY_UNREACHABLE = "relay_unreachable"
    """A matching personal endpoint's GCP cannot reach the relay (a site firewall blocking port
    2223): it runs, but ``-status`` says disconnected and the endpoint never connects."""


@dataclass
class Fault:
    """One injected fault and what it applies to; unset selectors match everything.

    ``path`` is a shell pattern matched against a file's Globus path (source or destination);
    ``times`` is how often the fault fires before it retires (None: until removed).
    """

    kind: FaultKind
    task_id: Optional[str] = None
    label: Optional[str] = None
    endpoint: Optional[str] = None
    path: Optional[str] = None
    bytes_per_second: Optional[float] = None
    after_bytes: int = 0
    seconds: float = 0.0
    code: Optional[str] = None
    status: Optional[str] = None
    """For ``endpoint_offline``: ``INACTIVE`` makes waiting tasks show that status."""
    times: Optional[int] = None
    id: int = field(default=0)

    def __post_init__(self) -> None:
        self.kind = FaultKind(self.kind)

    def matches(self, target: Target) -> bool:
        if self.task_id is not None and self.task_id != target.task_id:
            return False
        if self.label is not None and self.label != target.label:
            return False
        if self.endpoint is not None and self.endpoint != target.endpoint:
            return False
        return self.path is None or (target.path is not None and fnmatch.fnmatchcase(target.path, self.path))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = self.kind.value
        return {k: v for k, v in data.items() if v is not None}


class FaultPlan:
    """The active faults; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            fault.id = next(self._ids)
            self._faults.append(fault)
        return fault

    def remove(self, fault_id: int) -> bool:
        with self._lock:
            before = len(self._faults)
            self._faults = [f for f in self._faults if f.id != fault_id]
            return len(self._faults) != before

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def active(self, fault_id: int) -> bool:
        with self._lock:
            return any(f.id == fault_id for f in self._faults)

    def all(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def find(self, kind: FaultKind, target: Target, *, consume: bool = True) -> Optional[Fault]:
        """The first active fault of ``kind`` that applies; firing it counts against ``times``."""
        with self._lock:
            for fault in self._faults:
                if fault.kind is kind and fault.matches(target):
                    if consume and fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self._faults.remove(fault)
                    return fault
        return None

    def endpoint_offline(self, endpoint_id: str) -> Optional[Fault]:
        with self._lock:
            for fault in self._faults:
                if fault.kind is FaultKind.ENDPOINT_OFFLINE and fault.endpoint == endpoint_id:
                    return fault
        return None
