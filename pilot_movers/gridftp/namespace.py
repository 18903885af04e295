"""Storage operations on gfal2 URLs (stat, checksum, rename, remove), on the mover's warm contexts."""

from __future__ import annotations

import errno
import os
import secrets
import stat as stat_module
from typing import Any, Callable, Optional, TypeVar

import gfal2

from pilot_movers.checksums import Checksum
from pilot_movers.engine.contract import FileStat
from pilot_movers.errors import MoverError, NoSpace
from pilot_movers.gridftp.contexts import ContextPool
from pilot_movers.gridftp.errors import from_gerror
from pilot_movers.values import Location

T = TypeVar("T")


class Gfal2Namespace:
    """Each operation borrows a context from ``pool`` (warm: its GridFTP session is reused); one
    whose session broke on a failure a retry may cure is discarded, so the retry gets a new one."""

    def __init__(self, pool: ContextPool) -> None:
        self._pool = pool

    def _call(self, what: str, operation: Callable[[Any], T], *, missing_ok: bool = False) -> Optional[T]:
        with self._pool.borrow() as lease:
            try:
                return operation(lease.context)
            except gfal2.GError as exc:
                if missing_ok and exc.code == errno.ENOENT:
                    return None
                error: MoverError = from_gerror(exc, what=what)
                if error.transient:
                    lease.discard()
                raise error from exc

    def stat(self, location: Location) -> Optional[FileStat]:
        found = self._call(f"stat {location.url}", lambda c: c.stat(location.url), missing_ok=True)
        if found is None:
            return None
        return FileStat(int(found.st_size), stat_module.S_ISDIR(found.st_mode))

    def list_dir(self, location: Location) -> dict[str, FileStat]:
        """One directory read (GridFTP's MLSD), each entry with its stat."""

        def read(context: Any) -> dict[str, FileStat]:
            directory = context.opendir(location.url)
            found: dict[str, FileStat] = {}
            while True:
                entry, info = directory.readpp()
                if entry is None:
                    return found
                if entry.d_name not in (".", ".."):
                    found[entry.d_name] = FileStat(int(info.st_size), stat_module.S_ISDIR(info.st_mode))

        listed = self._call(f"listing {location.url}", read)
        assert listed is not None
        return dict(sorted(listed.items()))

    def checksum(self, location: Location, algorithm: str) -> Checksum:
        value = self._call(f"{algorithm} of {location.url}", lambda c: c.checksum(location.url, algorithm.upper()))
        assert value is not None
        return Checksum(algorithm, value)

    def rename(self, source: Location, target: Location, *, overwrite: bool) -> None:
        """GridFTP's RNTO replaces an existing file (no atomic no-clobber rename): the engine
        looks first when it must not."""
        self._call(f"rename to {target.url}", lambda c: c.rename(source.url, target.url))

    def remove(self, location: Location) -> None:
        self._call(f"remove {location.url}", lambda c: c.unlink(location.url), missing_ok=True)

    def refuses_space(self, directory: Location, timeout: int, scratch: str) -> Optional[NoSpace]:
        """Whether the server refuses even one byte in ``directory`` for want of space. A GridFTP
        server whose disk filled mid-upload resets the data channel before its control reply
        ("No space left on device") reaches gfal2; a 1-byte upload gets that reply every time.
        The byte is read from a file in ``scratch`` (the upload's own directory), named as the
        library's own: a job killed meanwhile leaves it to the next one's sweep."""
        name = f".pilot-movers-space-{secrets.token_hex(4)}.part"
        probe = directory.join(name)
        local = os.path.join(scratch, name)
        try:
            descriptor = os.open(local, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except OSError:  # nowhere to put the byte: no answer either way
            return None
        try:
            os.write(descriptor, b"\0")
            os.close(descriptor)

            def upload(context: Any) -> None:
                params = context.transfer_parameters()
                params.timeout = timeout
                params.overwrite = True
                context.filecopy(params, f"file://{local}", probe.url)

            try:
                self._call(f"a 1-byte upload to {directory.url}", upload)
            except NoSpace as refused:
                return refused
            except MoverError:
                return None
            return None
        finally:
            os.unlink(local)
            try:
                self.remove(probe)
            except MoverError:
                pass
