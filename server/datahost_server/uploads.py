"""The upload handlers: the ``file2xmit`` part of a multipart body streams, 1 MiB at a time, into
a hidden temporary file in its owner's directory, its adler32 computed on the way, its size held
to the quota and to the size the client declared. Nothing is kept in memory or in /tmp.

Every other address takes no file at all: ``RefuseFileParts`` is the instance's default handler
(``FILE_UPLOAD_HANDLERS``), so a multipart body with a file part sent to login, delete, rename,
pull or the admin is refused at that part's first header (400), before one byte of it is kept
anywhere; Django's own handlers, which spool large parts to the temporary directory, never run.

The view owns what the handler wrote: it renames the temporary file into place when everything
checks out, and ``discard()`` removes it in every other outcome, including a client that
disconnects (Django raises out of the parser; the view's ``finally`` calls ``discard``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Optional

from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, SkipFile, StopFutureHandlers, StopUpload
from django.http import HttpRequest
from django.http.multipartparser import MultiPartParserError

from datahost_server import storage
from pilot_movers.checksums import adler32
from pilot_movers.https_datahost import protocol

#: The form field that carries the file (the 2010 protocol's name).
FILE_FIELD = protocol.FILE_FIELD


class ReceivedFile(UploadedFile):
    """What the handler hands to Django: a description of the temporary file, not its bytes."""

    def __init__(self, path: Path, name: str, size: int, adler32: str) -> None:
        super().__init__(file=None, name=name, content_type="application/octet-stream", size=size)
        self.path = path
        self.adler32 = adler32

    def close(self) -> None:  # nothing open: the handler closed the descriptor
        return None


class StreamToUserDirectory(FileUploadHandler):
    """Write ``file2xmit`` to a temporary file; stop as soon as a limit is passed.

    ``limit``: most bytes the file may have (the quota still available, or the declared size);
    ``on_progress`` is called after every chunk (the session keep-alive).
    """

    chunk_size = 1 << 20

    def __init__(
        self,
        request: HttpRequest,
        user_id: int,
        *,
        limit: Optional[int] = None,
        limit_reason: str = "quota_exceeded",
        on_progress: Optional[Callable[[int], None]] = None,
    ) -> None:
        super().__init__(request)
        self.user_id = user_id
        self.limit = limit
        self.limit_reason = limit_reason
        self.on_progress = on_progress
        self.path: Optional[Path] = None
        self.descriptor: Optional[int] = None
        self.received: Optional[ReceivedFile] = None
        self.stopped: Optional[str] = None
        """Why the upload was stopped early (a ``answers.STATUSES`` reason), if it was."""
        self.write_error = ""
        self.extra_files = 0
        self._adler = 1
        self._size = 0
        self.started = time.monotonic()

    def new_file(self, field_name: str, file_name: str, *args: Any, **kwargs: Any) -> None:
        super().new_file(field_name, file_name, *args, **kwargs)
        if field_name != FILE_FIELD or self.path is not None:
            self.extra_files += 1
            raise SkipFile()
        self.path, self.descriptor = storage.temporary_file(self.user_id, "upload")
        raise StopFutureHandlers()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        if self.descriptor is None:
            return
        if self.limit is not None and self._size + len(raw_data) > self.limit:
            self.stopped = self.limit_reason
            self._close()
            raise StopUpload(connection_reset=True)
        view = memoryview(raw_data)
        try:
            while view:
                view = view[os.write(self.descriptor, view) :]
        except OSError as exc:  # the disk is full (or failing): not the client's doing
            self.stopped = "no_space"
            self.write_error = exc.strerror or str(exc)
            self._close()
            raise StopUpload(connection_reset=True) from None
        self._adler = adler32(raw_data, self._adler)
        self._size += len(raw_data)
        if self.on_progress is not None:
            self.on_progress(self._size)
        return

    def file_complete(self, file_size: int) -> Optional[UploadedFile]:
        if self.descriptor is None or self.path is None:
            return None
        self._close()
        self.received = ReceivedFile(self.path, self.file_name or "", self._size, format(self._adler, "08x"))
        return self.received

    def upload_interrupted(self) -> None:
        self.discard()

    def discard(self) -> None:
        """Close and remove the temporary file (no-op once the view has claimed it)."""
        self._close()
        storage.discard(self.path)
        self.path = None

    def claim(self) -> Path:
        """The view takes the temporary file over (it will rename it)."""
        if self.path is None:
            raise RuntimeError("no file was received")
        path, self.path = self.path, None
        return path

    @property
    def bytes_received(self) -> int:
        return self._size

    def _close(self) -> None:
        if self.descriptor is not None:
            descriptor, self.descriptor = self.descriptor, None
            os.close(descriptor)


class FileNotAccepted(MultiPartParserError):
    """A file part sent to an address that takes none (Django answers 400)."""


class RefuseFileParts(FileUploadHandler):
    """The default handler: any file part ends the parse with FileNotAccepted."""

    def new_file(self, field_name: str, file_name: str, *args: Any, **kwargs: Any) -> None:
        raise FileNotAccepted(
            f"{self.request.path if self.request is not None else 'this address'} takes no file: "
            f"uploads go to /datahost/transmit/ in the form field {FILE_FIELD!r}"
        )

    def receive_data_chunk(self, raw_data: bytes, start: int) -> Optional[bytes]:  # pragma: no cover
        raise FileNotAccepted("this address takes no file")

    def file_complete(self, file_size: int) -> Optional[UploadedFile]:  # pragma: no cover
        return None
