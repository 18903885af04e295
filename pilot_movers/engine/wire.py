"""What this process's TCP connections to a server have moved, from the kernel (Linux TCP_INFO).

Some transports report progress coarsely: the XRootD client counts a download's bytes per chunk
(8 MiB: four seconds apart on a 2 MB/s link) and an upload's when it queues them, so a healthy
upload's last chunks drain for seconds with no progress reported at all. The kernel knows better:
``tcpi_bytes_received`` and ``tcpi_bytes_acked`` of each socket grow while the server sends or
takes bytes, and stop when it freezes (once its receive buffer is full). ``liveness`` turns that
into a probe a clock can poll: a sign of life whenever the connections to the server moved.
"""

from __future__ import annotations

import logging
import os
import socket
import struct
import threading
import time
from typing import Callable, Iterable, Optional
from urllib.parse import urlsplit

from pilot_movers.values import Location

log = logging.getLogger(__name__)

#: Offsets in ``struct tcp_info`` (linux/tcp.h, stable since Linux 4.1): u64 bytes_acked and
#: bytes_received.
_ACKED, _RECEIVED = 120, 128
_INFO_SIZE = 136
#: Snapshots younger than this are reused (several clocks poll the same server in one tick).
_FRESH = 0.1


Server = tuple[str, Optional[int]]
"""A server as the wire sees it: host, and port (None: any port of the host)."""


def _addresses(host: str, port: Optional[int]) -> frozenset[Server]:
    try:
        infos = socket.getaddrinfo(host, port or 0, type=socket.SOCK_STREAM)
    except OSError:
        return frozenset()
    return frozenset((str(info[4][0]), port) for info in infos)


def server_of(location: Location) -> Server:
    """The host and port (when the URL names one) of a location's server."""
    parts = urlsplit(f"//{location.netloc}")
    try:
        port = parts.port
    except ValueError:
        port = None
    return parts.hostname or "localhost", port


def moved_to(peers: frozenset[Server]) -> Optional[int]:
    """Bytes received from plus bytes acknowledged by ``peers`` (address, port or None for any)
    over every TCP connection this process has open to them; None when it has none (or the
    kernel says nothing)."""
    total = 0
    found = False
    try:
        descriptors = os.listdir("/proc/self/fd")
    except OSError:
        return None
    for name in descriptors:
        try:
            if not os.readlink(f"/proc/self/fd/{name}").startswith("socket:"):
                continue
            duplicate = os.dup(int(name))
        except (OSError, ValueError):
            continue
        try:
            with socket.socket(fileno=duplicate) as sock:
                if sock.type != socket.SOCK_STREAM or sock.family not in (socket.AF_INET, socket.AF_INET6):
                    continue
                peer = sock.getpeername()
                address = str(peer[0])
                if (address, int(peer[1])) not in peers and (address, None) not in peers:
                    continue
                info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _INFO_SIZE)
        except OSError:
            continue
        if len(info) >= _RECEIVED + 8:
            acked, received = struct.unpack_from("=QQ", info, _ACKED)
            total += acked + received
            found = True
    return total if found else None


class Wire:
    """Cached readings of ``moved_to`` per server (``host``, ``port``), shared by the probes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._peers: dict[Server, frozenset[Server]] = {}
        self._readings: dict[Server, tuple[float, Optional[int]]] = {}

    def resolve(self, server: Server) -> None:
        """Look the host up now (on a worker's thread, not the watchdog's)."""
        if server not in self._peers:
            peers = _addresses(*server)
            with self._lock:
                self._peers[server] = peers

    def moved(self, server: Server) -> Optional[int]:
        key = server
        now = time.monotonic()
        with self._lock:
            reading = self._readings.get(key)
            peers = self._peers.get(key)
        if reading is not None and now - reading[0] < _FRESH:
            return reading[1]
        if peers is None:
            return None
        value = moved_to(peers)
        with self._lock:
            self._readings[key] = (now, value)
        return value

    def liveness(self, locations: Iterable[Location]) -> Callable[[], bool]:
        """A probe (``TransferClock.signs_of_life``): True when this process's connections to
        the servers of ``locations`` (their remote ones) moved bytes since it was last polled."""
        servers = sorted({server_of(loc) for loc in locations if not loc.is_local}, key=str)
        for server in servers:
            self.resolve(server)
        last: dict[Server, Optional[int]] = {server: None for server in servers}  # read when first polled

        def probe() -> bool:
            alive = False
            for server in servers:
                now = self.moved(server)
                before = last[server]
                alive = alive or (now is not None and before is not None and now > before)
                if now is not None:
                    last[server] = now
            return alive

        return probe


#: The process's one cache.
WIRE = Wire()
