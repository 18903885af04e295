"""A job's signals: SIGTERM, SIGINT and SIGQUIT stop the job and start its cleanup.

The handler asks for the cancel (never blocking: the engine's cancel is a byte written to a
pipe), interrupts every wait on a server, and raises ``JobTerminated`` in the main thread, unless
the signal landed where a library swallows exceptions (a logging handler): then, as when it lands
in a callback C code called (``sys.unraisablehook``), the job stops at its next step
(``raise_if_stopped``).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from types import FrameType
from typing import Any, Callable, Optional

from pilot_movers.errors import JobTerminated, Phase

log = logging.getLogger("pilot_movers.job")

SIGNALS = ("SIGTERM", "SIGINT", "SIGQUIT")
#: Code that catches every exception (a logging handler prints and drops it): a signal's exception
#: is not raised inside it.
_SWALLOWING_MODULES = (os.path.dirname(logging.__file__),)


class JobSignals:
    """The job's handlers while it runs (``install`` ... ``restore``). ``phase()`` says where the
    job is; ``stop(error)`` cancels what runs (it must not block)."""

    def __init__(
        self,
        phase: Callable[[], Phase],
        stop: Callable[[JobTerminated], None],
        cut_short: Callable[[], None] = lambda: None,
    ) -> None:
        self._phase = phase
        self._stop = stop
        #: A signal during the cleanup ends its waits on servers now (what is left is listed).
        self._cut_short = cut_short
        self.cleanup_cut_short: Optional[str] = None
        self._saved_handlers: dict[int, Any] = {}
        self._saved_mask: set[Any] = set()
        self._saved_unraisable_hook: Optional[Callable[[Any], Any]] = None
        self._terminating = False
        #: What ended the job, even where a library swallowed the exception.
        self.error: Optional[JobTerminated] = None

    def raise_if_stopped(self) -> None:
        """A signal whose exception a library swallowed (raised inside a C callback, say) still
        stops the job at the next step."""
        if self.error is not None:
            raise self.error

    def install(self) -> None:
        numbers = {getattr(signal, name) for name in SIGNALS}
        self._saved_unraisable_hook = sys.unraisablehook
        sys.unraisablehook = self._on_unraisable
        for number in numbers:
            self._saved_handlers[number] = signal.signal(number, self._on_signal)
        # A blocked signal mask is inherited from whatever started the pilot (the Globus toolkit
        # threads block signals): a blocked SIGTERM would never stop the job.
        self._saved_mask = signal.pthread_sigmask(signal.SIG_UNBLOCK, numbers)

    def restore(self) -> None:
        if self._saved_unraisable_hook is not None:
            sys.unraisablehook = self._saved_unraisable_hook
            self._saved_unraisable_hook = None
        for number, handler in self._saved_handlers.items():
            signal.signal(number, handler)
        if self._saved_handlers:
            signal.pthread_sigmask(signal.SIG_SETMASK, self._saved_mask)
        self._saved_handlers.clear()

    def _on_signal(self, number: int, frame: Optional[FrameType]) -> None:
        name = signal.Signals(number).name
        if self._phase() is Phase.CLEANUP:
            if self.cleanup_cut_short is not None:
                log.warning("%s received again: the cleanup is already being cut short", name)
                return
            self.cleanup_cut_short = name
            log.warning("%s received during the cleanup: no more waiting on servers", name)
            self._cut_short()  # the cleanup's waits are sliced: they see their budget spent at once
            self._stop(JobTerminated(name, phase=Phase.CLEANUP))  # ends server waits; never blocks
            return  # nothing is raised: the cleanup's local steps (the proxy, the record) must run whole
        if self._terminating:
            log.warning("%s received again: cleanup is already running", name)
            return
        self._terminating = True
        log.warning("%s received: stopping the job and cleaning up", name)
        error = JobTerminated(name, phase=self._phase())
        self.error = error
        self._stop(error)  # never blocks: unwinding then joins threads that are already stopping
        if _inside(frame, _SWALLOWING_MODULES):
            return  # raised there it would be caught and printed; the job stops at its next step
        raise error

    def _on_unraisable(self, unraisable: Any) -> None:
        """A signal that landed in a callback C code called (pyOpenSSL's, say) cannot propagate
        there: the job stops at its next step instead; no traceback is printed for it."""
        if isinstance(unraisable.exc_value, JobTerminated):
            log.debug("%s arrived inside a library callback; the job stops at its next step", unraisable.exc_value)
            return
        if self._saved_unraisable_hook is not None:
            self._saved_unraisable_hook(unraisable)


def _inside(frame: Optional[FrameType], places: tuple[str, ...]) -> bool:
    """Whether any caller of ``frame`` runs code from one of ``places`` (file path prefixes)."""
    while frame is not None:
        if frame.f_code.co_filename.startswith(places):
            return True
        frame = frame.f_back
    return False
