"""What a job's transfers tell whoever watches them: a terminal display, a monitoring probe.

The engine and the Job call a ``ProgressObserver``; they never draw anything themselves. Every
method may be called from any thread (a transport's own, inside a C library's callback) and must
return at once without raising: keep a counter, leave the drawing to a thread of your own.
"""

from __future__ import annotations

from typing import Sequence

from pilot_movers.errors import Phase
from pilot_movers.values import FileReport, FileSpec


class ProgressObserver:
    """Receives a job's progress; this base class ignores all of it (override what you need)."""

    def phase_started(self, phase: Phase, files: Sequence[FileSpec]) -> None:
        """A stage-in or stage-out phase is about to move ``files``."""

    def file_progress(self, phase: Phase, spec: FileSpec, moved: int) -> None:
        """``moved`` bytes of ``spec`` have been moved so far in its current attempt (a retry
        starts again from 0)."""

    def file_finished(self, phase: Phase, report: FileReport) -> None:
        """``report`` is the file's outcome: done, found already done, failed or skipped."""

    def phase_ended(self, phase: Phase) -> None:
        """The phase is over (in every outcome, a signal included)."""
