"""A multipart/form-data body that is read from disk while it is sent.

requests/urllib3 send a file-like body by calling ``read(blocksize)`` until it returns nothing,
so memory stays at one block whatever the file's size. The adler32 of the file part (and any
other checksum asked for) is computed on the way, so the upload is verified against the
server's answer without a second pass.
"""

from __future__ import annotations

import os
import secrets
from typing import BinaryIO, Callable, Optional, Sequence

from pilot_movers.checksums import Checksum, StreamingDigest
from pilot_movers.errors import TransferFailed

Progress = Callable[[int, Optional[int]], None]
"""Called with (bytes so far, total bytes or None)."""


class MultipartBody:
    """``fields`` (small text fields, sent first), then the file at ``path`` as ``field``."""

    def __init__(
        self,
        path: str,
        *,
        field: str,
        filename: str,
        fields: Optional[dict[str, str]] = None,
        progress: Optional[Progress] = None,
        should_cancel: Optional[Callable[[], None]] = None,
        algorithms: Sequence[str] = ("adler32",),
    ) -> None:
        self.boundary = secrets.token_hex(16)
        self.content_type = f"multipart/form-data; boundary={self.boundary}"
        self.size = os.stat(path).st_size
        self._path = path
        self._handle: Optional[BinaryIO] = None
        self._progress = progress
        self._should_cancel = should_cancel
        head = b"".join(self._text_part(name, value) for name, value in (fields or {}).items())
        head += (
            f"--{self.boundary}\r\n"
            f'Content-Disposition: form-data; name="{_quote(field)}"; filename="{_quote(filename)}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        self._head = head
        self._tail = f"\r\n--{self.boundary}--\r\n".encode()
        self.len = len(self._head) + self.size + len(self._tail)
        """The body's length in bytes (requests reads it for Content-Length)."""
        self._position = 0
        self._digest = StreamingDigest(("adler32", *algorithms))

    def _text_part(self, name: str, value: str) -> bytes:
        return (
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{_quote(name)}"\r\n\r\n{value}\r\n'
        ).encode()

    @property
    def adler32(self) -> str:
        """adler32 of the file bytes sent so far (of the whole file once the body is sent)."""
        return self._digest.checksum("adler32").value

    def checksums(self) -> tuple[Checksum, ...]:
        """Every checksum asked for (adler32 first) of the file bytes sent so far."""
        return self._digest.checksums()

    @property
    def file_bytes_sent(self) -> int:
        return self._digest.bytes

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = 1 << 20
        if self._should_cancel is not None:
            self._should_cancel()
        head_end = len(self._head)
        file_end = head_end + self.size
        if self._position < head_end:
            chunk = self._head[self._position : self._position + size]
        elif self._position < file_end:
            chunk = self._read_file(min(size, file_end - self._position))
        else:
            offset = self._position - file_end
            chunk = self._tail[offset : offset + size]
            if not chunk:
                self.close()
        self._position += len(chunk)
        return chunk

    def _read_file(self, size: int) -> bytes:
        if self._handle is None:
            self._handle = open(self._path, "rb")  # noqa: SIM115 - closed by close() after the tail
        chunk = self._handle.read(size)
        if not chunk:
            raise TransferFailed(f"{self._path} became shorter while it was being sent", file=self._path)
        self._digest.update(chunk)
        if self._progress is not None:
            self._progress(self._digest.bytes, self.size)
        return chunk

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> MultipartBody:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _quote(value: str) -> str:
    """Form-data names and file names: no quotes or line breaks can break out of the header."""
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
