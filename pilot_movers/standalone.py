"""A mover used on its own, not by a job: what a user of one mover calls.

    with get_mover("gridftp") as mover:      # opened with the environment's credentials
        reports = mover.stage_in(files)        # through the engine, one report per file

Kept apart from the plugin interface (``base.Mover``: what a transport implements and what the
job and the engine call), which every mover inherits with it.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Optional, Sequence, TypeVar

from pilot_movers.credentials.bundle import Credentials
from pilot_movers.engine.engine import TransferEngine
from pilot_movers.errors import Phase
from pilot_movers.values import FileReport, FileSpec

Self = TypeVar("Self", bound="UsedOnItsOwn")


class UsedOnItsOwn:
    """``stage_in``, ``stage_out``, ``transfer`` and the context manager of a mover used alone."""

    def __enter__(self: Self) -> Self:
        opened: Any = self
        if not opened.is_open:
            opened.start(Credentials.from_environment())
        return self

    def __exit__(
        self: Any,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.stop()

    def stage_in(self: Any, files: Sequence[FileSpec]) -> list[FileReport]:
        """Bring ``files`` to their (local) destinations; one report per file, in order."""
        return self.transfer(files, Phase.STAGE_IN)

    def stage_out(self: Any, files: Sequence[FileSpec]) -> list[FileReport]:
        """Send ``files`` to their (remote) destinations; one report per file, in order."""
        return self.transfer(files, Phase.STAGE_OUT)

    def transfer(self: Any, files: Sequence[FileSpec], phase: Phase) -> list[FileReport]:
        """Run ``files`` through the engine with this mover; an unopened mover is opened (with
        the environment's credentials) for this call only."""
        if self.is_open:
            return TransferEngine(self, phase).run(files)
        with self:
            return TransferEngine(self, phase).run(files)
