"""gfal2 GError -> MoverError, by errno (never by message text).

gfal2 reports a checksum mismatch as a bare EIO; what tells it apart from another EIO is the
stage of the copy it happened in, which gfal2's event callback reports (``CHECKSUM:...``).
"""

from __future__ import annotations

import errno
from typing import Any, Optional

from pilot_movers.errors import (
    AuthenticationFailed,
    ChecksumMismatch,
    DestinationExists,
    MakeDirFailed,
    MoverError,
    NoSpace,
    Scope,
    ServiceUnavailable,
    SourceNotFound,
    TransferCancelled,
    TransferFailed,
    TransferTimeout,
)

#: errnos that mean the server or the network is (momentarily) unavailable: worth a retry.
UNAVAILABLE = {
    errno.ECONNREFUSED,
    errno.ECONNRESET,
    errno.ECONNABORTED,
    errno.EHOSTUNREACH,
    errno.EHOSTDOWN,
    errno.ENETUNREACH,
    errno.ENETDOWN,
    errno.ENETRESET,
    errno.ENOTCONN,
    errno.EPIPE,
    errno.ECOMM,  # GridFTP data channel could not bind (port range exhausted by TIME-WAIT sockets)
    errno.EAGAIN,
    errno.EBUSY,
    errno.EADDRINUSE,
    errno.EPROTO,
}
#: errnos no retry can fix.
PERMANENT = {
    errno.EINVAL,
    errno.EISDIR,
    errno.ENOTDIR,
    errno.ENAMETOOLONG,
    errno.EFBIG,
    errno.EROFS,
    errno.EPROTONOSUPPORT,
    errno.ENOSYS,
    errno.EOPNOTSUPP,
    errno.ENOTSUP,
    errno.ENOTEMPTY,
}


def from_gerror(error: Any, *, stage: Optional[str] = None, what: str = "") -> MoverError:
    """Translate a ``gfal2.GError`` (``.code`` is an errno); ``stage`` is the last copy stage
    gfal2 reported for this file, when known."""
    code = int(getattr(error, "code", 0) or 0)
    message = str(getattr(error, "message", "") or error).strip()
    reason = f"{what}: {message}" if what else message
    if code == errno.EIO and stage and stage.startswith("CHECKSUM"):
        return ChecksumMismatch(reason, errno=code)
    if code == errno.ENOENT:
        return SourceNotFound(reason, errno=code)
    if code in (errno.EACCES, errno.EPERM):
        return AuthenticationFailed(reason, errno=code)
    if code == errno.EEXIST:
        return DestinationExists(reason, errno=code)
    if code in (errno.ENOSPC, errno.EDQUOT):
        return NoSpace(reason, errno=code)
    if code == errno.ETIMEDOUT:
        return TransferTimeout(reason, errno=code)
    if code == errno.ECANCELED:
        return TransferCancelled(reason, errno=code)
    if code in UNAVAILABLE:
        return ServiceUnavailable(reason, errno=code)
    if code == errno.ENOTDIR:
        return MakeDirFailed(reason, errno=code)
    if code in PERMANENT:
        return TransferFailed(reason, transient=False, errno=code)
    # EIO outside a checksum stage, or an errno we have no rule for: a capped retry is cheap.
    return TransferFailed(reason, transient=True, scope=Scope.TRANSFER, errno=code or None)
