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
from typing import Callable, Optional

log = logging.getLogger(__name__)

#: Offsets in ``struct tcp_info`` (linux/tcp.h, stable since Linux 4.1): u64 bytes_acked and
#: bytes_received.
_ACKED, _RECEIVED = 120, 128
_INFO_SIZE = 136
#: Snapshots younger than this are reused (several clocks poll the same server in one tick).
_FRESH = 0.1


def _addresses(host: str, port: int) -> frozenset[tuple[str, int]]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return frozenset()
    return frozenset((str(info[4][0]), int(info[4][1])) for info in infos)


def moved_to(peers: frozenset[tuple[str, int]]) -> Optional[int]:
    """Bytes received from plus bytes acknowledged by ``peers`` (address, port) over every TCP
    connection this process has open to them; None when it has none (or the kernel says
    nothing)."""
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
                if (str(peer[0]), int(peer[1])) not in peers:
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
        self._peers: dict[tuple[str, int], frozenset[tuple[str, int]]] = {}
        self._readings: dict[tuple[str, int], tuple[float, Optional[int]]] = {}

    def resolve(self, host: str, port: int) -> None:
        """Look ``host`` up now (on the transport's thread, not the watchdog's)."""
        key = (host, port)
        if key not in self._peers:
            peers = _addresses(host, port)
            with self._lock:
                self._peers[key] = peers

    def moved(self, host: str, port: int) -> Optional[int]:
        key = (host, port)
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

    def liveness(self, host: str, port: int) -> Callable[[], bool]:
        """A probe (``TransferClock.signs_of_life``): True when this process's connections to
        the server moved bytes since it was last polled."""
        self.resolve(host, port)
        last: list[Optional[int]] = [self.moved(host, port)]

        def probe() -> bool:
            now = self.moved(host, port)
            moved = now is not None and last[0] is not None and now > last[0]
            if now is not None:
                last[0] = now
            return moved

        return probe


#: The process's one cache.
WIRE = Wire()
