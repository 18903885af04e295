"""A real DataHost (Apache + mod_ssl + mod_gridsite + mod_wsgi + mod_xsendfile + Django) on
127.0.0.1, with the local grid's CA, host certificate and proxies. Never skipped: a missing
apache2 fails the tests."""

from __future__ import annotations

import functools
import http.server
import itertools
import os
import secrets
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pytest
from pilot_movers_testkit.datahost import DataHost
from pilot_movers_testkit.grid import LocalGrid

from pilot_movers.https_datahost.client import DataHostClient

_COUNTER = itertools.count(1)


@dataclass
class Account:
    """A DataHost user made for one test."""

    name: str
    password: str
    server: DataHost

    def client(self, **options: Any) -> DataHostClient:
        """A client logged in with this user's password."""
        client = DataHostClient(self.server.address, ca_dir=str(self.server.grid.cert_dir), **options)
        client.login(self.name, self.password)
        return client


@pytest.fixture(scope="session")
def credentials() -> Iterator[LocalGrid]:
    """The local grid's CA, host certificate and proxies (no grid servers are needed here)."""
    if shutil.which("apache2") is None:
        pytest.fail(
            "the DataHost tests need apache2 with mod_gridsite and mod_wsgi: run scripts/bootstrap.sh", pytrace=False
        )
    root = Path("/tmp") / f"pilot-movers-datahost-grid-{os.getpid()}"
    shutil.rmtree(root, ignore_errors=True)
    grid = LocalGrid(root)
    grid.create_credentials()
    yield grid
    shutil.rmtree(root, ignore_errors=True)


def start_datahost(grid: LocalGrid, label: str, **options: Any) -> DataHost:
    # Not under pytest's temporary directories: they are private to root, and the application
    # runs as www-data.
    root = Path("/tmp") / f"pilot-movers-datahost-{label}-{os.getpid()}"
    shutil.rmtree(root, ignore_errors=True)
    return DataHost(grid, root, **options).start()


@pytest.fixture(scope="session")
def datahost(credentials: LocalGrid) -> Iterator[DataHost]:
    server = start_datahost(credentials, "main")
    # The local grid's test user is a DataHost user mapped by DN (the proxy's owner).
    server.add_user("griduser", secrets.token_urlsafe(12), dns=[credentials.user.dn])  # type: ignore[union-attr]
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture
def make_account(datahost: DataHost):
    """Create a fresh user (own storage, optional quota and groups) for the calling test."""

    def make(*, quota: Optional[int] = None, groups: tuple[str, ...] = (), dns: tuple[str, ...] = ()) -> Account:
        name = f"user{next(_COUNTER)}-{secrets.token_hex(3)}"
        password = secrets.token_urlsafe(16)
        datahost.add_user(name, password, quota=quota, groups=groups, dns=dns)
        return Account(name, password, datahost)

    return make


@pytest.fixture
def account(make_account) -> Account:
    return make_account()


@pytest.fixture
def proxy_client(datahost: DataHost) -> Iterator[DataHostClient]:
    """A pilot's client: the local grid user's RFC 3820 proxy as client certificate."""
    grid = datahost.grid
    with DataHostClient(datahost.address, ca_dir=str(grid.cert_dir), cert=str(grid.user_proxy)) as client:
        yield client


def wsgi_daemon_pids(server: DataHost) -> list[int]:
    """The mod_wsgi daemon processes of ``server`` (children of its Apache parent)."""
    parent = int((server.root / "run" / "httpd.pid").read_text().split()[0])
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and cmdline.startswith(b"(wsgi:"):
            found.append(int(entry.name))
    return found


def read_chars(pid: int) -> int:
    """Bytes the process has read through read() and friends (sockets included)."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError(f"no rchar for {pid}")


@pytest.fixture
def web_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A plain http server on 127.0.0.1 serving ``tmp_path/www`` (a source for upload from URL)."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()
