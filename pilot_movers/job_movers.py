"""A job's movers: one instance of each, opened on first use with the job's credentials and
facts, stopped at the job's cleanup, each stop waited for no longer than the cleanup's budget;
the requests each made to a rate-limited service."""

from __future__ import annotations

import logging
import threading
import time
from contextlib import ExitStack
from typing import Callable, Mapping

from pilot_movers.base import Mover
from pilot_movers.credentials.bundle import Credentials
from pilot_movers.errors import NoMoverForScheme, Phase
from pilot_movers.job_facts import JobFacts
from pilot_movers.planner import choose_mover
from pilot_movers.queue_config import QueueConfig
from pilot_movers.registry import ResolvedMover
from pilot_movers.values import LeftBehind

log = logging.getLogger("pilot_movers.job")


class JobMovers:
    """``credentials`` and ``facts`` are asked for when a mover opens (the job's, as they are
    then); ``cleanup_ends`` is the monotonic time the job's cleanup must end by; a mover left
    stopping goes to ``unreachable_left`` and ``cleanup_notes``."""

    def __init__(
        self,
        queue: QueueConfig,
        stack: ExitStack,
        *,
        credentials: Callable[[], Credentials],
        facts: Callable[[], JobFacts],
        cleanup_ends: Callable[[], float],
        cleanup_notes: list[str],
        unreachable_left: list[LeftBehind],
    ) -> None:
        self.queue = queue
        self._stack = stack
        self._credentials = credentials
        self._facts = facts
        self._cleanup_ends = cleanup_ends
        self._cleanup_notes = cleanup_notes
        self._unreachable_left = unreachable_left
        #: The open instances, by the name queue config knows each mover by.
        self.opened: dict[str, Mover] = {}

    def get(self, chosen: ResolvedMover) -> Mover:
        """The job's one instance of the mover ``chosen`` (as a plan carries it): made from its
        class on first use, with the queue's options for it, and opened; stopped when the job
        ends (the job's ``stack``)."""
        mover = self.opened.get(chosen.name)
        if mover is None:
            mover = chosen.cls(self.queue.transfer, self.queue.mover_options(chosen.name))
            try:
                mover.start(self._credentials(), self._facts())
            except BaseException:  # what a failed open could not undo still goes in the report
                self._unreachable_left.extend(mover.left_behind)
                raise
            self._stack.callback(self._stop, mover)
            self.opened[chosen.name] = mover
        return mover

    def for_scheme(self, scheme: str) -> ResolvedMover:
        """The mover this queue uses for ``scheme``: one it names if that one handles it, else the
        scheme's default."""
        named = tuple(
            dict.fromkeys((*self.queue.mover_names(Phase.STAGE_OUT), *self.queue.mover_names(Phase.STAGE_IN)))
        )
        try:
            return choose_mover(scheme, named)
        except NoMoverForScheme:  # debris of an earlier job may be on a server this queue no longer uses
            return choose_mover(scheme)

    def left_behind(self) -> list[LeftBehind]:
        return [item for mover in self.opened.values() for item in mover.left_behind]

    def service_requests(self) -> dict[str, int]:
        counts = {name: mover.service_requests() for name, mover in self.opened.items()}
        return {name: count for name, count in counts.items() if count is not None}

    def requests_since(self, before: Mapping[str, int]) -> dict[str, int]:
        """Requests each mover made to a rate-limited service since ``before`` (a mover opened
        meanwhile: all of its own, its opening's included)."""
        return {name: count - before.get(name, 0) for name, count in self.service_requests().items()}

    def _stop(self, mover: Mover) -> None:
        """``mover.stop()``, waited for no longer than the cleanup's budget allows: a mover whose
        server froze (a Globus endpoint to delete) is left to finish on its own, and said so."""
        stopping = threading.Thread(target=mover.stop, name=f"pilot-movers-stop-{mover.name}", daemon=True)
        stopping.start()
        while stopping.is_alive() and time.monotonic() < self._cleanup_ends():  # sliced: a signal ends it
            stopping.join(min(0.1, max(0.0, self._cleanup_ends() - time.monotonic())))
        if stopping.is_alive():
            note = (
                f"mover {mover.name} did not stop within the cleanup's "
                f"{self.queue.transfer.cleanup_timeout:g} s (cleanup_timeout): left stopping"
            )
            log.warning("%s", note)
            self._cleanup_notes.append(note)
            self._unreachable_left.append(LeftBehind("mover", mover.name, reason=note))
