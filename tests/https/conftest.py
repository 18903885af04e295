"""The https and datahost movers against real servers: XRootD's HTTPS (WebDAV, X.509 client
certificates) from the local grid, and a DataHost (Apache + mod_gridsite + Django) trusting the
same CA, on which the grid's test user is ``griduser``. One fixture, ``endpoint``, runs each
scenario against both."""

from __future__ import annotations

import re
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pytest
from pilot_movers_testkit.datahost import DataHost
from pilot_movers_testkit.grid import LocalGrid

from pilot_movers.base import Mover
from pilot_movers.checksums import Checksum
from pilot_movers.credentials.bundle import Credentials
from pilot_movers.engine.settings import TransferSettings
from pilot_movers.https_datahost.client import DataHostClient
from pilot_movers.registry import get_mover_class
from pilot_movers.values import FileSpec, Location, Role
from tests.helpers import FAST, write_file
from tests.servers import DATAHOST_USER, MARKER, datahost_storage, own_by_nobody, wait_for_port  # noqa: F401

GIB = 1 << 30


def user_credentials(grid: LocalGrid, proxy: Optional[Path] = None) -> Credentials:
    return Credentials(x509_proxy=str(proxy or grid.user_proxy), ca_dir=str(grid.cert_dir))


@dataclass
class Endpoint:
    """A server the movers reach over HTTPS, seen the way a test needs it."""

    name: str
    """``https`` (XRootD's WebDAV) or ``datahost``: also the mover's name."""
    grid: LocalGrid
    prefix: str
    """Unique to the test: a directory on XRootD, a file name prefix on the DataHost (one flat
    directory per user)."""
    datahost: Optional[DataHost] = None

    # -- where -----------------------------------------------------------------------------

    def url(self, name: str) -> str:
        if self.name == "https":
            return self.grid.https_url(f"{self.prefix}/{name}")
        assert self.datahost is not None
        return f"datahost://{self.datahost.address}/{DATAHOST_USER}/{self.prefix}-{name}"

    def directory_url(self) -> str:
        """What ``dir-in``/``dir-out`` says so that ``files-in=NAME`` is ``url(NAME)``."""
        if self.name == "https":
            return self.grid.https_url(f"{self.prefix}/")
        raise AssertionError("a DataHost directory holds the user's files without a prefix")

    def path(self, name: str) -> Path:
        """Where the server keeps ``name`` on this machine's disk."""
        if self.name == "https":
            return self.grid.xrootd_dir / self.prefix / name
        return self.storage / f"{self.prefix}-{name}"

    @property
    def storage(self) -> Path:
        """The directory the server writes this test's files (and its temporary ones) to."""
        if self.name == "https":
            return self.grid.xrootd_dir / self.prefix
        assert self.datahost is not None
        return datahost_storage(self.datahost)

    def server_debris(self) -> list[str]:
        """Temporary files on the server: the engine's (this test's: the DataHost user's directory
        is shared by every test), and the DataHost's own upload parts."""
        if not self.storage.exists():
            return []
        mine = f"{self.prefix}-" if self.name == "datahost" else ""
        return sorted(
            p.name
            for p in self.storage.iterdir()
            if p.name.startswith(".upload-")
            or (p.name.startswith(mine) and (".pilot-movers-" in p.name or p.name.endswith(".part")))
        )

    # -- files -----------------------------------------------------------------------------

    def seed(self, name: str, size: int, seed: int = 0, *, tmp: Path) -> Checksum:
        """Put a file on the server and return its adler32: on XRootD's disk directly, on the
        DataHost through its protocol (so that it records the checksum, as for any upload)."""
        if self.name == "https":
            checksum = write_file(self.path(name), size, seed)
            own_by_nobody(self.path(name))
            return checksum
        assert self.datahost is not None
        local = tmp / f"seed-{name}"
        checksum = write_file(local, size, seed)
        with DataHostClient(self.datahost.address, ca_dir=str(self.grid.cert_dir), cert=str(self.grid.user_proxy)) as c:
            c.put(local, f"{self.prefix}-{name}")
        local.unlink()
        return checksum

    def mover(self, settings: TransferSettings = FAST, proxy: Optional[Path] = None, **options: Any) -> Mover:
        mover = get_mover_class(self.name)(settings, **options)
        mover.start(user_credentials(self.grid, proxy))
        return mover

    def download(self, name: str, target: Path, checksum: Optional[Checksum] = None) -> FileSpec:
        return FileSpec(name, Location.parse(self.url(name)), Location.local(str(target)), Role.INPUT, None, checksum)

    def upload(self, source: Path, name: str, checksum: Optional[Checksum] = None) -> FileSpec:
        return FileSpec(
            name, Location.local(str(source)), Location.parse(self.url(name)), Role.OUTPUT, checksum=checksum
        )

    # -- the server ------------------------------------------------------------------------

    def kill(self) -> None:
        """Kill the server at once, as a crash would."""
        if self.name == "https":
            self.grid.servers["xrootd"].kill()
        else:
            assert self.datahost is not None
            self.datahost.kill()

    def start(self) -> None:
        if self.name == "https":
            self.grid.servers["xrootd"].start()
            wait_for_port(self.grid.xrootd_https_port)
        else:
            assert self.datahost is not None
            self.datahost.start()


def unique_prefix(request: pytest.FixtureRequest) -> str:
    """A short, unique, DataHost-safe prefix for the calling test."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", request.node.name)[:60].strip("-")
    return f"{name}-{secrets.token_hex(3)}"


@pytest.fixture(params=["https", "datahost"])
def endpoint(request: pytest.FixtureRequest, grid: LocalGrid) -> Iterator[Endpoint]:
    name = request.param
    prefix = unique_prefix(request)
    if name == "https":
        request.getfixturevalue("xrootd_https")
        server = grid.servers["xrootd"]
        if not server.running:  # a previous test may have left it down
            server.start()
        wait_for_port(grid.xrootd_https_port)
        directory = grid.xrootd_dir / prefix
        directory.mkdir(parents=True)
        own_by_nobody(directory)
        yield Endpoint(name, grid, prefix)
        shutil.rmtree(directory, ignore_errors=True)  # big files do not pile up over the session
        return
    datahost: DataHost = request.getfixturevalue("datahost")
    yield Endpoint(name, grid, prefix, datahost)
