"""Putting a complete temporary file into place, for uploads and pulls alike: under the commit
lock, check that the name is free (or may be replaced) and that every quota still holds with the
real size, rename, and remember the checksum computed while the bytes streamed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from datahost_server import quotas, storage
from datahost_server.answers import ProtocolError
from datahost_server.models import StoredFile


def existing_size(user_id: int, name: str) -> int | None:
    try:
        return storage.file_path(user_id, name).stat().st_size
    except FileNotFoundError:
        return None


def precheck(user: Any, name: str | None, size: int, *, overwrite: bool, on_disk: int = 0) -> None:
    """Refuse early (before any byte is read) what ``commit`` would refuse at the end.

    ``on_disk``: bytes of this very write already in the user's directory (its temporary file),
    which the quota's usage counts already."""
    existing = existing_size(user.pk, name) if name else None
    if existing is not None and not overwrite:
        raise ProtocolError("exists", f"{name} already exists: delete it first or ask to overwrite it")
    try:
        quotas.check(user, size - on_disk, replacing=existing or 0, reported=size)
    except quotas.QuotaExceeded as exc:
        raise ProtocolError("quota_exceeded", str(exc)) from None


def commit(user: Any, temporary: Path, name: str, *, size: int, adler32: str, overwrite: bool) -> storage.FileEntry:
    """Rename ``temporary`` to the user's file ``name``; ProtocolError (409, 507) if it may not,
    and then ``temporary`` is removed: a refused write leaves nothing behind."""
    target = storage.file_path(user.pk, name)
    with storage.commit_lock():
        try:
            precheck(user, name, size, overwrite=overwrite, on_disk=size)
            storage.place(temporary, target, overwrite=overwrite)
        except FileExistsError:
            storage.discard(temporary)
            raise ProtocolError("exists", f"{name} already exists: delete it first or ask to overwrite it") from None
        except BaseException:
            storage.discard(temporary)
            raise
        stat = target.stat()
        StoredFile.objects.update_or_create(
            user=user, name=name, defaults={"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "adler32": adler32}
        )
    return storage.FileEntry(name, stat.st_size, stat.st_mtime_ns)


def known_adler32(user: Any, entry: storage.FileEntry) -> str | None:
    """The checksum recorded when the file was stored, if the file has not changed since."""
    record = StoredFile.objects.filter(user=user, name=entry.name).first()
    if record is None or record.size != entry.size or record.mtime_ns != entry.mtime_ns:
        return None
    return str(record.adler32)
