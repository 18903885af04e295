"""Storage operations on root:// URLs through ``XRootD.client.FileSystem``.

A native XRootD server computes a checksum it has not stored (a file just written) as a job, and
holds at most three times ``xrootd.chksum max`` (4 by default) such jobs: beyond that it answers
``kXR_wait`` with 30 seconds, and the client sleeps them. Its job table also loses slots under
concurrent checksums (``XrdOucTable::Remove`` lowers its high-water mark one slot too far when
the highest entry goes, in 5.5 and still upstream: the job below drops out of sight, and if it
ends before another job arrives it is never removed), so a busy server runs out of slots well
before that, and a server whose slots are all lost answers every such query with a wait until it
is restarted. The checksum of a file just written is therefore asked with a timeout under those
30 seconds, which turns the wait into an immediate expiry, asked again after a short backoff,
and given up after a minute with an error that says why. Fewer queries at once (the mover's
``checksum_queries``) lose fewer slots.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Optional, Sequence

import tenacity
from XRootD import client
from XRootD.client.flags import DirListFlags, QueryCode, StatInfoFlags

from pilot_movers.checksums import Checksum
from pilot_movers.engine.contract import FileStat
from pilot_movers.errors import ChecksumUnavailable, ServiceUnavailable
from pilot_movers.values import Location
from pilot_movers.xrootd.errors import ERR_ERROR_RESPONSE, ERR_OPERATION_EXPIRED, KXR_NOT_FOUND, from_status

#: Seconds a quick checksum query may take: under the 30 s a busy server asks clients to wait,
#: so that the client gives up at once instead of sleeping them.
QUICK_QUERY_SECONDS = 25
#: The largest file asked quickly: one the server checksums well within QUICK_QUERY_SECONDS even
#: from a slow disk (a re-asked query would join the running job, but the answer goes to the
#: request that expired).
QUICK_QUERY_MAX_BYTES = 1024**3
#: How long quick queries are asked again (exponential backoff from 50 ms to 2 s, jittered)
#: before the file's attempt fails (a transient error: the engine tries the file again).
QUICK_QUERY_PATIENCE = 60.0


class _ServerBusy(Exception):
    """The server had no room for the checksum job (the query expired on ``kXR_wait``)."""


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
        #: Quick checksum queries that met a server with no room for the job (observability, tests).
        self.busy_answers = 0

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

    def stat_many(self, locations: Sequence[Location]) -> list[Optional[FileStat]]:
        """One listing (``dirlist`` with stat information) per directory holding two or more of
        ``locations``, instead of a stat per file; a lone file is stat'ed. A directory that is
        not there holds none of them."""
        by_directory: dict[Location, list[Location]] = {}
        for location in locations:
            by_directory.setdefault(location.parent, []).append(location)
        known: dict[Location, Optional[FileStat]] = {}
        for directory, members in by_directory.items():
            if len(members) == 1:
                known[members[0]] = self.stat(members[0])
                continue
            status, listing = self._system(directory).dirlist(directory.path, DirListFlags.STAT, timeout=self.timeout)
            if not status.ok and not _not_found(status):
                raise from_status(status, what=f"listing {directory.url}")
            entries = {entry.name: entry.statinfo for entry in (listing if status.ok else ())}
            for location in members:
                if location.name not in entries:
                    known[location] = None
                elif (info := entries[location.name]) is None:  # listed, but the server could not stat it
                    known[location] = self.stat(location)
                else:
                    known[location] = FileStat(int(info.size), bool(info.flags & StatInfoFlags.IS_DIR))
        return [known[location] for location in locations]

    def list_dir(self, location: Location) -> dict[str, FileStat]:
        status, listing = self._system(location).dirlist(location.path, DirListFlags.STAT, timeout=self.timeout)
        if not status.ok:
            raise from_status(status, what=f"listing {location.url}")
        return {
            entry.name: FileStat(int(entry.statinfo.size), bool(entry.statinfo.flags & StatInfoFlags.IS_DIR))
            for entry in sorted(listing, key=lambda e: e.name)
        }

    def checksum(self, location: Location, algorithm: str) -> Checksum:
        status, answer = self._system(location).query(QueryCode.CHECKSUM, location.path, timeout=self.timeout)
        return self._answer(location, algorithm, status, answer)

    @staticmethod
    def _answer(location: Location, algorithm: str, status: Any, answer: Any) -> Checksum:
        if not status.ok:
            raise from_status(status, what=f"{algorithm} of {location.url}")
        name, _, value = answer.decode("ascii", "replace").strip("\x00 \n").partition(" ")
        if name.lower() != algorithm:
            raise ChecksumUnavailable(f"{location.server} answers {name or 'nothing'} checksums, not {algorithm}")
        return Checksum(algorithm, value)

    def checksum_of_new(self, location: Location, algorithm: str, size: int) -> Checksum:
        """The checksum of a file whose checksum the server may have to compute (one just written,
        or a source it never checksummed): asked quickly and again while the server has no room
        for the job (see the module's notes)."""
        if size > QUICK_QUERY_MAX_BYTES:
            return self.checksum(location, algorithm)
        system = self._system(location)

        def ask() -> Checksum:
            status, answer = system.query(QueryCode.CHECKSUM, location.path, timeout=QUICK_QUERY_SECONDS)
            if not status.ok and int(status.code) == ERR_OPERATION_EXPIRED:
                with self._lock:
                    self.busy_answers += 1
                raise _ServerBusy(str(status.message))
            return self._answer(location, algorithm, status, answer)

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_ServerBusy),
            wait=tenacity.wait_exponential(multiplier=0.05, max=2) + tenacity.wait_random(0, 0.05),
            stop=tenacity.stop_after_delay(QUICK_QUERY_PATIENCE),
            reraise=True,
        )
        try:
            return retrying(ask)
        except _ServerBusy as busy:
            raise ServiceUnavailable(
                f"{algorithm} of {location.url}: the server had no room for the checksum job for "
                f"{QUICK_QUERY_PATIENCE:g} s ({busy}); a native XRootD server whose job table has "
                "lost its slots (see pilot_movers.xrootd.namespace) stays so until it is restarted"
            ) from busy

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
