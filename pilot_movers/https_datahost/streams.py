"""Bytes between a local file and an HTTP connection, in blocks: checksummed as they pass (never
a second pass), progress reported to the transfer's clock, a cancelled clock honoured at the
next block, memory bounded by one block whatever the file's size."""

from __future__ import annotations

import os
from typing import BinaryIO, Optional, Sequence

from pilot_movers.checksums import Checksum, StreamingDigest
from pilot_movers.engine.clocks import TransferClock
from pilot_movers.errors import Scope, SizeMismatch
from pilot_movers.oserrors import from_oserror


class UploadBody:
    """A local file as a request body (requests/urllib3 call ``read(blocksize)`` until it
    returns nothing; ``len`` gives Content-Length). Sends exactly ``size`` bytes: a file that
    shrinks while it is sent is a SizeMismatch, one that grows is cut at ``size``."""

    def __init__(
        self,
        handle: BinaryIO,
        size: int,
        *,
        algorithms: Sequence[str],
        clock: TransferClock,
        label: str,
        block_size: int = 1 << 20,
    ) -> None:
        self._handle = handle
        self.len = size
        self._clock = clock
        self._label = label
        self._block = block_size
        self.digest = StreamingDigest(algorithms)

    @property
    def sent(self) -> int:
        return self.digest.bytes

    def read(self, size: int = -1) -> bytes:
        self._clock.raise_if_cancelled()
        left = self.len - self.digest.bytes
        if left <= 0:
            return b""
        wanted = min(left, self._block if size is None or size < 0 else min(size, self._block))
        try:
            chunk = self._handle.read(wanted)
        except OSError as exc:
            raise from_oserror(exc, scope=Scope.SOURCE, what=self._label) from None
        if not chunk:
            raise SizeMismatch(
                f"{self._label} became shorter while it was sent ({self.digest.bytes} of {self.len} bytes)",
                scope=Scope.SOURCE,
            )
        self.digest.update(chunk)
        self._clock.progress(self.digest.bytes)
        return chunk


class DownloadFile:
    """The local file a download writes (created, never replaced), and what it holds so far."""

    def __init__(self, path: str, algorithms: Sequence[str]) -> None:
        self.path = path
        self.algorithms = tuple(algorithms)
        self.digest = StreamingDigest(self.algorithms)
        try:
            self._fd: Optional[int] = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except OSError as exc:
            raise from_oserror(exc, scope=Scope.DESTINATION, what=path) from None

    @property
    def written(self) -> int:
        return self.digest.bytes

    def checksums(self) -> tuple[Checksum, ...]:
        return self.digest.checksums()

    def write(self, chunk: bytes) -> None:
        assert self._fd is not None
        view = memoryview(chunk)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as exc:  # a full disk is NOLOCALSPACE, never a network failure
            raise from_oserror(exc, scope=Scope.DESTINATION, what=self.path) from None
        self.digest.update(chunk)

    def restart(self) -> None:
        """The server sends the whole file again: forget what was written."""
        assert self._fd is not None
        try:
            os.ftruncate(self._fd, 0)
            os.lseek(self._fd, 0, os.SEEK_SET)
        except OSError as exc:
            raise from_oserror(exc, scope=Scope.DESTINATION, what=self.path) from None
        self.digest = StreamingDigest(self.algorithms)

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def __enter__(self) -> DownloadFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_local_parent(path: str) -> None:
    """The directory a download lands in, made if missing."""
    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise from_oserror(exc, scope=Scope.DESTINATION, what=f"creating {directory}") from None
