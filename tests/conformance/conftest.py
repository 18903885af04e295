"""The project's own movers as the conformance kit sees them: one ``storage`` per network mover,
on the session's servers (GridFTP, XRootD's root:// and https://, the DataHost)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import pytest
from pilot_movers_testkit.conformance import ServerUnderTest, StorageUnderTest, free_port, small_disk
from pilot_movers_testkit.datahost import DataHost
from pilot_movers_testkit.grid import LocalGrid

from pilot_movers.checksums import Checksum, file_checksum
from pilot_movers.https_datahost.client import DataHostClient
from tests.helpers import write_file
from tests.servers import DATAHOST_USER, MARKER, datahost_storage, own_by_nobody

NOBODY = (65534, 65534)


def _temporary(name: str) -> bool:
    return ".pilot-movers-" in name or name.startswith(".upload-")


class DiskStorage(ServerUnderTest):
    """A server whose files for this test are in one directory of this machine's disk."""

    def __init__(self, grid: LocalGrid, directory: Path, owner: Optional[tuple[int, int]] = None) -> None:
        self.grid = grid
        self.directory = directory
        self.owner = owner
        directory.mkdir(parents=True, exist_ok=True)
        self._own(directory)

    def _own(self, path: Path) -> None:
        if self.owner is not None:
            os.chown(path, *self.owner)

    def put(self, name: str, size: int, seed: int) -> Checksum:
        checksum = write_file(self.directory / name, size, seed)
        self._own(self.directory / name)
        return checksum

    def holds(self, name: str) -> Optional[Checksum]:
        path = self.directory / name
        return file_checksum(path) if path.is_file() else None

    def _temporaries(self) -> list[Path]:
        found = []
        for root, _dirs, files in os.walk(self.directory):
            found += [Path(root) / f for f in files if _temporary(f)]
        return found

    def partial_bytes(self) -> int:
        total = 0
        for path in self._temporaries():
            try:
                total += path.stat().st_size
            except OSError:
                pass
        return total

    def debris(self) -> list[str]:
        return sorted(str(p.relative_to(self.directory)) for p in self._temporaries())

    def environment(self) -> dict[str, str]:
        return self.grid.client_env()

    def url_of(self, path: Path) -> str:
        raise NotImplementedError

    def directory_url(self) -> str:
        return self.url_of(self.directory)

    @contextmanager
    def full(self, free: int) -> Iterator[str]:
        with small_disk(self.directory / "full", free, owner=self.owner) as small:
            yield self.url_of(small)


class GridFTPStorage(DiskStorage):
    mover = "gridftp"

    def url_of(self, path: Path) -> str:
        return self.grid.gridftp_url(f"{path.relative_to(self.grid.gridftp_dir)}/")

    def refused_directory_url(self) -> str:
        return f"gsiftp://localhost:{free_port()}/tmp/nowhere/"

    def server_process_group(self) -> int:
        pid = self.grid.servers["gridftp"].pid
        assert pid is not None, "the GridFTP server is not running"
        return os.getpgid(pid)


class XRootDStorage(DiskStorage):
    mover = "xrootd"
    checksums = ("adler32",)  # the grid's xrootd.chksum

    def url_of(self, path: Path) -> str:
        return self.grid.xrootd_url(f"{path.relative_to(self.grid.xrootd_dir)}/")

    def refused_directory_url(self) -> str:
        return f"root://localhost:{free_port()}//tmp/nowhere/"

    def server_process_group(self) -> int:
        pid = self.grid.servers["xrootd"].pid
        assert pid is not None, "the XRootD server is not running"
        return os.getpgid(pid)


class HTTPSStorage(XRootDStorage):
    """XRootD's HTTPS port (WebDAV), through the https mover."""

    mover = "https"
    checksums = ("adler32", "md5")  # an md5 upload is verified through XrdHttp (the kit holds it to that)

    def url_of(self, path: Path) -> str:
        return self.grid.https_url(f"{path.relative_to(self.grid.xrootd_dir)}/")

    def refused_directory_url(self) -> str:
        return f"https://localhost:{free_port()}/tmp/nowhere/"


class DataHostStorage(ServerUnderTest):
    """The DataHost: one flat directory per user, so this test's files carry a prefix."""

    mover = "datahost"

    def __init__(self, grid: LocalGrid, datahost: DataHost, prefix: str) -> None:
        self.grid = grid
        self.datahost = datahost
        self.prefix = prefix

    @property
    def storage(self) -> Path:
        return datahost_storage(self.datahost)

    def directory_url(self) -> str:
        return f"datahost://{self.datahost.address}/{DATAHOST_USER}/"

    def name(self, stem: str) -> str:
        return f"{self.prefix}-{stem}"

    def refused_directory_url(self) -> str:
        return f"datahost://localhost:{free_port()}/{DATAHOST_USER}/"

    def put(self, name: str, size: int, seed: int) -> Checksum:
        local = self.grid.root / f"datahost-seed-{name}"
        checksum = write_file(local, size, seed)
        try:
            with DataHostClient(
                self.datahost.address, ca_dir=str(self.grid.cert_dir), cert=str(self.grid.user_proxy)
            ) as client:
                client.put(local, name)
        finally:
            local.unlink()
        return checksum

    def holds(self, name: str) -> Optional[Checksum]:
        path = self.storage / name
        return file_checksum(path) if path.is_file() else None

    def _temporaries(self) -> list[Path]:
        return [
            p
            for p in self.storage.iterdir()
            if p.name.startswith(".upload-") or (p.name.startswith(self.prefix) and _temporary(p.name))
        ]

    def partial_bytes(self) -> int:
        total = 0
        for path in self._temporaries():
            try:
                total += path.stat().st_size
            except OSError:
                pass
        return total

    def debris(self) -> list[str]:
        return sorted(p.name for p in self._temporaries())

    def server_process_group(self) -> int:
        pid = int((self.datahost.root / "run" / "httpd.pid").read_text().split()[0])
        return os.getpgid(pid)

    @contextmanager
    def full(self, free: int) -> Iterator[str]:
        """The user's directory on a small disk (its marker copied there, so it is found)."""
        directory = self.storage
        owner = (directory.stat().st_uid, directory.stat().st_gid)
        with small_disk(directory, free + 4096, owner=owner):
            (directory / MARKER).write_text("the griduser's directory\n")
            os.chown(directory / MARKER, *owner)
            yield self.directory_url()

    def environment(self) -> dict[str, str]:
        return self.grid.client_env()


@pytest.fixture(params=["gridftp", "xrootd", "https", "datahost"])
def storage(request: pytest.FixtureRequest, grid: LocalGrid) -> Iterator[ServerUnderTest]:
    name = request.param
    test = re.sub(r"[^A-Za-z0-9_-]+", "-", request.node.name)[:80].strip("-")
    if name == "datahost":
        datahost: DataHost = request.getfixturevalue("datahost")
        yield DataHostStorage(grid, datahost, test)
        return
    if name == "gridftp":
        directory = grid.gridftp_dir / "conformance" / test
        found: ServerUnderTest = GridFTPStorage(grid, directory)
    else:
        request.getfixturevalue("xrootd_https")
        directory = grid.xrootd_dir / "conformance" / test
        (grid.xrootd_dir / "conformance").mkdir(exist_ok=True)
        own_by_nobody(grid.xrootd_dir / "conformance")
        found = (XRootDStorage if name == "xrootd" else HTTPSStorage)(grid, directory, owner=NOBODY)
    server = grid.servers["gridftp" if name == "gridftp" else "xrootd"]
    if not server.running:  # a previous test may have left it down
        server.start()
    yield found
    shutil.rmtree(directory, ignore_errors=True)


CASES = {
    "test_a_healthy_transfer_longer_than_three_stall_limits_succeeds": "healthy transfer over 3 stall limits",
    "test_a_server_frozen_for_good_ends_the_job_within_the_documented_bound": "server frozen for good",
    "test_a_server_frozen_then_resumed_is_retried_and_the_file_arrives": "server frozen, then resumed",
    "test_sigterm_starts_the_cleanup_within_a_second": "SIGTERM mid-transfer",
    "test_a_full_destination_is_a_no_space_error_and_is_not_retried": "destination disk full",
    "test_a_refused_connection_fails_within_15_seconds_with_default_settings": "connection refused",
}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """Each case's outcome and what it measured, in the fault suite's figures (docs/reliability.md)."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call":
        return
    from tests.faults.conftest import Figures

    name = getattr(item, "originalname", item.name)
    storage = getattr(item, "funcargs", {}).get("storage")
    params = item.callspec.params if hasattr(item, "callspec") else {}
    protocol = f"{params.get('storage', '?')} {params.get('direction', '')}".strip()
    case = CASES.get(name, name)
    if "state" in params:
        case = f"{case} ({params['state']})"
    figures = storage.figures if isinstance(storage, StorageUnderTest) else {}
    Figures().record(case, protocol, suite="conformance", passed=report.passed, **figures)
