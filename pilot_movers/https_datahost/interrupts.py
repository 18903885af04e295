"""Breaking a request another thread is blocked in: how a cancelled transfer stops at once.

A thread streaming a file checks its clock between blocks, but a thread blocked in the kernel
(a server that stopped sending, a send buffer that does not drain) sees nothing until its socket
timeout. So each transfer runs in a ``scope``: every connection the thread sends a request on
during the scope is noted, and cancelling the transfer's clock shuts those sockets down
(``shutdown(SHUT_RDWR)``, which wakes a blocked ``recv``/``send`` at once, from any thread, even
a signal handler). A connection that has since gone back to the pool and been taken by another
thread's transfer is left alone.
"""

from __future__ import annotations

import socket
import threading
from contextlib import contextmanager
from typing import Any, Iterator, Optional, Protocol


class Cancellable(Protocol):
    """What a scope hangs its interrupt on (a ``TransferClock``)."""

    def on_cancel(self, callback: Any) -> None: ...


class _Scope:
    """The connections one transfer used, and whether it was interrupted."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connections: list[Any] = []
        self.interrupted = False
        self.closed = False

    def add(self, connection: Any) -> None:
        with self._lock:
            if self.closed:
                return
            connection._pilot_movers_scope = self
            self._connections.append(connection)
            interrupted = self.interrupted
        if interrupted:  # a request started after the cancel: stop it too
            _break(connection)

    def interrupt(self) -> None:
        with self._lock:
            if self.closed:
                return
            self.interrupted = True
            mine = [c for c in self._connections if getattr(c, "_pilot_movers_scope", None) is self]
        for connection in mine:
            _break(connection)

    def close(self) -> None:
        with self._lock:
            self.closed = True
            self._connections.clear()


def _break(connection: Any) -> None:
    sock = getattr(connection, "sock", None)
    if sock is None:
        return
    try:
        # The plain socket's shutdown: SSLSocket.shutdown would also drop the TLS state another
        # thread may be using at this moment.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:  # already closed
        pass


class Interruptible:
    """The scopes of one requests session's transfers (``make_adapter(interruptible=...)``)."""

    def __init__(self) -> None:
        self._local = threading.local()

    @contextmanager
    def scope(self, clock: Optional[Cancellable]) -> Iterator[None]:
        """Requests this thread sends inside the block are broken off when ``clock`` is cancelled."""
        scope = _Scope()
        previous = getattr(self._local, "scope", None)
        self._local.scope = scope
        if clock is not None:
            clock.on_cancel(scope.interrupt)
        try:
            yield
        finally:
            scope.close()
            self._local.scope = previous

    def claim(self, connection: Any) -> None:
        """A connection is about to send a request on this thread."""
        scope = getattr(self._local, "scope", None)
        if scope is not None:
            scope.add(connection)


def tracked_pool_classes(interruptible: Interruptible) -> dict[str, Any]:
    """urllib3 pool classes (by scheme) whose connections report to ``interruptible`` before
    each request they send."""
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    class _HTTPConnection(HTTPConnection):
        def request(self, *args: Any, **kwargs: Any) -> Any:
            interruptible.claim(self)
            return super().request(*args, **kwargs)

    class _HTTPSConnection(HTTPSConnection):
        def request(self, *args: Any, **kwargs: Any) -> Any:
            interruptible.claim(self)
            return super().request(*args, **kwargs)

    class _HTTPPool(HTTPConnectionPool):
        ConnectionCls = _HTTPConnection

    class _HTTPSPool(HTTPSConnectionPool):
        ConnectionCls = _HTTPSConnection

    return {"http": _HTTPPool, "https": _HTTPSPool}
