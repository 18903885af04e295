"""``pilot-movers cp SRC... DST``: verified copies between this node and a storage, through the
engine a job uses (a temporary name, size and checksum verified, then the rename; retries,
deadlines, FILEEXISTS for a file already there), the way ``gfal-copy`` and ``xrdcp`` are used to
try a storage before a queue is trusted to it.

One end of each copy is this node's disk: a download (remote to local) runs as a stage-in, an
upload as a stage-out; local to local uses the local mover. A remote to remote copy is refused
(a job never makes one: copy through a local file).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from pilot_movers.browse import mover_for, opened_mover, parse_location, settings_of
from pilot_movers.credentials.bundle import Credentials
from pilot_movers.engine.deadlines import RemoteCalls
from pilot_movers.engine.engine import TransferEngine
from pilot_movers.engine.progress import ProgressObserver
from pilot_movers.errors import BadJobParameters, JobTerminated, MoverError, Phase
from pilot_movers.job_signals import JobSignals
from pilot_movers.queue_config import QueueConfig
from pilot_movers.registry import ResolvedMover
from pilot_movers.values import FileReport, FileSpec, LeftBehind, Location, Role

log = logging.getLogger("pilot_movers.copies")


@dataclass(frozen=True)
class CopyPlan:
    """The copies to make, all in one direction (``phase``) with one mover, resolved."""

    specs: tuple[FileSpec, ...]
    phase: Phase
    mover: ResolvedMover


@dataclass(frozen=True)
class CopyOutcome:
    reports: tuple[FileReport, ...]
    left_behind: tuple[LeftBehind, ...] = ()
    """Temporary copies a stopped copy could not remove (their server did not answer in time)."""
    stopped: Optional[JobTerminated] = None


def plan_copies(
    sources: Sequence[str], destination: str, *, queue: Optional[QueueConfig] = None, mover: Optional[str] = None
) -> CopyPlan:
    """What ``cp SOURCES DESTINATION`` copies; BadJobParameters naming the argument at fault.
    A destination ending in ``/`` (or an existing local directory) receives each source under its
    own name; several sources need one."""
    if not sources:
        raise BadJobParameters("cp: give at least one source and a destination")
    target = parse_location(destination)
    into = destination.endswith("/") or (target.is_local and os.path.isdir(target.path))
    if len(sources) > 1 and not into:
        raise BadJobParameters(f"cp: {destination}: copying several files needs a directory (end it with /)")
    if target.is_local:
        directory = target.path if into else os.path.dirname(target.path)
        if not os.path.isdir(directory):
            raise BadJobParameters(f"cp: {destination}: no such local directory {directory}")
    specs = []
    for text in sources:
        source = parse_location(text)
        if text.endswith("/"):
            raise BadJobParameters(f"cp: {text}: a source is a file, not a directory")
        if not source.is_local and not target.is_local:
            raise BadJobParameters(
                f"cp: {text} -> {destination}: both ends are remote; copy through a local file (a job never "
                "copies between two storages)"
            )
        if source.is_local and not os.path.isfile(source.path):
            raise BadJobParameters(f"cp: {text}: no such local file")
        end = target.join(source.name) if into else target
        if source.is_local and end.is_local and _same_file(source.path, end.path):
            raise BadJobParameters(f"cp: {text} and {end.path} are the same file")
        specs.append(
            FileSpec(
                name=source.name,
                source=source,
                destination=end,
                role=Role.OUTPUT if not target.is_local else Role.INPUT,
            )
        )
    phase = Phase.STAGE_OUT if not target.is_local else Phase.STAGE_IN
    remote = {spec.remote(phase).scheme for spec in specs}
    if len(remote) > 1:
        raise BadJobParameters(f"cp: the sources mix {', '.join(sorted(remote))}: copy each kind on its own")
    chosen = mover_for(specs[0].remote(phase), queue, mover, phase)
    seen: set[str] = set()
    for spec in specs:
        if spec.destination.url in seen:
            raise BadJobParameters(f"cp: two sources would be written to {spec.destination.url}")
        seen.add(spec.destination.url)
    return CopyPlan(tuple(specs), phase, chosen)


def run_copies(
    plan: CopyPlan,
    *,
    queue: Optional[QueueConfig] = None,
    progress: Optional[ProgressObserver] = None,
    overwrite: bool = False,
    credentials: Optional[Credentials] = None,
    when_done: Callable[[], None] = lambda: None,
) -> CopyOutcome:
    """Copy every file of ``plan``; one report per file. A file already at a destination is
    FILEEXISTS unless ``overwrite`` (then it is replaced once the new copy is verified).
    ``credentials``: the mover's (default: the environment's); ``when_done`` is called as soon
    as the copies have ended (stopped or not), before the mover is closed: a command holds its
    stopping signals back from then on, so its status follows what was copied.
    SIGTERM, SIGINT and SIGQUIT stop the copies; what they made is removed (within
    ``cleanup_timeout``) before ``stopped`` says so."""
    settings = settings_of(queue)
    if overwrite:
        settings = dataclasses.replace(settings, overwrite=True)
    observer = progress or ProgressObserver()
    with opened_mover(plan.mover, queue, settings, credentials) as mover:
        engine = TransferEngine(mover, plan.phase, observer=observer)
        signals = JobSignals(lambda: plan.phase, engine.cancel)
        try:
            signals.install()
            observer.phase_started(plan.phase, plan.specs)
            reports = engine.run(plan.specs)
        except JobTerminated as stopped:  # what had ended is said; what the stop cut short is removed
            left = _remove_left(engine, mover, settings.cancel_grace, settings.cleanup_timeout)
            return CopyOutcome(tuple(engine.finished_reports()), left, stopped)
        finally:
            observer.phase_ended(plan.phase)
            signals.restore()
            when_done()
        if signals.error is not None:  # a signal a library swallowed: the copies stopped all the same
            left = _remove_left(engine, mover, settings.cancel_grace, settings.cleanup_timeout)
            return CopyOutcome(tuple(reports), left, signals.error)
    return CopyOutcome(tuple(reports), tuple(engine.left_behind))


def _remove_left(engine: TransferEngine, mover: object, grace: float, budget: float) -> tuple[LeftBehind, ...]:
    """After a stop: the movers' calls get ``grace`` seconds to unwind, then each temporary copy
    they left is removed, all within ``budget`` seconds; what could not be is returned."""
    ends = time.monotonic() + budget
    engine.wait_for_movers(min(grace, budget))
    remaining = []
    calls = RemoteCalls(budget)
    for item in engine.left_behind:
        try:
            location = Location.parse(item.location)
            namespace = mover.namespace(location)  # type: ignore[attr-defined]
            left = ends - time.monotonic()
            if left <= 0:
                raise MoverError(f"the cleanup's {budget:g} s (cleanup_timeout) ran out")
            if location.is_local:
                namespace.remove(location)
            else:
                calls.call(location.server, f"removal of {location.url}", namespace.remove, location, timeout=left)
        except (MoverError, ValueError) as exc:
            log.warning("cannot remove %s: %s", item.location, exc)
            remaining.append(item)
        else:
            log.info("removed %s, left by the stopped copy", item.location)
    return tuple(remaining)


def _same_file(one: str, other: str) -> bool:
    """The same file under two names (a link, a hard link, ``./a`` and ``a``)."""
    if os.path.realpath(one) == os.path.realpath(other):
        return True
    try:
        return os.path.samefile(one, other)
    except OSError:  # the destination is not there yet
        return False
