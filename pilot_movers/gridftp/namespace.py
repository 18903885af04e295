"""Storage operations on gfal2 URLs (stat, checksum, rename, remove)."""

from __future__ import annotations

import errno
import stat as stat_module
from typing import Any, Callable, Optional

import gfal2

from pilot_movers.checksums import Checksum
from pilot_movers.engine.contract import FileStat
from pilot_movers.errors import MoverError
from pilot_movers.gridftp.errors import from_gerror
from pilot_movers.values import Location


class Gfal2Namespace:
    """``context`` returns the calling thread's gfal2 context (contexts are not shared across
    threads); ``on_broken_session`` is called after a failure a retry may cure, so the retry
    does not reuse a dead session."""

    def __init__(self, context: Callable[[], Any], on_broken_session: Callable[[], None] = lambda: None) -> None:
        self._context = context
        self._on_broken = on_broken_session

    def _error(self, exc: Any, what: str) -> MoverError:
        error = from_gerror(exc, what=what)
        if error.transient:
            self._on_broken()
        return error

    def stat(self, location: Location) -> Optional[FileStat]:
        try:
            found = self._context().stat(location.url)
        except gfal2.GError as exc:
            if exc.code == errno.ENOENT:
                return None
            raise self._error(exc, f"stat {location.url}") from exc
        return FileStat(int(found.st_size), stat_module.S_ISDIR(found.st_mode))

    def checksum(self, location: Location, algorithm: str) -> Checksum:
        try:
            value = self._context().checksum(location.url, algorithm.upper())
        except gfal2.GError as exc:
            raise self._error(exc, f"{algorithm} of {location.url}") from exc
        return Checksum(algorithm, value)

    def rename(self, source: Location, target: Location, *, overwrite: bool) -> None:
        """GridFTP's RNTO replaces an existing file (no atomic no-clobber rename): the engine
        looks first when it must not."""
        try:
            self._context().rename(source.url, target.url)
        except gfal2.GError as exc:
            raise self._error(exc, f"rename to {target.url}") from exc

    def remove(self, location: Location) -> None:
        try:
            self._context().unlink(location.url)
        except gfal2.GError as exc:
            if exc.code != errno.ENOENT:
                raise self._error(exc, f"remove {location.url}") from exc
