"""Session fixtures: the local grid (real servers on 127.0.0.1, started once per run).

A test that needs a server fails when the server cannot be started: it never skips.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from pilot_movers_testkit.datahost import DataHost
from pilot_movers_testkit.grid import REQUIRED_PROGRAMS, LocalGrid

from pilot_movers.https_datahost.client import DataHostClient
from tests.servers import DATAHOST_USER, MARKER, wait_for_port

# Tests import the DataHost server's modules (names, identity, template filters), which leave
# Django's lazy settings unconfigured in this process; XRootD's atexit handler calls isinstance()
# on every live object, the lazy settings raise ImproperlyConfigured there, and the handler ends
# before it closes XRootD's files and stops its threads. Configured empty, they answer like any
# object (the server's own processes configure theirs).
if not django_settings.configured:
    django_settings.configure()


def pytest_report_header(config: pytest.Config) -> list[str]:
    missing = [p for p in REQUIRED_PROGRAMS.values() if shutil.which(p) is None]
    return [f"local grid programs missing: {', '.join(missing)}"] if missing else []


@pytest.fixture(scope="session", autouse=True)
def ledger_of_the_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The jobs of this session keep their ledger (pilot-movers' per-user records of what a job
    holds) apart from any other session's or a real pilot's on this machine."""
    place = tmp_path_factory.mktemp("ledger")
    saved = os.environ.get("PILOT_MOVERS_STATE_DIR")
    os.environ["PILOT_MOVERS_STATE_DIR"] = str(place)
    try:
        yield place
    finally:
        if saved is None:
            os.environ.pop("PILOT_MOVERS_STATE_DIR", None)
        else:
            os.environ["PILOT_MOVERS_STATE_DIR"] = saved


#: Files bigger than this are removed from the temporary dirs pytest keeps of failed tests.
KEEP_AT_MOST = 20_000_000


def pytest_sessionfinish(session: pytest.Session) -> None:
    """What a session leaves behind stays small: the temporary dirs of failed tests are kept for
    a look (their logs, small files), without their big files."""
    factory = getattr(session.config, "_tmp_path_factory", None)
    base = getattr(factory, "_basetemp", None) if factory is not None else None
    if base is None or not Path(base).is_dir():
        return
    for root, _dirs, files in os.walk(base):
        for name in files:
            path = Path(root) / name
            try:
                if not path.is_symlink() and path.stat().st_size > KEEP_AT_MOST:
                    path.unlink()
            except OSError:
                pass


@pytest.fixture(scope="session")
def grid(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalGrid]:
    """GridFTP, XRootD (root:// and https://) and MyProxy with a throwaway CA, for the session.

    Also points X509_CERT_DIR and X509_USER_PROXY at the grid for the whole run (the pilot's
    own proxy, from the movers' point of view)."""
    missing = [p for p in REQUIRED_PROGRAMS.values() if shutil.which(p) is None]
    if missing:
        pytest.fail(f"the local grid needs {', '.join(missing)}: run scripts/bootstrap.sh", pytrace=False)
    # Not under pytest's 0700 temp dirs: XRootD runs as nobody and must reach its files.
    root = Path("/tmp") / f"pilot-movers-grid-{os.getpid()}"
    shutil.rmtree(root, ignore_errors=True)
    grid = LocalGrid(root)
    saved = {k: os.environ.get(k) for k in ("X509_CERT_DIR", "X509_USER_PROXY")}
    try:
        grid.start()
        os.environ.update(grid.client_env())
        yield grid
    finally:
        grid.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def xrootd_https(grid: LocalGrid) -> LocalGrid:
    """The local grid, once XRootD's HTTPS port answers (XRootD opens it after its root port)."""
    wait_for_port(grid.xrootd_https_port)
    return grid


@pytest.fixture(scope="session")
def datahost(grid: LocalGrid) -> Iterator[DataHost]:
    """A DataHost on which the local grid's test user (its proxy) is ``griduser``."""
    if shutil.which("apache2") is None:
        pytest.fail("the DataHost needs apache2 with mod_gridsite and mod_wsgi: run scripts/bootstrap.sh")
    root = Path("/tmp") / f"pilot-movers-https-datahost-{os.getpid()}"
    shutil.rmtree(root, ignore_errors=True)
    server = DataHost(grid, root).start()
    assert grid.user is not None
    server.add_user(DATAHOST_USER, secrets.token_urlsafe(12), dns=[grid.user.dn])
    marker = root / MARKER
    marker.write_text("the griduser's directory\n")
    with DataHostClient(server.address, ca_dir=str(grid.cert_dir), cert=str(grid.user_proxy)) as client:
        client.put(marker, MARKER)
    marker.unlink()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
