"""A pool of gfal2 contexts kept warm for the mover's (the job's) lifetime.

A gfal2 context caches its GridFTP sessions: a warm one copies a small file in about 2 ms, a new
one first opens a GSI control connection (about 0.25 s). Contexts are not shared between threads
at once, so each call borrows one. A context whose session broke (a server restart) is discarded
rather than returned, since gfal2 would keep reusing the dead session; and so is every other
context made before it broke, in its pool and in the pools linked to it (the mover's copy and
lookup pools): their sessions went down with the same server.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any, Callable, Optional


class Lease:
    """One borrowed context: returned to its pool on leaving the ``with`` block, or thrown away
    after ``discard()``."""

    def __init__(self, pool: ContextPool, context: Any, generation: int) -> None:
        self.pool = pool
        self.context = context
        self.generation = generation
        self._discarded = False

    def discard(self) -> None:
        """The context's session is broken: do not give it, nor any context made before it
        broke, to anyone else."""
        self._discarded = True

    def __enter__(self) -> Lease:
        return self

    def __exit__(
        self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        self.pool._give_back(self, discard=self._discarded)


class ContextPool:
    """At most ``size`` contexts, made by ``make`` on first need and kept until ``close``."""

    def __init__(self, make: Callable[[], Any], size: int) -> None:
        self._make = make
        self._size = max(1, size)
        self._idle: list[tuple[Any, int]] = []
        self._made = 0
        self._generation = 0
        self._condition = threading.Condition()
        self._closed = False
        self._linked: list[ContextPool] = []
        #: Contexts made over the pool's life (a warm pool makes few).
        self.contexts_made = 0

    def link(self, other: ContextPool) -> None:
        """A broken session seen in either pool retires the other's contexts too (both talk to
        the same servers)."""
        self._linked.append(other)
        other._linked.append(self)

    def borrow(self) -> Lease:
        with self._condition:
            while not self._idle and self._made >= self._size:
                self._condition.wait()
            if self._idle:
                context, generation = self._idle.pop()
                return Lease(self, context, generation)
            self._made += 1
            self.contexts_made += 1
            generation = self._generation
        try:
            return Lease(self, self._make(), generation)
        except BaseException:
            with self._condition:
                self._made -= 1
                self._condition.notify()
            raise

    def _give_back(self, lease: Lease, *, discard: bool) -> None:
        stale: list[Any] = []
        broke = False
        with self._condition:
            if discard and lease.generation == self._generation:
                broke = True
                stale = self._retire()  # every context made so far shares the broken server
            if discard or self._closed or lease.generation != self._generation:
                self._made -= 1
                stale.append(lease.context)
            else:
                self._idle.append((lease.context, lease.generation))
            self._condition.notify_all()
        for context in stale:
            _free(context)
        if broke:
            for other in self._linked:
                other.retire()

    def retire(self) -> None:
        """Every context made so far is stale: idle ones are freed now, borrowed ones when given back."""
        with self._condition:
            stale = self._retire()
            self._condition.notify_all()
        for context in stale:
            _free(context)

    def _retire(self) -> list[Any]:
        self._generation += 1
        stale = [context for context, _ in self._idle]
        self._idle = []
        self._made -= len(stale)
        return stale

    def close(self) -> None:
        """Free the idle contexts; borrowed ones are freed when given back."""
        with self._condition:
            self._closed = True
            idle, self._idle = self._idle, []
            self._made -= len(idle)
        for context, _ in idle:
            _free(context)


def _free(context: Any) -> None:
    try:
        context.free()
    except Exception:  # noqa: BLE001 - freeing must not raise
        pass
