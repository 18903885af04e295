"""A live line per phase on a terminal (tqdm): files done of total, bytes of total, rate, ETA.

The engine tells a ``ProgressObserver`` of every byte from its transports' threads; this one
keeps counts under a lock and lets tqdm decide when to redraw (at most ten times a second), so a
transport's callback never waits on the terminal.
"""

from __future__ import annotations

import threading
from typing import IO, Any, Optional, Sequence

from pilot_movers.engine.progress import ProgressObserver
from pilot_movers.errors import Phase
from pilot_movers.values import FileReport, FileSpec, Status


class TerminalProgress(ProgressObserver):
    """``stream``: where the lines go (the terminal's stderr)."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self._lock = threading.Lock()
        self._bar: Optional[Any] = None
        self._moved: dict[str, int] = {}
        self._files = 0
        self._done = 0
        self._failed = 0

    def phase_started(self, phase: Phase, files: Sequence[FileSpec]) -> None:
        from tqdm import tqdm

        sizes = [spec.size for spec in files]
        total = sum(size or 0 for size in sizes) if files and all(size is not None for size in sizes) else None
        with self._lock:
            self._close()
            self._moved, self._files, self._done, self._failed = {}, len(files), 0, 0
            self._bar = tqdm(
                total=total,
                desc=phase.value,
                unit="B",
                unit_scale=True,
                unit_divisor=1000,
                file=self.stream,
                dynamic_ncols=True,
                mininterval=0.1,
                leave=True,
            )
            self._postfix()

    def file_progress(self, phase: Phase, spec: FileSpec, moved: int) -> None:
        with self._lock:
            before = self._moved.get(spec.name, 0)
            if moved > before and self._bar is not None:  # a retry starts again from 0: not counted twice
                self._moved[spec.name] = moved
                self._bar.update(moved - before)

    def file_finished(self, phase: Phase, report: FileReport) -> None:
        with self._lock:
            if self._bar is None:
                return
            if report.status in (Status.DONE, Status.ALREADY_DONE):
                self._done += 1
                before = self._moved.get(report.spec.name, 0)
                if report.bytes > before:
                    self._bar.update(report.bytes - before)
                    self._moved[report.spec.name] = report.bytes
            else:
                self._failed += 1
            self._postfix()

    def phase_ended(self, phase: Phase) -> None:
        with self._lock:
            self._close()

    def _postfix(self) -> None:
        assert self._bar is not None
        failed = f", {self._failed} failed" if self._failed else ""
        self._bar.set_postfix_str(f"{self._done}/{self._files} files{failed}", refresh=False)

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.refresh()
            self._bar.close()
            self._bar = None
