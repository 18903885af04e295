"""Worker threads a stuck call cannot keep the process alive with.

``concurrent.futures.ThreadPoolExecutor`` joins its threads when the interpreter exits, so one
thread blocked in C on a frozen server (gfal2 in an unlink, a socket read with no timeout)
keeps a finished pilot from exiting. ``DaemonPool`` has the same ``submit``/``map``/``shutdown``
face on daemon threads: work the job gave up on is left behind, never waited for.
"""

from __future__ import annotations

import collections
import itertools
import threading
from concurrent.futures import Future
from typing import Any, Callable, Iterable, Iterator, Optional, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class DaemonPool:
    """At most ``max_workers`` daemon threads running submitted calls in order of submission.

    ``max_workers=None``: one more thread whenever none is idle (for calls that may never
    return, each waited for under a deadline by its caller)."""

    def __init__(self, max_workers: Optional[int] = None, *, name: str = "pilot-movers-worker") -> None:
        self._max = max_workers
        self._name = name
        self._work: collections.deque[Any] = collections.deque()
        self._ready = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._idle = 0  # workers waiting for work (counted until they take some)
        self._shut = False
        self._numbers = itertools.count(1)

    def submit(self, function: Callable[..., R], *args: Any, **kwargs: Any) -> Future[R]:
        future: Future[R] = Future()
        with self._ready:
            if self._shut:
                raise RuntimeError("cannot submit to a pool that was shut down")
            self._work.append((future, function, args, kwargs))
            if self._idle < len(self._work) and (self._max is None or len(self._threads) < self._max):
                thread = threading.Thread(target=self._run, name=f"{self._name}-{next(self._numbers)}", daemon=True)
                self._threads.append(thread)
                thread.start()
            else:
                self._ready.notify()
        return future

    def map(self, function: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        futures = [self.submit(function, item) for item in items]
        return (future.result() for future in futures)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """No more work; with ``wait``, join the threads (use only when no call can hang)."""
        with self._ready:
            self._shut = True
            threads = list(self._threads)
            if cancel_futures:
                while self._work:
                    self._work.popleft()[0].cancel()
            self._ready.notify_all()
        if wait:
            for thread in threads:
                if thread is not threading.current_thread():
                    thread.join()

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._work:
                    if self._shut:
                        return
                    self._idle += 1
                    self._ready.wait()
                    self._idle -= 1
                future, function, args, kwargs = self._work.popleft()
            if future.set_running_or_notify_cancel():
                try:
                    result = function(*args, **kwargs)
                except BaseException as exc:  # noqa: BLE001 - handed to whoever waits
                    future.set_exception(exc)
                else:
                    future.set_result(result)
            del future, function, args, kwargs
