"""OSError -> MoverError, by errno (never by message text)."""

from __future__ import annotations

import errno
import os
from typing import Optional

from pilot_movers.errors import (
    DestinationExists,
    DestinationNotWritable,
    MakeDirFailed,
    MoverError,
    NoSpace,
    Scope,
    SourceNotFound,
    TransferFailed,
    UnsafeSource,
)


def from_oserror(exc: OSError, *, scope: Scope, what: str) -> MoverError:
    """Translate a local OSError; ``scope`` says which side failed, ``what`` names the path."""
    reason = f"{what}: {exc.strerror or exc}"
    code = exc.errno
    if code == errno.ENOENT and scope is Scope.SOURCE:
        return SourceNotFound(reason, errno=code)
    if code == errno.ELOOP and scope is Scope.SOURCE:
        return UnsafeSource(f"{what} is a symbolic link and is not followed", errno=code)
    if code in (errno.ENOSPC, errno.EDQUOT):
        return NoSpace(reason, errno=code)
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        if scope is Scope.DESTINATION:
            return DestinationNotWritable(reason, errno=code)
        return TransferFailed(f"cannot read {reason}", scope=scope, transient=False, errno=code)
    if code == errno.EEXIST:
        return DestinationExists(reason, errno=code)
    if code in (errno.ENOTDIR, errno.ENOENT) and scope is Scope.DESTINATION:
        return MakeDirFailed(reason, errno=code)
    transient = code in (errno.EIO, errno.EAGAIN, errno.EINTR, errno.ETIMEDOUT, errno.ESTALE, errno.EBUSY)
    return TransferFailed(reason, scope=scope, transient=transient, errno=code)


def full_disk(path: str, written: int, *, expected: Optional[int] = None) -> Optional[NoSpace]:
    """NoSpace when the file system holding ``path`` has no room left: a copy some library cut
    short there without saying why (``written`` bytes of ``expected``)."""
    try:
        found = os.statvfs(os.path.dirname(path) or ".")
    except OSError:
        return None
    free = found.f_bavail * found.f_frsize
    if free >= max(found.f_bsize, 1 << 16):
        return None
    of = f" of {expected}" if expected is not None else ""
    return NoSpace(f"{path}: No space left on device ({written}{of} bytes written, {free} free)", errno=errno.ENOSPC)
