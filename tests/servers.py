"""Where the session's servers keep things, and waiting for them (shared by the test packages)."""

from __future__ import annotations

import os
import pwd
import socket
import time
from pathlib import Path

from pilot_movers_testkit.datahost import DataHost

DATAHOST_USER = "griduser"
#: A file that marks griduser's directory on the DataHost (other tests add other users).
MARKER = "griduser-directory"


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def datahost_storage(datahost: DataHost) -> Path:
    """The directory the DataHost keeps ``griduser``'s files in (named by the user's id)."""
    (found,) = [p for p in datahost.storage_dir.iterdir() if (p / MARKER).exists()]
    return found


def own_by_nobody(path: Path) -> None:
    """XRootD runs as nobody: what it serves or writes to must be nobody's."""
    nobody = pwd.getpwnam("nobody")
    os.chown(path, nobody.pw_uid, nobody.pw_gid)
