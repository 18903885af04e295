"""The job's work dir: checked before anything is made, private before anything is put in it,
and swept of what an earlier run of ours left when it was killed (SIGKILL runs no cleanup).

A work dir other users can write to lets them plant files (a symlink named like an output makes
the job upload the link's target); it is made private (0700) when it is ours, refused otherwise.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from pilot_movers.credentials.myproxy import PROXY_PREFIX
from pilot_movers.engine.placement import TEMP_MARK, TEMP_SUFFIX
from pilot_movers.errors import ConfigurationError

_PSEUDO_FILE_SYSTEMS = ("/proc", "/sys", "/dev")


def check_workdir_path(path: str) -> str:
    """The absolute path of a usable work dir, or ConfigurationError saying why not. Makes nothing."""
    absolute = os.path.abspath(path)
    real = os.path.realpath(absolute)
    for place in _PSEUDO_FILE_SYSTEMS:
        if real == place or real.startswith(place + "/"):
            raise ConfigurationError(f"work dir {path} is under {place}, which is not a place for job files")
    if os.path.lexists(absolute):
        info = os.stat(absolute) if os.path.exists(absolute) else os.lstat(absolute)
        if not stat.S_ISDIR(info.st_mode):
            raise ConfigurationError(f"work dir {path} exists and is not a directory")
    else:
        parent = _existing_parent(absolute)
        if not os.access(parent, os.W_OK | os.X_OK):
            raise ConfigurationError(f"work dir {path} cannot be made: {parent} is not writable")
    return absolute


@dataclass(frozen=True)
class PreparedWorkdir:
    path: str
    made_private: bool
    """The dir was writable by others and has been made 0700."""
    swept: tuple[str, ...]
    """What an earlier run of ours left and was removed (temporary copies, user proxies)."""


def prepare_workdir(path: str) -> PreparedWorkdir:
    """Make (0700) or take over the work dir: private, then swept of our earlier debris."""
    absolute = check_workdir_path(path)
    os.makedirs(absolute, mode=0o700, exist_ok=True)
    info = os.stat(absolute)
    made_private = False
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        if info.st_uid != os.geteuid():
            raise ConfigurationError(
                f"work dir {path} is writable by other users and belongs to uid {info.st_uid}: "
                "files planted there could be staged out; use a private work dir"
            )
        os.chmod(absolute, stat.S_IMODE(info.st_mode) & ~0o077 | 0o700)
        made_private = True
    return PreparedWorkdir(absolute, made_private, tuple(sweep_debris(absolute)))


def is_our_debris(name: str) -> bool:
    """A temporary copy (``NAME.pilot-movers-a1-XXXX.part``) or a user proxy we write."""
    return (TEMP_MARK in name and name.endswith(TEMP_SUFFIX)) or (
        name.startswith(PROXY_PREFIX) and name.endswith((".pem", ".pem.part"))
    )


def sweep_debris(directory: str) -> list[str]:
    """Remove what an earlier run of ours left in ``directory`` (``is_our_debris``); what was removed."""
    removed = []
    for entry in os.scandir(directory):
        if is_our_debris(entry.name) and entry.is_file(follow_symlinks=False):
            try:
                os.unlink(entry.path)
            except FileNotFoundError:
                continue
            removed.append(entry.path)
    return sorted(removed)


def _existing_parent(path: str) -> str:
    parent = os.path.dirname(path)
    while parent and not os.path.exists(parent):
        parent = os.path.dirname(parent)
    return parent or "/"
