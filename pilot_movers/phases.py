"""One phase of files through their movers: the one runner the Job, the Pilot 3 copytool face and
anyone else with a plan use.

A plan (``planner.plan``) gives each file its mover; the runner groups the files by mover, runs
one engine per mover (each group on the mover's instance, as the caller provides it), and hands
each file's report back at the file's place in the plan.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Callable, Optional, Sequence

from pilot_movers.base import Mover
from pilot_movers.engine.engine import TransferEngine
from pilot_movers.errors import MoverError, Phase
from pilot_movers.planner import PlannedFile
from pilot_movers.values import FileReport, FileSpec, Status


def groups(planned: Sequence[PlannedFile]) -> dict[str, list[tuple[int, FileSpec]]]:
    """The plan's files by mover, in the plan's order, each with its place in the plan."""
    found: dict[str, list[tuple[int, FileSpec]]] = {}
    for index, item in enumerate(planned):
        found.setdefault(item.mover, []).append((index, item.spec))
    return found


def run_phase(
    planned: Sequence[PlannedFile],
    *,
    mover: Callable[[str], AbstractContextManager[Mover]],
    engine: Callable[[str, Mover], TransferEngine],
    reports: Optional[dict[int, FileReport]] = None,
    after_engine: Callable[[str, TransferEngine], None] = lambda name, engine: None,
    between: Callable[[], None] = lambda: None,
    phase: Optional[Phase] = None,
) -> list[FileReport]:
    """Every file of ``planned`` through its mover; the reports in the plan's order.

    ``mover(name)``: the mover to use, as a context (the job's open instance, or one opened for
    the call); ``engine(name, mover)``: an engine on it (with the caller's journal, deadlines,
    credential check...); ``after_engine`` hears each engine once it ran (its ``left_behind``),
    ``between`` runs after each group (a job stopped by a signal stops there). ``reports`` is
    filled as groups end, so a caller interrupted midway still has what was done. With
    ``phase`` given, a mover that cannot be opened fails its own files (each with why) and the
    others still run; without, its error ends the phase."""
    done = {} if reports is None else reports
    for name, indexed in groups(planned).items():
        try:
            context = mover(name)
            opened = context.__enter__()
        except MoverError as exc:
            if phase is None:
                raise
            for index, spec in indexed:
                done[index] = FileReport(spec, Status.FAILED, error=exc.bind(phase=phase, file=spec.name))
            continue
        try:
            running = engine(name, opened)
            try:
                for (index, _), report in zip(indexed, running.run([spec for _, spec in indexed])):
                    done[index] = report
            finally:
                after_engine(name, running)
        finally:
            context.__exit__(None, None, None)
        between()
    return [done[index] for index in sorted(done)]
