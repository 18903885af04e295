"""Worker threads a stuck call cannot keep the process alive with.

``concurrent.futures.ThreadPoolExecutor`` joins its threads when the interpreter exits, so one
thread blocked in C on a frozen server (gfal2 in an unlink, a socket read with no timeout)
keeps a finished pilot from exiting. ``DaemonPool`` has the same ``submit``/``map``/``shutdown``
face on daemon threads: work the job gave up on is left behind, never waited for.
"""

from __future__ import annotations

import itertools
import queue
import threading
from concurrent.futures import Future
from typing import Any, Callable, Iterable, Iterator, Optional, TypeVar

T = TypeVar("T")
R = TypeVar("R")

_STOP = object()


class DaemonPool:
    """At most ``max_workers`` daemon threads running submitted calls in order of submission.

    ``max_workers=None``: one more thread whenever none is idle (for calls that may never
    return, each waited for under a deadline by its caller)."""

    def __init__(self, max_workers: Optional[int] = None, *, name: str = "pilot-movers-worker") -> None:
        self._max = max_workers
        self._name = name
        self._work: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._waiting = 0  # workers blocked waiting for work
        self._shut = False
        self._numbers = itertools.count(1)

    def submit(self, function: Callable[..., R], *args: Any, **kwargs: Any) -> Future[R]:
        future: Future[R] = Future()
        with self._lock:
            if self._shut:
                raise RuntimeError("cannot submit to a pool that was shut down")
            self._work.put((future, function, args, kwargs))
            short = self._work.qsize() > self._waiting  # more work queued than workers waiting for it
            if short and (self._max is None or len(self._threads) < self._max):
                thread = threading.Thread(target=self._run, name=f"{self._name}-{next(self._numbers)}", daemon=True)
                self._threads.append(thread)
                self._waiting += 1  # it will take work as soon as it runs
                thread.start()
        return future

    def map(self, function: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        futures = [self.submit(function, item) for item in items]
        return (future.result() for future in futures)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """No more work; with ``wait``, join the threads (use only when no call can hang)."""
        with self._lock:
            self._shut = True
            threads = list(self._threads)
        if cancel_futures:
            while True:
                try:
                    item = self._work.get_nowait()
                except queue.Empty:
                    break
                if item is not _STOP:
                    item[0].cancel()
        for _ in threads:
            self._work.put(_STOP)
        if wait:
            for thread in threads:
                if thread is not threading.current_thread():
                    thread.join()

    def _run(self) -> None:
        while True:
            item = self._work.get()
            with self._lock:
                self._waiting -= 1
            if item is _STOP:
                return
            future, function, args, kwargs = item
            if future.set_running_or_notify_cancel():
                try:
                    result = function(*args, **kwargs)
                except BaseException as exc:  # noqa: BLE001 - handed to whoever waits
                    future.set_exception(exc)
                else:
                    future.set_result(result)
            del item, future, function, args, kwargs
            with self._lock:
                self._waiting += 1
