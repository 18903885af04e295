"""Cancellations asked for anywhere, carried out elsewhere: asking never blocks and takes no lock.

A signal handler runs in the main thread between two bytecodes, possibly while that thread holds
a lock the cancellation would need (a clock's), and a transport's cancel hook may block for
seconds (gfal2's ``context.cancel()`` waits for its plugin). So whoever wants something cancelled
(the job's signal handler, the watchdog, a clock) hands the action to ``CANCELS``: a lock-free
append and a byte written to a pipe, both safe in a signal handler. A daemon thread wakes on the
pipe and runs each action on a small pool of daemon threads, so one slow hook delays no other.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
from typing import Callable, Optional

from pilot_movers.engine.workers import DaemonPool

log = logging.getLogger(__name__)

#: Hooks run at once; more wait for one of these threads.
HOOK_THREADS = 8


class CancelLine:
    """Actions asked for by ``request`` from any thread (a signal handler included), run soon on
    daemon threads, each once, in the order asked."""

    def __init__(self) -> None:
        self._actions: collections.deque[tuple[Callable[[], None], str]] = collections.deque()
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)
        self._hooks = DaemonPool(HOOK_THREADS, name="pilot-movers-cancel")
        self._thread: Optional[threading.Thread] = None
        self._start_lock = threading.Lock()

    def start(self) -> None:
        """Make sure the thread runs (call from ordinary code: a signal handler must not start
        threads). ``request`` works before, the actions run once it does."""
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="pilot-movers-cancels", daemon=True)
                self._thread.start()

    def request(self, action: Callable[[], None], label: str = "") -> None:
        """Run ``action`` soon, on another thread. Never blocks, takes no lock."""
        self._actions.append((action, label))
        try:
            os.write(self._write, b"\0")
        except OSError:  # the pipe is full: a wake-up is already pending
            pass

    def _run(self) -> None:
        while True:
            try:
                os.read(self._read, 4096)
            except OSError:  # pragma: no cover - the pipe is never closed
                return
            while self._actions:
                action, label = self._actions.popleft()
                self._hooks.submit(_run_action, action, label)


def _run_action(action: Callable[[], None], label: str) -> None:
    try:
        action()
    except Exception:  # a failing cancel hook must not stop the others
        log.exception("%s: cancel hook failed", label or "cancel")


#: The process's one line (started by the first clock or engine made in ordinary code).
CANCELS = CancelLine()
