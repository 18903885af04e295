"""One Pilot 3 ``copy_in``/``copy_out`` call run through the movers: every file of the call in one
engine run per mover (each mover opened once, with the credentials of the moment: Pilot 3 may
point X509_USER_PROXY elsewhere for a stage-out), the outcome written into Pilot 3's FileSpecs,
one trace per file, and Pilot 3's ``PilotException`` with the code it expects for the first
failure once every file has had its turn.

Pilot 3 is imported here only when a call runs: it is an optional dependency.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Optional, Sequence

from pilot_movers.base import Mover
from pilot_movers.credentials.bundle import Credentials
from pilot_movers.engine.engine import TransferEngine
from pilot_movers.engine.settings import TransferSettings
from pilot_movers.errors import MoverError, MoverUnavailable, Phase, PhaseFailed, UnknownMover
from pilot_movers.integrations.pilot3_codes import pilot3_code, trace_state
from pilot_movers.integrations.pilot3_files import record_outcome, to_spec
from pilot_movers.integrations.pilot3_queue import queue_from_pilot3, warn_about_followers
from pilot_movers.phases import run_phase
from pilot_movers.planner import PlannedFile, planned_file
from pilot_movers.queue_config import QueueConfig
from pilot_movers.registry import ResolvedMover, describe_movers, get_mover_class
from pilot_movers.values import FileReport, FileSpec, Location, Role, Status

log = logging.getLogger(__name__)

#: URL schemes in the order a replica should be preferred (Pilot 3 takes the first that matches).
SCHEME_PREFERENCE = ("root", "roots", "xroot", "davs", "https", "gsiftp", "srm", "file")


@dataclass(frozen=True)
class CopytoolSettings:
    """What one registered copytool moves with: ``movers`` in order of preference (empty: the
    mover of each file's URL scheme), the engine's settings and each mover's options from
    ``queue`` (default: the library's defaults)."""

    movers: tuple[str, ...] = ()
    queue: QueueConfig = field(default_factory=QueueConfig)
    queue_given: bool = False
    """The queue config was given at registration: the queuedata's own section does not replace it."""
    name: str = "pilot_movers"
    """The copytool's name in Pilot 3's acopytools."""

    def in_pilot3(self) -> CopytoolSettings:
        """These settings with the queue config of Pilot 3's own queuedata (its ``pilot_movers``
        section), unless one was given at registration."""
        warn_about_followers(self.name)
        if self.queue_given:
            return self
        queue = queue_from_pilot3()
        return self if queue is None else replace(self, queue=queue)

    @property
    def transfer(self) -> TransferSettings:
        return self.queue.transfer

    def allowed_schemas(self) -> list[str]:
        """The URL schemes these movers handle, the ones to prefer first."""
        if self.movers:
            schemes = [s for name in self.movers for s in get_mover_class(name).schemes]
        else:
            schemes = [s for info in describe_movers() if info.usable for s in info.schemes]
        unique = list(dict.fromkeys([*schemes, "file"]))
        return sorted(unique, key=lambda s: SCHEME_PREFERENCE.index(s) if s in SCHEME_PREFERENCE else 99)

    def problem(self, fspec: Any, phase: Phase, workdir: str) -> Optional[str]:
        """Why these movers cannot move this file (None: they can)."""
        try:
            planned_file(to_spec(fspec, phase, workdir), phase, self.movers, rule="the copytool's movers")
        except (MoverUnavailable, UnknownMover):
            return None  # a mover that cannot run here: the copy says so with its code (1211, 1323)
        except MoverError as exc:
            return exc.message
        return None


def stage(files: Sequence[Any], phase: Phase, settings: CopytoolSettings, kwargs: Mapping[str, Any]) -> list[Any]:
    """Move Pilot 3's FileSpecs ``files`` (``phase``: stage-in or stage-out); raise its
    PilotException for the first failure, after every file has had its turn."""
    from pilot.common.errorcodes import ErrorCodes
    from pilot.common.exception import PilotException

    workdir = str(kwargs.get("workdir") or ".")
    trace = kwargs.get("trace_report")
    started = time.time()
    reports: dict[int, FileReport] = {}
    planned: list[PlannedFile] = []
    places: list[int] = []
    settings = settings.in_pilot3()
    for index, fspec in enumerate(files):
        try:
            spec = to_spec(fspec, phase, workdir)
            planned.append(planned_file(spec, phase, settings.movers, rule="the copytool's movers"))
            places.append(index)
        except MoverError as exc:
            error = exc.bind(phase=phase, file=str(getattr(fspec, "lfn", "")))
            reports[index] = _failed_before_start(fspec, error)
    credentials = Credentials.from_environment()
    results = run_phase(
        planned,
        mover=lambda chosen: _opened(chosen, settings, credentials),
        engine=lambda chosen, mover: TransferEngine(mover, phase),
        after_engine=_say_left_behind,
        phase=phase,
    )
    reports.update(zip(places, results))
    failures = []
    for index, fspec in enumerate(files):
        report = reports[index]
        code = pilot3_code(report.error, ErrorCodes) if report.error else 0
        record_outcome(fspec, report, code)
        if trace is not None:
            _trace(trace, fspec, report, started)
        if report.error is not None:
            failures.append(report.error)
    if failures:
        first = PhaseFailed(phase, failures, len(files))
        raise PilotException(
            first.message, code=pilot3_code(failures[0], ErrorCodes), state=trace_state(failures[0], ErrorCodes)
        )
    return list(files)


@contextmanager
def _opened(chosen: ResolvedMover, settings: CopytoolSettings, credentials: Credentials) -> Iterator[Mover]:
    """The planned mover ``chosen`` opened for one call with the environment's credentials,
    stopped after."""
    mover = chosen.cls(settings.transfer, settings.queue.mover_options(chosen.name))
    mover.start(credentials)
    try:
        yield mover
    finally:
        mover.stop()


def _say_left_behind(chosen: ResolvedMover, engine: TransferEngine) -> None:
    for item in engine.left_behind:
        log.warning("left behind after a failed attempt: %s (%s)", item.location, item.reason)


def _failed_before_start(fspec: Any, error: MoverError) -> FileReport:
    """The report of a file that could not even be planned (no turl, a bad name...)."""
    here = Location.local(os.path.abspath("."))
    spec = FileSpec(str(getattr(fspec, "lfn", "") or "?"), here, here, Role.INPUT)
    return FileReport(spec, Status.FAILED, error=error)


def _trace(trace: Any, fspec: Any, report: FileReport, started: float) -> None:
    """One trace per file, with the fields Pilot 3's copytools fill."""
    from pilot.common.errorcodes import ErrorCodes

    local_site = os.environ.get("RUCIO_LOCAL_SITE_ID") or trace.get_value("localSite") or fspec.ddmendpoint
    remote = str(getattr(fspec, "turl", "") or "")
    attempts = report.attempts
    trace.update(localSite=local_site, remoteSite=fspec.ddmendpoint, filesize=fspec.filesize)
    trace.update(filename=fspec.lfn, guid=str(fspec.guid or "").replace("-", ""))
    trace.update(scope=fspec.scope, dataset=fspec.dataset, url=remote, protocol=remote.partition("://")[0] or None)
    trace.update(catStart=started, transferStart=attempts[0].started if attempts else started)
    ended = attempts[-1].ended if attempts else time.time()
    if report.error is None:
        trace.update(clientState="DONE", stateReason="OK", timeEnd=ended)
    else:
        trace.update(clientState=trace_state(report.error, ErrorCodes), stateReason=str(report.error), timeEnd=ended)
    trace.send()
