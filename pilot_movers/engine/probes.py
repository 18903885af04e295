"""Progress probes for transports that report no progress (gfal2 copies between GridFTP and local
files): the bytes moved so far, read from the local end of the transfer."""

from __future__ import annotations

import os
from typing import Callable, Optional

Probe = Callable[[], Optional[int]]


def local_size(path: str) -> Probe:
    """Bytes written so far to a local file (a download's target)."""

    def probe() -> Optional[int]:
        try:
            return os.stat(path).st_size
        except OSError:
            return None

    return probe


def read_position(path: str) -> Probe:
    """Bytes read so far from a local file (an upload's source) by this process: the offset of
    the descriptor it has open on it, from ``/proc/self/fdinfo`` (Linux; None elsewhere)."""
    target = os.path.realpath(path)
    found: dict[str, Optional[str]] = {"fd": None}

    def points_at_target(fd: str) -> bool:
        try:
            return os.readlink(f"/proc/self/fd/{fd}") == target
        except OSError:
            return False

    def probe() -> Optional[int]:
        fd = found["fd"]
        if fd is None or not points_at_target(fd):
            try:
                fd = next((d for d in os.listdir("/proc/self/fd") if points_at_target(d)), None)
            except OSError:
                return None
            found["fd"] = fd
        if fd is None:
            return None
        try:
            with open(f"/proc/self/fdinfo/{fd}", encoding="ascii") as info:
                for line in info:
                    if line.startswith("pos:"):
                        return int(line.split()[1])
        except (OSError, ValueError):
            return None
        return None

    return probe
