"""The DataHost's answers turned into the library's errors, by HTTP status and the answer's
``reason`` word, never by message text (the message is kept, for people)."""

from __future__ import annotations

from typing import Any, Optional

from pilot_movers.errors import (
    AuthenticationFailed,
    ChecksumsDiffer,
    DestinationExists,
    MoverError,
    NoSpace,
    ServiceUnavailable,
    SizeMismatch,
    SourceNotFound,
    TransferFailed,
)


def error_for_answer(status: int, body: Any, *, endpoint: str, file: Optional[str] = None) -> MoverError:
    """The MoverError for a refused request: 401/403 AuthenticationFailed, 404 SourceNotFound,
    409 DestinationExists, 422 ChecksumsDiffer/SizeMismatch, 507 NoSpace, 429 and 5xx
    ServiceUnavailable (transient), anything else TransferFailed."""
    reason = body.get("reason") if isinstance(body, dict) else None
    message = body.get("error") if isinstance(body, dict) else None
    message = str(message or f"the DataHost answered HTTP {status}")
    error_class = _error_class(status, reason)
    transient = True if error_class is TransferFailed and reason == "client_disconnected" else None
    error = error_class(message, endpoint=endpoint, file=file, transient=transient)
    if status in (401, 403):
        error.http_status = status  # 401: no or expired session
    return error


def _error_class(status: int, reason: Optional[str]) -> type[MoverError]:
    if status in (401, 403):
        return AuthenticationFailed
    if status == 422:
        return ChecksumsDiffer if reason == "checksum_mismatch" else SizeMismatch
    if status == 429 or (status >= 500 and status != 507):  # 429: too many wrong passwords, for now
        return ServiceUnavailable
    return _BY_STATUS.get(status, TransferFailed)


_BY_STATUS: dict[int, type[MoverError]] = {404: SourceNotFound, 409: DestinationExists, 507: NoSpace}
