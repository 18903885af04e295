"""Globus on one machine, for tests: the emulator on a free port of 127.0.0.1 (in a thread of this
process, so tests can also use its Python API), a confidential client, a refresh token for the
test user, endpoints mapped to directories under ``root``, and a directory with a
``globusconnectpersonal`` launcher for the stand-in GCP.

The unmodified globus-sdk finds the emulator through ``sdk_env()``; a stand-in GCP subprocess
through ``gcp_env(...)``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, TypeVar

from pilot_movers_testkit.globus_emulator.gcp import HEARTBEAT_ENV, SOCKET_DIR_ENV, write_launcher
from pilot_movers_testkit.globus_emulator.server import EmulatorServer
from pilot_movers_testkit.globus_emulator.service import Emulator, Settings

USER = "mxp"
DEFAULT_ENDPOINTS = ("mxp#MXP_BNL_TEST", "SITE1")
GCP_HEARTBEAT = 0.2
GCP_HEARTBEAT_TIMEOUT = 1.5

T = TypeVar("T")


class GlobusTestError(RuntimeError):
    """The emulated Globus could not be started, or a wait ran out."""


@dataclass(frozen=True)
class EmulatedEndpoint:
    """A pre-configured endpoint: its name, its id, and the directory that is its ``/``."""

    name: str
    id: str
    directory: Path


def wait_until(
    predicate: Callable[[], Optional[T]], timeout: float = 20.0, interval: float = 0.05, what: str = "condition"
) -> T:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise GlobusTestError(f"{what} not reached after {timeout:g} s")
        time.sleep(interval)


class LocalGlobus:
    """The emulated Globus cloud of a test; ``start()``/``stop()`` or a ``with`` block."""

    def __init__(
        self,
        root: Optional[Path] = None,
        endpoints: tuple[str, ...] = DEFAULT_ENDPOINTS,
        *,
        access_token_lifetime: float = 3600.0,
    ) -> None:
        self.root = Path(root) if root else Path(tempfile.mkdtemp(prefix="pilot-movers-globus-"))
        self._owns_root = root is None
        self.emulator = Emulator(
            Settings(access_token_lifetime=access_token_lifetime, gcp_heartbeat_timeout=GCP_HEARTBEAT_TIMEOUT)
        )
        self.server = EmulatorServer(self.emulator)
        self._endpoint_names = endpoints
        self.endpoints: dict[str, EmulatedEndpoint] = {}
        self.client_id = ""
        self.client_secret = ""
        self.refresh_token = ""
        self.user = USER

    def start(self) -> LocalGlobus:
        self.root.mkdir(parents=True, exist_ok=True)
        client = self.emulator.register_client()
        assert client.secret is not None
        self.client_id, self.client_secret = client.client_id, client.secret
        self.refresh_token = self.emulator.register_refresh_token(self.client_id, self.user)
        for name in self._endpoint_names:
            self.add_endpoint(name)
        write_launcher(self.gcp_bin)
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> LocalGlobus:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        if self._owns_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def add_endpoint(self, name: str) -> EmulatedEndpoint:
        """A mapped endpoint whose ``/`` is ``root/endpoints/<display name>``."""
        directory = self.root / "endpoints" / name.rpartition("#")[2]
        directory.mkdir(parents=True, exist_ok=True)
        endpoint = self.emulator.add_endpoint(name, directory)
        self.endpoints[name] = EmulatedEndpoint(name, endpoint.id, directory)
        return self.endpoints[name]

    # -- what clients need ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def gcp_bin(self) -> Path:
        """A directory holding an executable ``globusconnectpersonal`` (the stand-in)."""
        return self.root / "bin"

    def sdk_env(self) -> dict[str, str]:
        """``GLOBUS_SDK_SERVICE_URL_TRANSFER``/``_AUTH`` (and the stand-in's ``GLOBUS_EMULATOR_URL``)."""
        return self.server.sdk_env()

    def gcp_env(self, tmpdir: Path, home: Optional[Path] = None) -> dict[str, str]:
        """The environment of a stand-in GCP subprocess: the launcher first on PATH, its own
        TMPDIR and control socket dir (an emulated node of its own) and a quick heartbeat."""
        env = {**os.environ, **self.node_env(tmpdir)}
        env["PATH"] = f"{self.gcp_bin}{os.pathsep}{env.get('PATH', '')}"
        env["TMPDIR"] = str(tmpdir)
        if home is not None:
            env["HOME"] = str(home)
        return env

    def node_env(self, node_tmp: Path) -> dict[str, str]:
        """What a pilot on an emulated worker node runs with: the SDK pointed here, the stand-in
        GCP's quick heartbeat, and ``node_tmp`` as the node's ``/tmp`` (where every GCP of the
        node puts its control socket: one per user, as on a real node). Keep ``node_tmp`` short:
        a Unix socket path has at most 107 bytes."""
        return {**self.sdk_env(), HEARTBEAT_ENV: str(GCP_HEARTBEAT), SOCKET_DIR_ENV: str(node_tmp)}
