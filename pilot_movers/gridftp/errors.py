"""gfal2 GError -> MoverError, by errno (never by message text).

gfal2 reports a checksum mismatch as a bare EIO; what tells it apart from another EIO is the
stage of the copy it happened in, which gfal2's event callback reports (``CHECKSUM:...``).
"""

from __future__ import annotations

import errno
import os
from typing import Any, Optional

from pilot_movers.errors import (
    AuthenticationFailed,
    ChecksumsDiffer,
    DestinationExists,
    DestinationNotWritable,
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
    errno.EPROTONOSUPPORT,
    errno.ENOSYS,
    errno.EOPNOTSUPP,
    errno.ENOTSUP,
    errno.ENOTEMPTY,
}


#: errnos a GridFTP server reports only as the strerror text inside a generic reply (500, 451),
#: which gfal2 turns into ECOMM or EIO: recovered from that text, longest first.
SERVER_ERRNOS = (
    errno.EROFS,
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EACCES,
    errno.EPERM,
    errno.ENOENT,
    errno.EEXIST,
    errno.EISDIR,
    errno.ENOTDIR,
    errno.EADDRINUSE,
)
_STRERRORS = sorted(((os.strerror(n), n) for n in SERVER_ERRNOS), key=lambda item: -len(item[0]))


#: What a server's failed PASV bind means, for the operator reading the error.
OUT_OF_DATA_PORTS = (
    "the server has no free data port: each file gfal2 downloads closes a data connection, whose "
    "port stays in TIME_WAIT for a minute, and a site firewall may leave few ports; the pipelined "
    "engine keeps its data channels ([mover:gridftp] pipelined = true, small_file_size)"
)


def server_errno(code: int, message: str) -> int:
    """The errno behind a generic server error: a GridFTP server answers a failed file open with
    "500 Command failed ... <strerror>", which gfal2 reports as ECOMM (or EIO). The standard
    strerror text of the server's errno is the only message text read, and only then."""
    if code not in (errno.ECOMM, errno.EIO, 0):
        return code
    for text, number in _STRERRORS:
        if text in message:
            return number
    return code


def from_gerror(error: Any, *, stage: Optional[str] = None, what: str = "") -> MoverError:
    """Translate a ``gfal2.GError`` (``.code`` is an errno); ``stage`` is the last copy stage
    gfal2 reported for this file, when known."""
    message = str(getattr(error, "message", "") or error).strip()
    code = server_errno(int(getattr(error, "code", 0) or 0), message)
    reason = f"{what}: {message}" if what else message
    if code == errno.EIO and stage and stage.startswith("CHECKSUM"):
        return ChecksumsDiffer(reason, errno=code)
    if code == errno.ENOENT:
        return SourceNotFound(reason, errno=code)
    if code == errno.EROFS:
        return DestinationNotWritable(reason, errno=code)
    if code in (errno.EACCES, errno.EPERM, errno.EBADE):  # EBADE: XRootD's EAUTH (root:// via gfal2)
        return AuthenticationFailed(reason, errno=code)
    if code == errno.EEXIST:
        return DestinationExists(reason, errno=code)
    if code in (errno.ENOSPC, errno.EDQUOT):
        return NoSpace(reason, errno=code)
    if code == errno.ETIMEDOUT:
        return TransferTimeout(reason, errno=code)
    if code == errno.ECANCELED:
        return TransferCancelled(reason, errno=code)
    if code == errno.EADDRINUSE and "pasv" in message.lower():
        return ServiceUnavailable(f"{reason} ({OUT_OF_DATA_PORTS})", errno=code)
    if code in UNAVAILABLE:
        return ServiceUnavailable(reason, errno=code)
    if code == errno.ENOTDIR:
        return MakeDirFailed(reason, errno=code)
    if code in PERMANENT:
        return TransferFailed(reason, transient=False, errno=code)
    # EIO outside a checksum stage, or an errno we have no rule for: a capped retry is cheap.
    return TransferFailed(reason, transient=True, scope=Scope.TRANSFER, errno=code or None)
