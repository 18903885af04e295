"""Every remote operation under a deadline, and the servers that missed one.

A frozen server (a hung storage node: the connection open, nothing answered) makes every call a
client sends it block until the call's own timeout, if it has one: gfal2 stayed 288 s in an
unlink, an HTTPS request waits its 60 s read timeout. So the engine and the job never call a
server's namespace (stat, checksum, rename, remove, listing) directly: ``RemoteCalls.call`` runs
the operation on a daemon thread and waits at most its deadline. A server that missed one is
*silent*: later operations on it fail at once (SERVICENOTAVAILABLE, transient) until ``forgive``
(the start of a retry round) gives it one more chance. An operation that outlived its deadline is
left running on its thread; nobody waits for it.

``interrupt`` (the job is stopping) makes every wait in progress end at once with the job's
reason; operations asked for afterwards (the cleanup's) run normally.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Callable, Optional, Sequence, TypeVar

from pilot_movers.checksums import Checksum
from pilot_movers.engine.contract import FileStat, Namespace
from pilot_movers.engine.workers import DaemonPool
from pilot_movers.errors import MoverError, ServiceUnavailable
from pilot_movers.values import Location

log = logging.getLogger(__name__)
R = TypeVar("R")

#: The slowest rate at which a server is expected to checksum a file it holds: a checksum's
#: deadline is ``operation_timeout`` plus the file's size at this rate (a 10 GB file: +200 s).
CHECKSUM_BYTES_PER_SECOND = 50e6
#: How often a waiting thread looks whether the job is stopping.
_POLL = 0.05


class RemoteCalls:
    """Remote operations with a deadline each (``timeout`` seconds unless a call says otherwise),
    run on daemon threads; the memory of which servers went silent."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._pool = DaemonPool(None, name="pilot-movers-remote")
        self._silent: dict[str, str] = {}
        # (generation, reason): written in one assignment, so a signal handler may set it.
        self._interrupt: tuple[int, Optional[MoverError]] = (0, None)

    # -- the job's controls ----------------------------------------------------------------

    def interrupt(self, reason: MoverError) -> None:
        """End every wait in progress now with ``reason``. Takes no lock (signal handlers)."""
        self._interrupt = (self._interrupt[0] + 1, reason)

    def forgive(self) -> None:
        """Silent servers get one more chance (a retry round begins)."""
        self._silent.clear()

    def silence(self, server: str, why: str) -> None:
        """``server`` is not answering (a transfer from or to it stalled): fail its operations
        at once until ``forgive``."""
        if server and server not in self._silent:
            log.info("%s is not answering (%s): no operation waits for it before the next round", server, why)
            self._silent[server] = why

    def is_silent(self, server: str) -> bool:
        return server in self._silent

    # -- calls -----------------------------------------------------------------------------

    def call(
        self,
        server: str,
        what: str,
        function: Callable[..., R],
        *args: Any,
        timeout: Optional[float] = None,
    ) -> R:
        """``function(*args)`` with a deadline; ``what`` (``stat of URL``) and ``server`` name it
        in the error when the deadline passes or the server is silent."""
        why = self._silent.get(server)
        if why is not None:
            raise ServiceUnavailable(f"{server} is not answering ({why}): {what} not attempted", endpoint=server)
        limit = self.timeout if timeout is None else timeout
        generation = self._interrupt[0]
        future = self._pool.submit(function, *args)
        deadline = time.monotonic() + limit
        while True:
            try:
                return future.result(timeout=max(0.0, min(_POLL, deadline - time.monotonic())))
            except FutureTimeout:
                pass
            stamp, reason = self._interrupt
            if stamp != generation and reason is not None:
                raise reason
            if time.monotonic() >= deadline:
                message = f"{server} did not answer the {what} within {limit:g} s"
                self.silence(server, f"{what.split(' ', 1)[0]} unanswered for {limit:g} s")
                raise ServiceUnavailable(message, endpoint=server)

    def namespace(self, inner: Namespace, server: str) -> Namespace:
        """``inner`` (one server's namespace) with every operation under a deadline."""
        return BoundedNamespace(inner, self, server)


class BoundedNamespace:
    """A remote namespace whose every operation runs under ``RemoteCalls``' deadline."""

    def __init__(self, inner: Namespace, calls: RemoteCalls, server: str) -> None:
        self.inner = inner
        self.calls = calls
        self.server = server

    def stat(self, location: Location) -> Optional[FileStat]:
        return self.calls.call(self.server, f"stat of {location.url}", self.inner.stat, location)

    def checksum(self, location: Location, algorithm: str, size: Optional[int] = None) -> Checksum:
        timeout = self.calls.timeout + (size or 0) / CHECKSUM_BYTES_PER_SECOND
        return self.calls.call(
            self.server, f"{algorithm} of {location.url}", self.inner.checksum, location, algorithm, timeout=timeout
        )

    def rename(self, source: Location, target: Location, *, overwrite: bool) -> None:
        self.calls.call(
            self.server,
            f"rename of {source.url}",
            lambda: self.inner.rename(source, target, overwrite=overwrite),
        )

    def remove(self, location: Location) -> None:
        self.calls.call(self.server, f"removal of {location.url}", self.inner.remove, location)

    def stat_many(self, locations: Sequence[Location]) -> list[Optional[FileStat]]:
        """Only for an inner namespace that has it (``Capabilities.batched_stat``)."""
        stat_many = self.inner.stat_many  # type: ignore[attr-defined]
        return self.calls.call(self.server, f"listing of {len(locations)} file(s)", stat_many, locations)
