"""Two clocks per transfer, a stall detector and a total deadline, and the watchdog that runs them.

A transport reports bytes to ``TransferClock.progress``; when no byte arrived for
``stall_timeout`` seconds, or the deadline (scaled by size) passed, the watchdog cancels the clock:
it records the reason and has the transport's cancel hooks run (gfal2 ``cancel()``, XRootD
``should_cancel``, a flag a copy loop checks) on other threads (``cancels``): neither the
watchdog nor whoever cancels waits for a hook.

Clocks nest: a batch's clock ``adopt``s the clocks of its files. Progress (or a sign of life) on
a file's clock is a sign of life of its batch, so a batch whose files move is never stalled, however
long it lasts; cancelling the batch cancels every file with the same reason.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator, Optional

from pilot_movers.engine.cancels import CANCELS
from pilot_movers.errors import MoverError, TransferStalled, TransferTimeout

log = logging.getLogger("pilot_movers.progress")

#: Seconds between two progress log lines for the same file, unless a clock is given its own
#: (queue config ``[transfer] progress_interval``).
PROGRESS_LOG_INTERVAL = 10.0


class TransferClock:
    """Progress, deadline and cancellation of one transfer attempt (or of a whole batch). Thread safe.

    A clock runs from ``start()``, or from the first ``progress``/``touch``: in a bulk call, files
    wait their turn unclocked, and the batch's own clock (``parent``, see ``adopt``) covers the
    wait. Progress on a file's clock is progress of its batch. ``probe``, when set, is polled by the watchdog for
    the bytes moved so far, for transports that report no progress themselves; ``signs_of_life``
    likewise, for life the bytes counted do not show (``wire``). ``listener``, when
    given, hears every increase of the bytes moved (a progress display); ``log_interval`` is the
    seconds between two progress log lines (default ``PROGRESS_LOG_INTERVAL``).
    """

    def __init__(
        self,
        label: str,
        *,
        stall_timeout: float,
        total_timeout: Callable[[Optional[int]], float],
        size: Optional[int] = None,
        now: Callable[[], float] = time.monotonic,
        parent: Optional[TransferClock] = None,
        listener: Optional[Callable[[int], None]] = None,
        log_interval: Optional[float] = None,
    ) -> None:
        self.label = label
        self.listener = listener
        self.log_interval = PROGRESS_LOG_INTERVAL if log_interval is None else log_interval
        self.parent = parent
        self.stall_timeout = stall_timeout
        self._total_timeout = total_timeout
        self._now = now
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []
        self.cancelled = threading.Event()
        self.reason: Optional[MoverError] = None
        #: When the clock was cancelled (its ``now``), None while it was not.
        self.cancelled_at: Optional[float] = None
        self._children: list[TransferClock] = []
        self.probe: Optional[Callable[[], Optional[int]]] = None
        #: Polled by the watchdog too: True when the transfer showed life that ``progress`` does
        #: not count (its connection moved bytes the transport reports only later).
        self.signs_of_life: Optional[Callable[[], bool]] = None
        self.running = False
        self.done = False
        self.started = now()
        self.last_progress = self.started
        self.bytes = 0
        self.size = size
        self.deadline = self.started + total_timeout(size)
        self._last_log = self.started
        if parent is not None:
            parent.adopt(self)
        CANCELS.start()

    def adopt(self, child: TransferClock) -> None:
        """``child`` (a file's clock) belongs to this one (its batch's): its progress keeps this
        clock from stalling, and cancelling this clock cancels it with the same reason."""
        with self._lock:
            child.parent = self
            self._children.append(child)
            reason = self.reason
        if reason is not None:
            child.cancel(reason, _cascaded=True)

    def start(self) -> None:
        """The transport begins this file now: both clocks start counting."""
        with self._lock:
            if self.running or self.done:
                return
            self.running = True
            self.started = self.last_progress = self._last_log = self._now()
            self.deadline = self.started + self._total_timeout(self.size)

    def finish(self) -> None:
        """The transport answered for this file: neither clock runs any more."""
        with self._lock:
            self.running = False
            self.done = True

    def set_size(self, size: int) -> None:
        """The transport learned the file size: scale the deadline to it."""
        with self._lock:
            if size != self.size:
                self.size = size
                self.deadline = self.started + self._total_timeout(size)

    def progress(self, total_bytes: int) -> None:
        """``total_bytes`` have been moved so far in this attempt."""
        self.start()
        if self.parent is not None:
            self.parent.touch()
        now = self._now()
        with self._lock:
            moved = total_bytes > self.bytes
            if moved:
                self.bytes = total_bytes
                self.last_progress = now
            due = now - self._last_log >= self.log_interval
            if due:
                self._last_log = now
        if moved and self.listener is not None:
            try:
                self.listener(total_bytes)
            except Exception:
                logging.getLogger(__name__).debug("%s: progress listener failed", self.label, exc_info=True)
        if due:
            rate = total_bytes / max(now - self.started, 1e-9) / 1e6
            if self.size:
                percent = 100.0 * total_bytes / self.size
                log.info("%s: %.0f%% (%d of %d bytes), %.1f MB/s", self.label, percent, total_bytes, self.size, rate)
            else:
                log.info("%s: %d bytes, %.1f MB/s", self.label, total_bytes, rate)

    def touch(self) -> None:
        """The transport is alive and busy (a checksum, a handshake) though no byte moved."""
        self.start()
        if self.parent is not None:
            self.parent.touch()
        with self._lock:
            self.last_progress = self._now()

    def on_cancel(self, callback: Callable[[], None]) -> None:
        """Have ``callback`` run, on a thread of its own, when the clock is cancelled (at once
        if it already was). A hook may block: nobody waits for it."""
        with self._lock:
            run_now = self.reason is not None
            if not run_now:
                self._callbacks.append(callback)
        if run_now:
            CANCELS.request(callback, self.label)

    def cancel(self, reason: MoverError, *, _cascaded: bool = False) -> None:
        """Stop: record ``reason`` (the first one counts), wake whoever waits on ``cancelled``,
        cancel the adopted clocks, and have the hooks run. Returns at once; do not call it from
        a signal handler (it takes the clock's lock): hand it to ``CANCELS`` there."""
        with self._lock:
            if self.reason is not None:
                return
            self.reason = reason
            self.cancelled_at = self._now()
            callbacks, self._callbacks = self._callbacks, []
            children = list(self._children)
        self.cancelled.set()
        log.log(logging.DEBUG if _cascaded else logging.WARNING, "%s: cancelling: %s", self.label, reason.message)
        for child in children:
            child.cancel(reason, _cascaded=True)
        for callback in callbacks:
            CANCELS.request(callback, self.label)

    def check(self) -> None:
        """Cancel if either clock ran out."""
        if not self.running or self.reason is not None:
            return
        if self.probe is not None:
            try:
                seen = self.probe()
            except Exception:  # noqa: BLE001 - a probe is a hint; a failing one must not stop the watchdog
                seen = None
            if seen is not None:
                self.progress(seen)
        if self.signs_of_life is not None:
            try:
                alive = self.signs_of_life()
            except Exception:  # noqa: BLE001 - a hint, like the probe
                alive = False
            if alive:
                self.touch()
        now = self._now()
        with self._lock:
            stalled_for = now - self.last_progress
            overdue = now >= self.deadline
            bytes_, total = self.bytes, self.deadline - self.started
        if stalled_for >= self.stall_timeout:
            self.cancel(
                TransferStalled(
                    f"no progress for {stalled_for:.0f} s (stall limit {self.stall_timeout:g} s, {bytes_} bytes moved)"
                )
            )
        elif overdue:
            self.cancel(TransferTimeout(f"did not finish within {total:.0f} s ({bytes_} bytes moved)"))

    def raise_if_cancelled(self) -> None:
        if self.reason is not None:
            raise self.reason

    @property
    def elapsed(self) -> float:
        return self._now() - self.started

    def elapsed_since(self, moment: float) -> float:
        """Seconds from ``moment`` (on this clock's time, such as ``cancelled_at``) to now."""
        return self._now() - moment


class Watchdog:
    """One thread that checks every clock it watches, every ``interval`` seconds."""

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self._clocks: set[TransferClock] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    @contextmanager
    def watching(self, clocks: Iterable[TransferClock]) -> Iterator[None]:
        clocks = list(clocks)
        with self._lock:
            self._clocks.update(clocks)
            if self._thread is None:
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name="pilot-movers-watchdog", daemon=True)
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                self._clocks.difference_update(clocks)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                clocks = list(self._clocks)
            for clock in clocks:
                clock.check()

    def stop(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()
