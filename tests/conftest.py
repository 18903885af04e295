"""Session fixtures: the local grid (real servers on 127.0.0.1, started once per run).

A test that needs a server fails when the server cannot be started: it never skips.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from pilot_movers.testing.grid import REQUIRED_PROGRAMS, LocalGrid


def pytest_report_header(config: pytest.Config) -> list[str]:
    missing = [p for p in REQUIRED_PROGRAMS.values() if shutil.which(p) is None]
    return [f"local grid programs missing: {', '.join(missing)}"] if missing else []


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
