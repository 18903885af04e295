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
from typing import Any, Optional

from pilot_movers.base import CopyOutcome, CopyRequest, Mover
from pilot_movers.checksums import StreamingDigest
from pilot_movers.engine.settings import TransferSettings
from pilot_movers.errors import ConfigurationError, MoverError, Scope
from pilot_movers.local.oserrors import from_oserror

MODES = ("copy", "move", "symlink")
_TRUE = ("1", "true", "yes", "on")


class LocalMover(Mover):
    name = "local"
    schemes = ("file",)

    def __init__(
        self,
        settings: Optional[TransferSettings] = None,
        *,
        mode: str = "copy",
        fsync: Any = False,
        block_size: Any = 4 * 1024 * 1024,
        **options: Any,
    ) -> None:
        super().__init__(settings, **options)
        if options:
            raise ConfigurationError(f"local mover: unknown option(s) {', '.join(sorted(options))}")
        if mode not in MODES:
            raise ConfigurationError(f"local mover: mode {mode!r} is not one of {', '.join(MODES)}")
        self.mode = mode
        self.fsync = fsync if isinstance(fsync, bool) else str(fsync).lower() in _TRUE
        try:
            self.block_size = int(block_size)
        except ValueError:
            raise ConfigurationError(f"local mover: block_size {block_size!r} is not a number") from None

    def copy_file(self, request: CopyRequest) -> CopyOutcome:
        source, target = request.source.path, request.target.path
        _make_parent(target)
        if self.mode == "symlink":
            return self._symlink(source, target, request)
        if self.mode == "move":
            try:
                os.link(source, target)
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EOPNOTSUPP, errno.EMLINK):
                    raise _translate(exc, source, target) from exc
            else:
                return CopyOutcome(_size(target), verified=request.expected_checksum is None, linked=True)
        return self._stream(request, source, target)

    def committed(self, request: CopyRequest) -> None:
        if self.mode == "move":
            try:
                os.unlink(request.source.path)
            except FileNotFoundError:
                pass

    def _symlink(self, source: str, target: str, request: CopyRequest) -> CopyOutcome:
        try:
            size = os.stat(source).st_size
            os.symlink(source, target)
        except OSError as exc:
            raise _translate(exc, source, target) from exc
        # A link is the source itself: nothing moved that could have been corrupted, but an
        # expected checksum is still checked (the engine reads the file through the link).
        return CopyOutcome(size, verified=request.expected_checksum is None, linked=True)

    def _stream(self, request: CopyRequest, source: str, target: str) -> CopyOutcome:
        algorithms = [request.checksum_algorithm]
        if request.expected_checksum is not None:
            algorithms.append(request.expected_checksum.algorithm)
        digest = StreamingDigest(algorithms)
        clock = request.clock
        buffer = bytearray(self.block_size)
        view = memoryview(buffer)
        side = Scope.SOURCE  # which file the next OSError belongs to
        try:
            with open(source, "rb", buffering=0) as reader:
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
                    if self.fsync:
                        os.fsync(writer.fileno())
                os.chmod(target, mode)
        except OSError as exc:
            what = source if side is Scope.SOURCE else target
            raise from_oserror(exc, scope=side, what=what) from exc
        return CopyOutcome(digest.bytes, digest.checksums())


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
