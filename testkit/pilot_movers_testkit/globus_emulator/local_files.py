"""Files on local disk seen as the Transfer API shows them: ``file`` documents for listings and
the checksum algorithms a transfer can verify with.
"""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
import stat
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional, Union

from pilot_movers.checksums import adler32

#: ``checksum_algorithm`` values accepted (case-insensitive); MD5 is the service's default.
CHECKSUM_ALGORITHMS = ("MD5", "ADLER32", "SHA1", "SHA256", "SHA512")
DEFAULT_CHECKSUM_ALGORITHM = "MD5"


class Hasher:
    """One checksum algorithm fed bytes in order; ``hexdigest`` as the service writes it."""

    def __init__(self, algorithm: Optional[str]) -> None:
        name = (algorithm or DEFAULT_CHECKSUM_ALGORITHM).upper()
        if name not in CHECKSUM_ALGORITHMS:
            raise ValueError(
                f"unsupported checksum algorithm {algorithm!r}; use one of {', '.join(CHECKSUM_ALGORITHMS)}"
            )
        self.algorithm = name
        self._adler = 1
        self._hash = None if name == "ADLER32" else hashlib.new(name.lower(), usedforsecurity=False)

    def update(self, data: Union[bytes, memoryview]) -> None:
        if self._hash is None:
            self._adler = adler32(data, self._adler)
        else:
            self._hash.update(data)

    def hexdigest(self) -> str:
        if self._hash is None:
            return format(self._adler & 0xFFFFFFFF, "08x")
        return self._hash.hexdigest()


def same_checksum(a: str, b: str, algorithm: str) -> bool:
    """Compare two hex checksums the way a person means them: case, ``0x`` and adler32's leading
    zeros do not matter."""

    def norm(value: str) -> str:
        value = value.strip().lower().removeprefix("0x")
        return value.zfill(8) if algorithm == "ADLER32" else value

    return norm(a) == norm(b)


def checksum_of(path: Path, algorithm: Optional[str]) -> str:
    hasher = Hasher(algorithm)
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            hasher.update(block)
    return hasher.hexdigest()


def _name_of_uid(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _name_of_gid(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _modified(seconds: float) -> str:
    """``2021-01-15 01:45:50+00:00``: how listings write times."""
    return datetime.fromtimestamp(int(seconds), timezone.utc).isoformat(sep=" ")


def file_document(path: Path, name: Optional[str] = None) -> dict[str, Any]:
    """The ``file`` document of ``path`` (symlinks are followed, as GridFTP listings do)."""
    link = path.lstat()
    info = path.stat() if stat.S_ISLNK(link.st_mode) else link
    is_link = stat.S_ISLNK(link.st_mode)
    return {
        "DATA_TYPE": "file",
        "name": name if name is not None else path.name,
        "type": "dir" if stat.S_ISDIR(info.st_mode) else "file",
        "size": info.st_size,
        "last_modified": _modified(info.st_mtime),
        "permissions": format(stat.S_IMODE(info.st_mode), "04o"),
        "user": _name_of_uid(info.st_uid),
        "group": _name_of_gid(info.st_gid),
        "link_target": os.readlink(path) if is_link else None,
        "link_size": link.st_size if is_link else None,
        "link_last_modified": _modified(link.st_mtime) if is_link else None,
        "link_user": _name_of_uid(link.st_uid) if is_link else None,
        "link_group": _name_of_gid(link.st_gid) if is_link else None,
    }


def list_directory(path: Path, *, show_hidden: bool) -> list[dict[str, Any]]:
    """The entries of a directory, by name; dangling symlinks are left out."""
    entries = []
    for entry in sorted(os.scandir(path), key=lambda e: e.name):
        if not show_hidden and entry.name.startswith("."):
            continue
        try:
            entries.append(file_document(Path(entry.path)))
        except FileNotFoundError:
            continue
    return entries
