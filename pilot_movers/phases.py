"""One phase of files through their movers: the one runner the Job, the Pilot 3 copytool face and
anyone else with a plan use.

A plan (``planner.plan``) gives each file its mover, resolved; the runner groups the files by
mover, runs one engine per mover (each group on the mover's instance, as the caller opens it
from the resolved mover), and hands each file's report back at the file's place in the plan. A
file with alternative remote ends (``FileSpec.alternatives``: an input's other replicas, an
output's other destinations) whose end failed in a way another can cure (``failover.may_cure``)
is tried at the next one, in a further round, on the mover that end needs; its report lists the
ends it left and why.
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Callable, Optional, Sequence

from pilot_movers.base import Mover
from pilot_movers.engine.engine import TransferEngine
from pilot_movers.errors import MoverError, Phase
from pilot_movers.failover import may_cure
from pilot_movers.planner import PlannedFile
from pilot_movers.registry import ResolvedMover
from pilot_movers.values import FailedOver, FileReport, FileSpec, Status

log = logging.getLogger(__name__)


def _groups(indexed: Sequence[tuple[int, PlannedFile]]) -> dict[ResolvedMover, list[tuple[int, FileSpec]]]:
    """The files by mover, in the plan's order, each with its place in the plan."""
    found: dict[ResolvedMover, list[tuple[int, FileSpec]]] = {}
    for index, item in indexed:
        found.setdefault(item.mover, []).append((index, item.spec))
    return found


def run_phase(
    planned: Sequence[PlannedFile],
    *,
    mover: Callable[[ResolvedMover], AbstractContextManager[Mover]],
    engine: Callable[[ResolvedMover, Mover], TransferEngine],
    reports: Optional[dict[int, FileReport]] = None,
    after_engine: Callable[[ResolvedMover, TransferEngine], None] = lambda chosen, engine: None,
    between: Callable[[], None] = lambda: None,
    phase: Optional[Phase] = None,
) -> list[FileReport]:
    """Every file of ``planned`` through its mover; the reports in the plan's order.

    ``mover(chosen)``: the planned mover ``chosen`` (a ``ResolvedMover``) to use, as a context
    (the job's open instance, or one opened for the call); ``engine(chosen, mover)``: an engine
    on it (with the caller's journal, deadlines, credential check...); ``after_engine`` hears
    each engine once it ran (its ``left_behind``), ``between`` runs after each group (a job
    stopped by a signal stops there). ``reports`` is filled as groups end, so a caller
    interrupted midway still has what was done. With
    ``phase`` given, a mover that cannot be opened fails its own files (each with why) and the
    others still run; without, its error ends the phase. A file fails over to its planned
    alternatives (``PlannedFile.fallbacks``) in further rounds."""
    done = {} if reports is None else reports
    left: dict[int, list[FailedOver]] = {}
    this_round = list(enumerate(planned))
    opening = phase
    try:
        while this_round:
            _run_round(
                this_round, done, mover=mover, engine=engine, after_engine=after_engine, between=between, phase=opening
            )
            this_round = _failovers(this_round, done, left, phase)
            # a fallback's mover that cannot be opened fails the files that need it, not the phase
            opening = opening or (this_round[0][1].spec.role.phase if this_round else None)
    finally:  # what was tried is in the reports, even when a signal stopped a later round
        for index, ends in left.items():
            if index in done and not done[index].failed_over:
                done[index] = replace(done[index], failed_over=tuple(ends))
    return [done[index] for index in sorted(done)]


def _run_round(
    indexed: Sequence[tuple[int, PlannedFile]],
    done: dict[int, FileReport],
    *,
    mover: Callable[[ResolvedMover], AbstractContextManager[Mover]],
    engine: Callable[[ResolvedMover, Mover], TransferEngine],
    after_engine: Callable[[ResolvedMover, TransferEngine], None],
    between: Callable[[], None],
    phase: Optional[Phase],
) -> None:
    for chosen, group in _groups(indexed).items():
        try:
            context = mover(chosen)
            opened = context.__enter__()
        except MoverError as exc:
            if phase is None:
                raise
            for index, spec in group:
                error = exc.bind(phase=phase, file=spec.name)
                done[index] = FileReport(spec, Status.FAILED, error=error, mover=chosen.name)
            continue
        try:
            running = engine(chosen, opened)
            try:
                for (index, _), report in zip(group, running.run([spec for _, spec in group])):
                    done[index] = report
            finally:
                after_engine(chosen, running)
        finally:
            context.__exit__(None, None, None)
        between()


def _failovers(
    indexed: Sequence[tuple[int, PlannedFile]],
    done: dict[int, FileReport],
    left: dict[int, list[FailedOver]],
    phase: Optional[Phase],
) -> list[tuple[int, PlannedFile]]:
    """The files of this round to try again at their next end, on the mover planned for it;
    each end left is recorded in ``left`` with why."""
    again: list[tuple[int, PlannedFile]] = []
    for index, planned in indexed:
        report = done[index]
        spec, error = report.spec, report.error
        if report.ok or error is None or not spec.alternatives or not may_cure(error, spec.role):
            continue
        left.setdefault(index, []).append(FailedOver(spec.remote(), error, len(report.attempts), report.mover))
        following = planned.failed_over()
        log.warning(
            "%s %s: %s at %s; trying %s",
            (phase or error.phase or Phase.STAGE_IN).value,
            spec.name,
            error.name,
            spec.remote().server,
            following.spec.remote().url,
        )
        again.append((index, following))
    return again
