"""Storage operations on ``https://`` and ``davs://`` locations: PROPFIND, HEAD with
Want-Digest, MOVE, DELETE.

Renames never replace a file unless asked to: MOVE carries ``Overwrite: F``, which a server that
follows RFC 4918 refuses atomically (412). XrdHttp (XRootD's https, 5.5 tested) ignores the
header and replaces the file, so on a server that says it is XRootD the namespace looks first, as
the engine does for transports without an atomic rename (``no_clobber`` overrides the choice).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Optional, Sequence

from pilot_movers.checksums import Checksum, normalise_algorithm
from pilot_movers.engine.contract import FileStat
from pilot_movers.errors import ChecksumUnavailable, DestinationExists, MoverError
from pilot_movers.https_datahost.http_errors import http_status
from pilot_movers.https_datahost.propfind import normal_path
from pilot_movers.https_datahost.webdav import WebDAVSession
from pilot_movers.values import Location

#: ``Server`` header prefixes of servers known to ignore ``Overwrite: F`` on MOVE.
IGNORES_OVERWRITE = ("xrootd/",)


class WebDAVNamespace:
    """``no_clobber``: ``auto`` (trust ``Overwrite: F`` except on servers known to ignore it),
    ``server`` (always trust it), ``look-first`` (never trust it)."""

    def __init__(self, session: WebDAVSession, no_clobber: str = "auto") -> None:
        self.session = session
        self.no_clobber = no_clobber

    def stat(self, location: Location) -> Optional[FileStat]:
        return self.session.stat(location)

    def stat_many(self, locations: Sequence[Location]) -> list[Optional[FileStat]]:
        """One PROPFIND (depth 1) per directory instead of one per file."""
        by_directory: dict[Location, list[Location]] = defaultdict(list)
        for location in locations:
            by_directory[location.parent].append(location)
        known: dict[Location, Optional[FileStat]] = {}
        for directory, members in by_directory.items():
            try:
                listing = self.session.propfind(directory, depth=1)
            except MoverError as exc:
                if http_status(exc) != 404:
                    raise
                listing = {}  # no directory: none of its files is there
            for location in members:
                known[location] = listing.get(normal_path(location.path))
        return [known[location] for location in locations]

    def list_dir(self, location: Location) -> dict[str, FileStat]:
        """One PROPFIND (depth 1); the directory's own entry left out."""
        own = normal_path(location.path)
        found = self.session.propfind(location, depth=1)
        return {
            path.rsplit("/", 1)[-1]: entry
            for path, entry in sorted(found.items())
            if path != own and entry is not None and path.startswith(own.rstrip("/") + "/")
        }

    def checksum(self, location: Location, algorithm: str) -> Checksum:
        """The server's checksum of the file (Want-Digest); ChecksumUnavailable when it does not
        compute that algorithm."""
        algorithm = normalise_algorithm(algorithm)
        found = self.session.digests(location, [algorithm]).get(algorithm)
        if found is None:
            raise ChecksumUnavailable(
                f"{location.server} does not answer Want-Digest: {algorithm} for {location.url}",
                endpoint=location.server,
            )
        return found

    def rename(self, source: Location, target: Location, *, overwrite: bool) -> None:
        if not overwrite and self._look_first(target) and self.session.stat(target) is not None:
            raise DestinationExists(f"{target.url} already exists", endpoint=target.server)
        self.session.move(source, target, overwrite=overwrite)

    def remove(self, location: Location) -> None:
        self.session.delete(location)

    def _look_first(self, location: Location) -> bool:
        if self.no_clobber == "server":
            return False
        if self.no_clobber == "look-first":
            return True
        software = self.session.server_software(location).lower()
        return not software or software.startswith(IGNORES_OVERWRITE)
