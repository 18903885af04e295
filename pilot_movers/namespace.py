"""Storage operations on one side of a transfer: what the engine needs to verify and place files."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Protocol

from pilot_movers.checksums import Checksum
from pilot_movers.values import Location


@dataclass(frozen=True)
class FileStat:
    size: int
    is_dir: bool = False


class Namespace(Protocol):
    """Implemented for local files by ``pilot_movers.local.namespace`` and by each remote mover."""

    def stat(self, location: Location) -> Optional[FileStat]:
        """Size of the file, or None when nothing is there. Raises MoverError on other failures."""

    def checksum(self, location: Location, algorithm: str) -> Checksum:
        """Checksum of the file as stored (computed by the server for remote files)."""

    def rename(self, source: Location, target: Location, *, overwrite: bool) -> None:
        """Move ``source`` to ``target`` in one step; with ``overwrite`` False, fail with
        DestinationExists rather than replace a file."""

    def remove(self, location: Location) -> None:
        """Delete a file; a missing file is not an error."""
