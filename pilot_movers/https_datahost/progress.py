"""Progress bars for long transfers, drawn by tqdm when stdout is a terminal (and nothing
otherwise: logs and pipes get the one-line summary only)."""

from __future__ import annotations

import sys
from typing import Any, Optional, TextIO

from pilot_movers.https_datahost.multipart import Progress


class ProgressBar:
    """A context manager whose ``update(done, total)`` is a ``Progress`` callback."""

    def __init__(self, label: str, *, enabled: Optional[bool] = None, stream: Optional[TextIO] = None) -> None:
        self.stream = stream or sys.stdout
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.label = label
        self._bar: Any = None

    def __enter__(self) -> ProgressBar:
        return self

    def update(self, done: int, total: Optional[int]) -> None:
        if not self.enabled:
            return
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(
                total=total,
                desc=self.label,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                file=self.stream,
                dynamic_ncols=True,
                leave=False,
            )
        if total is not None and self._bar.total != total:
            self._bar.total = total
        self._bar.update(done - self._bar.n)

    @property
    def callback(self) -> Optional[Progress]:
        return self.update if self.enabled else None

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
