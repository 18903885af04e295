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
import threading
from dataclasses import dataclass
from typing import Literal, Optional

from pilot_movers.base import Mover
from pilot_movers.checksums import StreamingDigest
from pilot_movers.config_values import BYTES, KIB, MIB, PIB, between, check_fields, option
from pilot_movers.engine.contract import Capabilities, ChecksumSource, Copied, CopyRequest
from pilot_movers.errors import MoverError, Scope, SizeMismatch
from pilot_movers.oserrors import from_oserror
from pilot_movers.values import Role


@dataclass(frozen=True)
class LocalOptions:
    """``[mover:local]``."""

    mode: Literal["copy", "move", "symlink"] = "copy"
    fsync: bool = False
    """Flush each copy to disk before it is verified and renamed."""
    block_size: int = option(4 * 1024 * 1024, BYTES, between(KIB, 256 * MIB))
    """Bytes read and written (or checksummed) at a time."""
    kernel_copy_size: int = option(8 * 1024 * 1024, BYTES, between(0, PIB))
    """Files this large and larger are copied by the kernel (``copy_file_range``), their checksum
    computed beside the copy; smaller ones are read, checksummed and written in one pass."""

    def __post_init__(self) -> None:
        check_fields(self, where="[mover:local]")


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
        """Copy ``source`` to the new file ``target``: by the kernel (``copy_file_range``: no byte
        passes through this process, reflinks where the file system has them) while a second
        thread checksums the source from the page cache, for files of ``kernel_copy_size`` and
        more; for smaller ones, or where the kernel cannot, read, checksum and write in one pass."""
        side = Scope.SOURCE  # which file the next OSError belongs to
        # An output is never read through a symbolic link (ELOOP): the engine refused one already,
        # and one swapped in since is refused here.
        flags = os.O_RDONLY | (os.O_NOFOLLOW if request.spec.role is Role.OUTPUT else 0)
        try:
            reader = os.open(source, flags)
            try:
                info = os.fstat(reader)
                mode = info.st_mode & 0o777
                request.clock.set_size(info.st_size)
                side = Scope.DESTINATION
                writer = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode | 0o600)
                try:
                    copied = None
                    if info.st_size >= self.options.kernel_copy_size:
                        copied = self._kernel_copy(request, reader, writer, info.st_size)
                    if copied is None:
                        copied, side = self._copy_through(request, reader, writer, info.st_size)
                    side = Scope.DESTINATION
                    if self.options.fsync:
                        os.fsync(writer)
                finally:
                    os.close(writer)
                os.chmod(target, mode)
            finally:
                os.close(reader)
        except OSError as exc:
            what = source if side is Scope.SOURCE else target
            raise from_oserror(exc, scope=side, what=what) from exc
        return copied

    def _copy_through(self, request: CopyRequest, reader: int, writer: int, size: int) -> tuple[Copied, Scope]:
        """Read, checksum and write, block by block. The very bytes read are written, each
        checksummed on the way: the copy holds the source's. The buffer is no larger than the
        file (plus the byte that shows its end): a 100 KB file does not zero 4 MiB."""
        digest = StreamingDigest(request.algorithms)
        buffer = bytearray(min(self.options.block_size, size + 1))
        view = memoryview(buffer)
        while True:
            request.clock.raise_if_cancelled()
            count = os.readv(reader, [buffer])
            if not count:
                break
            chunk = view[:count]
            digest.update(chunk)
            written = 0
            while written < count:
                written += os.write(writer, chunk[written:])
            request.clock.progress(digest.bytes)
        return Copied(digest.bytes, digest.checksums(), verified=request.expected_checksum is None), Scope.DESTINATION

    def _kernel_copy(self, request: CopyRequest, reader: int, writer: int, size: int) -> Optional[Copied]:
        """The kernel copies while a thread checksums the source; None when the kernel cannot
        copy between these files (another file system on an old kernel): nothing was written."""
        summer = _SourceSummer(reader, request.algorithms, self.options.block_size)
        moved = 0
        try:
            while moved < size:
                request.clock.raise_if_cancelled()
                try:
                    count = os.copy_file_range(reader, writer, min(size - moved, _KERNEL_STEP), moved, moved)
                except OSError as exc:
                    if moved == 0 and exc.errno in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL):
                        summer.stop()
                        return None
                    raise
                if count == 0:
                    break  # the source ended early (it shrank): the sizes will not match
                moved += count
                request.clock.progress(moved)
        except BaseException:
            summer.stop()
            raise
        digest = summer.result()
        if digest.bytes != moved:
            raise SizeMismatch(f"the kernel copied {moved} bytes, {digest.bytes} were read to checksum", transient=True)
        return Copied(moved, digest.checksums(), verified=request.expected_checksum is None)


#: Bytes ``copy_file_range`` is asked for at once (cancellation is looked at between steps).
_KERNEL_STEP = 64 * 1024 * 1024


class _SourceSummer:
    """Checksums a file on a thread of its own, reading it with ``pread`` (zlib and hashlib let
    other threads run while they work on a block)."""

    def __init__(self, descriptor: int, algorithms: tuple[str, ...], block_size: int) -> None:
        self.digest = StreamingDigest(algorithms)
        self._descriptor = descriptor
        self._block = block_size
        self._stop = threading.Event()
        self._error: Optional[OSError] = None
        self._thread = threading.Thread(target=self._run, name="pilot-movers-local-checksum", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        offset = 0
        try:
            while not self._stop.is_set():
                block = os.pread(self._descriptor, self._block, offset)
                if not block:
                    return
                self.digest.update(block)
                offset += len(block)
        except OSError as exc:
            self._error = exc

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def result(self) -> StreamingDigest:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self.digest


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
