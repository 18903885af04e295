"""XRootDStatus -> MoverError, by the client's error code and the server's kXR errno."""

from __future__ import annotations

import os
from typing import Any, Optional

from pilot_movers.errors import (
    AuthenticationFailed,
    ChecksumsDiffer,
    DestinationExists,
    DestinationNotWritable,
    MoverError,
    NoSpace,
    Scope,
    ServiceUnavailable,
    SourceNotFound,
    TransferCancelled,
    TransferFailed,
    TransferTimeout,
)
from pilot_movers.oserrors import from_oserror

# XrdClStatus.hh: client-side error codes.
ERR_OS_ERROR = 12
ERR_DATA_ERROR = 14
SOCKET_ERRORS = {101, 102, 104, 105, 106, 107, 108, 109, 110}  # invalid addr .. TLS error
ERR_SOCKET_TIMEOUT = 103
ERR_HANDSHAKE, ERR_LOGIN, ERR_AUTH = 202, 203, 204
ERR_OPERATION_EXPIRED = 206
ERR_OPERATION_INTERRUPTED = 207
ERR_NOT_FOUND = 304
ERR_CHECKSUM = 305
ERR_ERROR_RESPONSE = 400
ERR_LOCAL_ERROR = 402  # errLocalError: a local file the client reads or writes (errno says why)

# XProtocol.hh: kXR_* errors a server sends with errErrorResponse.
KXR_NOT_AUTHORIZED, KXR_NOT_FOUND, KXR_SERVER_ERROR, KXR_NO_SERVER = 3010, 3011, 3012, 3014
KXR_IO_ERROR, KXR_NO_SPACE, KXR_CANCELLED, KXR_EXISTS, KXR_CHECKSUM = 3007, 3009, 3017, 3018, 3019
KXR_IN_PROGRESS, KXR_OVER_QUOTA, KXR_OVERLOADED, KXR_AUTH_FAILED = 3020, 3021, 3024, 3030
KXR_TIMED_OUT, KXR_TIMER_EXPIRED = 3034, 3035
KXR_FS_READ_ONLY = 3025
_SERVER_BUSY = {
    KXR_SERVER_ERROR,
    KXR_NO_SERVER,
    KXR_IO_ERROR,
    KXR_IN_PROGRESS,
    KXR_OVERLOADED,
    KXR_TIMED_OUT,
    KXR_TIMER_EXPIRED,
}


def from_status(
    status: Any,
    *,
    what: str = "",
    local_what: str = "",
    local_scope: Scope = Scope.DESTINATION,
    remote_scope: Optional[Scope] = None,
) -> MoverError:
    """Translate an ``XRootDStatus`` that is not ok. ``what`` prefixes the message (an operation
    the error does not name otherwise); ``local_what`` names the local file of a local OS error
    (errOSError), ``local_scope`` which side it belongs to; ``remote_scope`` which side the server
    is, when known (a refused write at the destination is not an authentication failure)."""
    code, number = int(status.code), int(status.errno)
    message = str(status.message).strip()
    reason = f"{what}: {message}" if what else message
    if code == ERR_ERROR_RESPONSE:
        if number == KXR_NOT_FOUND:
            return SourceNotFound(reason, errno=number)
        if number == KXR_FS_READ_ONLY or (number == KXR_NOT_AUTHORIZED and remote_scope is Scope.DESTINATION):
            return DestinationNotWritable(reason, errno=number)
        if number in (KXR_NOT_AUTHORIZED, KXR_AUTH_FAILED):
            return AuthenticationFailed(reason, errno=number)
        if number in (KXR_NO_SPACE, KXR_OVER_QUOTA):
            return NoSpace(reason, errno=number)
        if number == KXR_EXISTS:
            return DestinationExists(reason, errno=number)
        if number == KXR_CHECKSUM:
            return ChecksumsDiffer(reason, errno=number)
        if number == KXR_CANCELLED:
            return TransferCancelled(reason, errno=number)
        if number in _SERVER_BUSY:
            return ServiceUnavailable(reason, errno=number)
        return TransferFailed(reason, transient=False, errno=number)
    if code in (ERR_HANDSHAKE, ERR_LOGIN, ERR_AUTH):
        return AuthenticationFailed(reason, errno=number or None)
    if code == ERR_CHECKSUM:
        return ChecksumsDiffer(reason)
    if code == ERR_NOT_FOUND:
        return SourceNotFound(reason)
    if code in SOCKET_ERRORS or code == ERR_OPERATION_EXPIRED:
        return ServiceUnavailable(reason, errno=number or None)
    if code == ERR_SOCKET_TIMEOUT:
        return TransferTimeout(reason)
    if code == ERR_OPERATION_INTERRUPTED:
        return TransferCancelled(reason)
    if code in (ERR_OS_ERROR, ERR_LOCAL_ERROR) and number:  # a full work dir: errLocalError, ENOSPC
        return from_oserror(
            OSError(number, message or os.strerror(number)), scope=local_scope, what=local_what or what or "local file"
        )
    if code == ERR_DATA_ERROR:
        return TransferFailed(reason, transient=True)
    return TransferFailed(reason, transient=not status.fatal)
