"""Storage operations on the worker node's own disk."""

from __future__ import annotations

import errno
import os
import stat as stat_module
from typing import Optional

from pilot_movers.checksums import Checksum, file_checksum
from pilot_movers.engine.contract import FileStat
from pilot_movers.errors import DestinationExists, Scope
from pilot_movers.oserrors import from_oserror
from pilot_movers.values import Location


class LocalNamespace:
    """``file://`` locations. Renames never replace a file unless asked to (link, then unlink)."""

    def stat(self, location: Location) -> Optional[FileStat]:
        """The file (a symbolic link's target, with ``is_link`` set); None when nothing is there
        (a dangling link is something: a link)."""
        try:
            link = os.lstat(location.path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise from_oserror(exc, scope=Scope.DESTINATION, what=location.path) from exc
        if not stat_module.S_ISLNK(link.st_mode):
            return FileStat(link.st_size, stat_module.S_ISDIR(link.st_mode))
        try:
            found = os.stat(location.path)
        except OSError:
            return FileStat(0, False, is_link=True)
        return FileStat(found.st_size, stat_module.S_ISDIR(found.st_mode), is_link=True)

    def checksum(self, location: Location, algorithm: str) -> Checksum:
        return file_checksum(location.path, algorithm)

    def list_dir(self, location: Location) -> dict[str, FileStat]:
        try:
            names = sorted(os.listdir(location.path))
        except OSError as exc:
            raise from_oserror(exc, scope=Scope.SOURCE, what=f"listing {location.path}") from exc
        found = {}
        for name in names:
            entry = self.stat(location.join(name))
            if entry is not None:  # gone meanwhile
                found[name] = entry
        return found

    def rename(self, source: Location, target: Location, *, overwrite: bool) -> None:
        try:
            if overwrite:
                os.replace(source.path, target.path)
                return
            try:
                # link() fails with EEXIST instead of replacing: an atomic no-clobber rename.
                os.link(source.path, target.path, follow_symlinks=False)
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
                    raise
                if os.path.lexists(target.path):  # file systems without hard links
                    raise FileExistsError(errno.EEXIST, "File exists", target.path) from exc
                os.rename(source.path, target.path)
                return
            os.unlink(source.path)
        except FileExistsError as exc:
            raise DestinationExists(f"{target.path} already exists", errno=exc.errno) from exc
        except OSError as exc:
            raise from_oserror(exc, scope=Scope.DESTINATION, what=f"renaming to {target.path}") from exc

    def remove(self, location: Location) -> None:
        try:
            os.unlink(location.path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise from_oserror(exc, scope=Scope.DESTINATION, what=f"removing {location.path}") from exc


LOCAL = LocalNamespace()
