"""Storage operations on ``datahost://`` locations, through the DataHost protocol: HEAD on
``/datahost/receive/``, the listing, ``/datahost/rename/`` (atomic, and never replacing a file
unless asked), ``/datahost/delete/``."""

from __future__ import annotations

from collections import defaultdict
from contextlib import contextmanager
from typing import Callable, Iterator, Optional, Sequence

from pilot_movers.checksums import Checksum, normalise_algorithm
from pilot_movers.engine.contract import FileStat
from pilot_movers.errors import ChecksumUnavailable, MoverError, SourceNotFound, TransferFailed
from pilot_movers.https_datahost.client import DataHostClient
from pilot_movers.https_datahost.datahost_locations import SCHEME, DataHostFile, datahost_file, datahost_user_dir
from pilot_movers.https_datahost.results import RemoteFile
from pilot_movers.values import Location

#: The client for a file's DataHost, once the job's credential is known to be that file's user.
Connect = Callable[[DataHostFile], DataHostClient]


@contextmanager
def speaking_of(file: DataHostFile) -> Iterator[None]:
    """Errors name the DataHost as the job does (``datahost://host:port``) and leave the file to
    the engine (the client names the name on the server, a temporary one for uploads)."""
    try:
        yield
    except MoverError as exc:
        raise exc.replace(endpoint=f"{SCHEME}://{file.address}", file=None) from None


class DataHostNamespace:
    def __init__(self, connect: Connect) -> None:
        self.connect = connect

    def stat(self, location: Location) -> Optional[FileStat]:
        if len([part for part in location.path.split("/") if part]) <= 1:  # the user's directory
            directory = datahost_user_dir(location)
            with speaking_of(directory):
                self.connect(directory).listing()  # there, and ours: else the error says why
            return FileStat(0, is_dir=True)
        file = datahost_file(location)
        try:
            with speaking_of(file):
                found = self.connect(file).stat(file.name)
        except SourceNotFound:
            return None
        return FileStat(found.size)

    def stat_many(self, locations: Sequence[Location]) -> list[Optional[FileStat]]:
        """One listing per DataHost and user for all of them."""
        files = [datahost_file(location) for location in locations]
        by_server: dict[tuple[str, str], list[DataHostFile]] = defaultdict(list)
        for file in files:
            by_server[(file.address, file.user)].append(file)
        sizes: dict[DataHostFile, Optional[FileStat]] = {}
        for members in by_server.values():
            with speaking_of(members[0]):
                listed = {remote.name: remote.size for remote in self.connect(members[0]).ls()}
            for file in members:
                size = listed.get(file.name)
                sizes[file] = None if size is None else FileStat(size)
        return [sizes[file] for file in files]

    def list_dir(self, location: Location) -> dict[str, FileStat]:
        """The user's flat directory (``datahost://HOST/USER/``): one listing."""
        directory = datahost_user_dir(location)
        with speaking_of(directory):
            return {remote.name: FileStat(remote.size) for remote in sorted(self.connect(directory).ls(), key=_name)}

    def checksum(self, location: Location, algorithm: str) -> Checksum:
        """The adler32 the DataHost recorded when the file was stored (and still valid: same
        size and modification time); ChecksumUnavailable otherwise, and for md5."""
        file = datahost_file(location)
        if normalise_algorithm(algorithm) != "adler32":
            raise ChecksumUnavailable(f"a DataHost records adler32 checksums only, not {algorithm}")
        with speaking_of(file):
            found = self.connect(file).stat(file.name)
        if found.adler32 is None:
            raise ChecksumUnavailable(f"the DataHost has no valid adler32 recorded for {location.url}")
        return Checksum("adler32", found.adler32)

    def rename(self, source: Location, target: Location, *, overwrite: bool) -> None:
        old, new = datahost_file(source), datahost_file(target)
        if (old.address, old.user) != (new.address, new.user):
            raise TransferFailed(f"cannot rename {source.url} to {target.url}: another DataHost or user")
        with speaking_of(old):
            self.connect(old).rename(old.name, new.name, overwrite=overwrite)

    def remove(self, location: Location) -> None:
        file = datahost_file(location)
        try:
            with speaking_of(file):
                self.connect(file).rm(file.name)
        except SourceNotFound:
            pass


def _name(remote: RemoteFile) -> str:
    return remote.name
