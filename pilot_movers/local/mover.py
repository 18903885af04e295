"""The local mover: files on a file system the worker node mounts (``in-mode=local``).

Modes (queue config ``[mover:local] mode = copy|move|symlink``):

* ``copy`` (default): stream the bytes, computing the checksum as they pass, keep the mode bits;
* ``move``: hard-link when source and destination share a file system (no bytes move), else
  copy; the source is removed only after the destination is in place and verified;
* ``symlink``: link to the source (pilot 3's default for stage-in from a shared file system).
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from typing import Literal

from pilot_movers.base import Mover
from pilot_movers.checksums import StreamingDigest
from pilot_movers.config_values import AT_LEAST_ONE, option
from pilot_movers.engine.contract import Capabilities, ChecksumSource, Copied, CopyRequest
from pilot_movers.errors import MoverError, Scope
from pilot_movers.oserrors import from_oserror
from pilot_movers.values import Role


@dataclass(frozen=True)
class LocalOptions:
    """``[mover:local]``."""

    mode: Literal["copy", "move", "symlink"] = "copy"
    fsync: bool = False
    """Flush each copy to disk before it is verified and renamed."""
    block_size: int = option(4 * 1024 * 1024, AT_LEAST_ONE)
    """Bytes read and written at a time."""


class LocalMover(Mover):
    name = "local"
    schemes = ("file",)
    capabilities = Capabilities(checksums=ChecksumSource.STREAMED, atomic_no_clobber_rename=True)
    Options = LocalOptions
    options: LocalOptions

    def copy_file(self, request: CopyRequest) -> Copied:
        source, target = request.source.path, request.target.path
        _make_parent(target)
        if self.options.mode == "symlink":
            return self._symlink(source, target, request)
        if self.options.mode == "move":
            try:
                os.link(source, target)
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EOPNOTSUPP, errno.EMLINK):
                    raise _translate(exc, source, target) from exc
            else:
                return Copied(_size(target), verified=request.expected_checksum is None, linked=True)
        return self._stream(request, source, target)

    def committed(self, request: CopyRequest) -> None:
        if self.options.mode == "move":
            try:
                os.unlink(request.source.path)
            except FileNotFoundError:
                pass

    def _symlink(self, source: str, target: str, request: CopyRequest) -> Copied:
        try:
            size = os.stat(source).st_size
            os.symlink(source, target)
        except OSError as exc:
            raise _translate(exc, source, target) from exc
        # A link is the source itself: nothing moved that could have been corrupted, but an
        # expected checksum is still checked (the engine reads the file through the link).
        return Copied(size, verified=request.expected_checksum is None, linked=True)

    def _stream(self, request: CopyRequest, source: str, target: str) -> Copied:
        digest = StreamingDigest(request.algorithms)
        clock = request.clock
        buffer = bytearray(self.options.block_size)
        view = memoryview(buffer)
        side = Scope.SOURCE  # which file the next OSError belongs to
        # An output is never read through a symbolic link (ELOOP): the engine refused one already,
        # and one swapped in since is refused here.
        flags = os.O_RDONLY | (os.O_NOFOLLOW if request.spec.role is Role.OUTPUT else 0)
        try:
            with open(os.open(source, flags), "rb", buffering=0) as reader:
                info = os.fstat(reader.fileno())
                mode = info.st_mode & 0o777
                clock.set_size(info.st_size)
                side = Scope.DESTINATION
                descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode | 0o600)
                with open(descriptor, "wb", buffering=0) as writer:
                    while True:
                        clock.raise_if_cancelled()
                        side = Scope.SOURCE
                        n = reader.readinto(buffer)
                        if not n:
                            break
                        chunk = view[:n]
                        digest.update(chunk)
                        side = Scope.DESTINATION
                        written = 0
                        while written < n:
                            written += writer.write(chunk[written:])
                        clock.progress(digest.bytes)
                    side = Scope.DESTINATION
                    if self.options.fsync:
                        os.fsync(writer.fileno())
                os.chmod(target, mode)
        except OSError as exc:
            what = source if side is Scope.SOURCE else target
            raise from_oserror(exc, scope=side, what=what) from exc
        return Copied(digest.bytes, digest.checksums())


def _make_parent(target: str) -> None:
    try:
        os.makedirs(os.path.dirname(target), exist_ok=True)
    except OSError as exc:
        raise from_oserror(exc, scope=Scope.DESTINATION, what=f"creating {os.path.dirname(target)}") from exc


def _size(path: str) -> int:
    return os.stat(path).st_size


def _translate(exc: OSError, source: str, target: str) -> MoverError:
    """Which side failed: the file name in the OSError says, else the source is assumed."""
    if exc.filename == target or getattr(exc, "filename2", None) == target:
        return from_oserror(exc, scope=Scope.DESTINATION, what=target)
    return from_oserror(exc, scope=Scope.SOURCE, what=source)
