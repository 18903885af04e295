"""One fixture per protocol, so each scenario runs against GridFTP and XRootD alike."""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest
from pilot_movers_testkit.grid import LocalGrid, Server

from pilot_movers.base import Mover
from pilot_movers.engine.settings import TransferSettings
from pilot_movers.registry import get_mover_class
from pilot_movers.values import FileSpec, Location, Role
from tests.helpers import FAST, write_file

GIB = 1 << 30


@dataclass
class Protocol:
    """A storage server of the local grid, seen the way a test needs it."""

    name: str
    grid: LocalGrid
    base: Path
    """The directory (on this machine's disk) the server stores this test's files in."""

    @property
    def server(self) -> Server:
        return self.grid.servers[self.name]

    def url(self, name: str) -> str:
        relative = self.base.relative_to(self.root)
        if self.name == "gridftp":
            return self.grid.gridftp_url(f"{relative}/{name}")
        return self.grid.xrootd_url(f"{relative}/{name}")

    @property
    def root(self) -> Path:
        return self.grid.gridftp_dir if self.name == "gridftp" else self.grid.xrootd_dir

    def seed(self, name: str, size: int, seed: int = 0):
        """Put a file on the server (directly on its disk) and return its checksum."""
        checksum = write_file(self.base / name, size, seed)
        self._own(self.base / name)
        return checksum

    def mover(self, settings: TransferSettings = FAST, **options: Any) -> Mover:
        return get_mover_class(self.name)(settings, **options)

    def download(self, name: str, target: Path, checksum=None, size=None) -> FileSpec:
        return FileSpec(name, Location.parse(self.url(name)), Location.local(str(target)), Role.INPUT, size, checksum)

    def upload(self, source: Path, name: str, checksum=None) -> FileSpec:
        return FileSpec(
            name, Location.local(str(source)), Location.parse(self.url(name)), Role.OUTPUT, checksum=checksum
        )

    def _own(self, path: Path) -> None:
        if self.name == "xrootd":  # the XRootD server runs as nobody
            nobody = pwd.getpwnam("nobody")
            os.chown(path, nobody.pw_uid, nobody.pw_gid)


@pytest.fixture(params=["gridftp", "xrootd"])
def proto(request: pytest.FixtureRequest, grid: LocalGrid) -> Iterator[Protocol]:
    """The server's directory for this test, removed afterwards (big files do not pile up)."""
    name = request.param
    root = grid.gridftp_dir if name == "gridftp" else grid.xrootd_dir
    base = root / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    base.mkdir(parents=True, exist_ok=True)
    protocol = Protocol(name, grid, base)
    protocol._own(base)
    if not protocol.server.running:  # a previous test may have left it down
        protocol.server.start()
    yield protocol
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def gib_file(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("big") / "one-gib.bin"
    return path, write_file(path, GIB, seed=7)


@contextlib.contextmanager
def sibling_server(grid: LocalGrid, server: str, **options: Any) -> Iterator[LocalGrid]:
    """One more ``server`` on the session's CA, configured by ``options`` (see
    ``LocalGrid.sibling``), under /tmp (XRootD runs as nobody), removed afterwards."""
    root = Path("/tmp") / f"pilot-movers-sibling-{server}-{os.getpid()}"
    shutil.rmtree(root, ignore_errors=True)
    sibling = grid.sibling(root, **options)
    sibling.start(server)
    try:
        yield sibling
    finally:
        sibling.stop()
        shutil.rmtree(root, ignore_errors=True)
