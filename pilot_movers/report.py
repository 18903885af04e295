"""The machine-readable job report: every file, every attempt, the phase and error that ended it."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Union

from pilot_movers.credentials.report import CredentialsReport
from pilot_movers.errors import MoverError
from pilot_movers.values import FileReport, LeftBehind, Status
from pilot_movers.version import __version__

REPORT_VERSION = 1


@dataclass(frozen=True)
class PhaseReport:
    phase: str
    started: float
    ended: float
    results: tuple[FileReport, ...] = ()
    error: Optional[MoverError] = None
    service_requests: Mapping[str, int] = field(default_factory=dict)
    """Requests each mover made to a rate-limited service in this phase (the Globus Transfer API:
    all pilots of a VO share one client, and the service limits calls per client)."""

    @property
    def ok(self) -> bool:
        return self.error is None and all(r.ok for r in self.results)

    @property
    def seconds(self) -> float:
        return max(0.0, self.ended - self.started)

    @property
    def bytes(self) -> int:
        """Bytes copied in this phase (files found already in place moved none)."""
        return sum(r.bytes for r in self.results if r.status is Status.DONE)

    @property
    def attempts(self) -> int:
        return sum(len(r.attempts) for r in self.results)

    @property
    def throughput(self) -> float:
        """MB/s (10^6 bytes) over the phase's wall time: what this node got from its storage."""
        return self.bytes / self.seconds / 1e6 if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for result in self.results:
            counts[result.status.value] = counts.get(result.status.value, 0) + 1
        return {
            "phase": self.phase,
            "started": self.started,
            "ended": self.ended,
            "seconds": round(self.seconds, 6),
            "ok": self.ok,
            "files": [r.to_dict() for r in self.results],
            "counts": counts,
            "bytes": self.bytes,
            "attempts": self.attempts,
            "throughput_mb_per_s": round(self.throughput, 3),
            "error": self.error.to_dict() if self.error else None,
            **({"service_requests": dict(self.service_requests)} if self.service_requests else {}),
        }


@dataclass(frozen=True)
class PayloadReport:
    argv: tuple[str, ...]
    started: float
    ended: float
    exit_code: Optional[int]
    signal: Optional[str] = None
    timed_out: bool = False
    survivors: tuple[str, ...] = ()
    """Processes of the payload that could not be killed (``pid command``): a process of another
    user the payload started (a setuid program), one stuck in the kernel."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "argv": list(self.argv),
            "started": self.started,
            "ended": self.ended,
            "seconds": round(self.ended - self.started, 6),
            "exit_code": self.exit_code,
            "signal": self.signal,
            "timed_out": self.timed_out,
            "survivors": list(self.survivors),
        }


@dataclass(frozen=True)
class JobReport:
    job_id: str
    workdir: str
    started: float
    ended: float
    phases: tuple[PhaseReport, ...] = ()
    payload: Optional[PayloadReport] = None
    error: Optional[MoverError] = None
    setup: tuple[str, ...] = field(default_factory=tuple)
    """What the job found and mended before it started (an earlier run's debris, a shared work dir)."""
    cleanup: tuple[str, ...] = field(default_factory=tuple)
    left_behind: tuple[LeftBehind, ...] = field(default_factory=tuple)
    """What the job made and could not remove: to be removed later, by a pilot or an operator."""
    credentials: Optional[CredentialsReport] = None
    """The proxy the job used: where it came from, what it was when the job took it."""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    """What the job's description says of the job itself (a PanDA id, a destination site)."""
    logs: Mapping[str, str] = field(default_factory=dict)
    """Each log file of the job (``job_logs``) and what became of it: ``staged out``, ``staged
    out after the job failed in stage-in``, ``not staged out: why``; ``made by the library``
    is added when the payload had not written it."""

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def failed_phase(self) -> Optional[str]:
        return self.error.phase.value if self.error and self.error.phase else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "report_version": REPORT_VERSION,
            "pilot_movers_version": __version__,
            "job_id": self.job_id,
            "metadata": dict(self.metadata),
            "status": "succeeded" if self.ok else "failed",
            "failed_phase": self.failed_phase,
            "error": self.error.to_dict() if self.error else None,
            "workdir": self.workdir,
            "started": self.started,
            "ended": self.ended,
            "seconds": round(self.ended - self.started, 6),
            "phases": {p.phase: p.to_dict() for p in self.phases},
            "credentials": self.credentials.to_dict() if self.credentials else None,
            "payload": self.payload.to_dict() if self.payload else None,
            "setup": list(self.setup),
            "cleanup": list(self.cleanup),
            "left_behind": [item.to_dict() for item in self.left_behind],
            "logs": dict(self.logs),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)

    def write(self, path: Union[str, os.PathLike[str]]) -> None:
        """Write atomically: a reader never sees half a report."""
        path = os.fspath(path)
        directory = os.path.dirname(os.path.abspath(path))
        descriptor, temporary = tempfile.mkstemp(prefix=".report-", suffix=".json", dir=directory)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(self.to_json())
                handle.write("\n")
            os.replace(temporary, path)
        except BaseException:
            try:
                os.unlink(temporary)
            except FileNotFoundError:
                pass
            raise
