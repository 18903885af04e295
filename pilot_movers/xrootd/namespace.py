"""Storage operations on root:// URLs through ``XRootD.client.FileSystem``."""

from __future__ import annotations

import threading
from typing import Any, Callable, Optional

from XRootD import client
from XRootD.client.flags import QueryCode, StatInfoFlags

from pilot_movers.checksums import Checksum
from pilot_movers.engine.contract import FileStat
from pilot_movers.errors import ChecksumUnavailable
from pilot_movers.values import Location
from pilot_movers.xrootd.errors import ERR_ERROR_RESPONSE, KXR_NOT_FOUND, from_status


class XRootDNamespace:
    """``server_url`` renders a location's server (``root://[user@]host:port``), ``query`` the
    URL parameters naming the credential; one ``FileSystem`` per server is kept (the XRootD
    client is thread safe)."""

    def __init__(
        self, server_url: Callable[[Location], str], query: Callable[[], str] = str, timeout: int = 60
    ) -> None:
        self._server_url = server_url
        self._query = query
        self.timeout = timeout
        self._systems: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _system(self, location: Location) -> Any:
        server = self._server_url(location)
        with self._lock:
            system = self._systems.get(server)
            if system is None:
                system = self._systems[server] = client.FileSystem(f"{server}/{self._query()}")
        return system

    def stat(self, location: Location) -> Optional[FileStat]:
        status, info = self._system(location).stat(location.path, timeout=self.timeout)
        if not status.ok:
            if _not_found(status):
                return None
            raise from_status(status, what=f"stat {location.url}")
        return FileStat(int(info.size), bool(info.flags & StatInfoFlags.IS_DIR))

    def checksum(self, location: Location, algorithm: str) -> Checksum:
        status, answer = self._system(location).query(QueryCode.CHECKSUM, location.path, timeout=self.timeout)
        if not status.ok:
            raise from_status(status, what=f"{algorithm} of {location.url}")
        name, _, value = answer.decode("ascii", "replace").strip("\x00 \n").partition(" ")
        if name.lower() != algorithm:
            raise ChecksumUnavailable(f"{location.server} answers {name or 'nothing'} checksums, not {algorithm}")
        return Checksum(algorithm, value)

    def rename(self, source: Location, target: Location, *, overwrite: bool) -> None:
        """XRootD's mv replaces an existing file (no atomic no-clobber rename): the engine looks
        first when it must not."""
        status, _ = self._system(source).mv(source.path, target.path, timeout=self.timeout)
        if not status.ok:
            raise from_status(status, what=f"rename to {target.url}")

    def remove(self, location: Location) -> None:
        status, _ = self._system(location).rm(location.path, timeout=self.timeout)
        if not status.ok and not _not_found(status):
            raise from_status(status, what=f"remove {location.url}")


def _not_found(status: Any) -> bool:
    return int(status.code) == ERR_ERROR_RESPONSE and int(status.errno) == KXR_NOT_FOUND
