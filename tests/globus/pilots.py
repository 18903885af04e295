"""Pilots on an emulated worker node, against the emulated Globus: the seed's endpoints, a queue
config for the ``globus`` mover, the pilot's environment, ``pilot-movers run`` as a subprocess,
and what must hold after every job (no personal endpoint left, no GCP running, no secret in any
log or report)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Optional

from pilot_movers_testkit.globus import LocalGlobus
from pilot_movers_testkit.globus_emulator.tasks import Task

SEED_ENDPOINTS = ("mxp#MXP_BNL_TEST", "mxp#MXP_OU_TEST", "SITE1")
SENDJOB = (
    "--StageinGOsrc=SITE1:/home/osg_data/panda/0064.file --OutputGO=SITE1:/home/osg_data/panda/ "
    "--WorkingendpointGO=OSGDEV --Data=10mb-file.bin"
)
KEY_VALUE = (
    "globus-user=mxp globus-endpoint-in=mxp#MXP_BNL_TEST globus-endpoint-local=mxp#MXP_BNL_TEST "
    "globus-endpoint-out=mxp#MXP_OU_TEST in-mode=server dir-in=/direct/usatlas+u/mxp/ files-in=xs.sh "
    "out-mode=server dir-out=/home/usatlas1 files-out=xs.sh"
)
#: The sendJob seed's payload: a 10 MB result file.
WRITE_10MB = ["python3", "-c", "import os; open('10mb-file.bin', 'wb').write(os.urandom(10_000_000))"]
_PILOT_VARIABLES = ("X509_USER_PROXY", "GLOBUS_CLIENT_ID", "GLOBUS_CLIENT_SECRET", "GLOBUS_REFRESH_TOKEN")


class Site:
    """The emulated Globus with the seed's endpoints, one worker node (``node_tmp`` is its
    ``/tmp``, where GCP keeps its control socket) and a scratch dir for jobs."""

    def __init__(self, globus: LocalGlobus, base: Path) -> None:
        self.globus = globus
        self.base = base
        self.node_tmp = Path(tempfile.mkdtemp(prefix="gn-", dir="/tmp"))  # short: a socket path lives here

    def close(self) -> None:
        shutil.rmtree(self.node_tmp, ignore_errors=True)

    @property
    def emulator(self) -> Any:
        return self.globus.emulator

    def directory(self, endpoint: str) -> Path:
        return self.globus.endpoints[endpoint].directory

    def put(self, endpoint: str, path: str, data: bytes) -> Path:
        """A file on an endpoint, at its Globus ``path``."""
        local = self.directory(endpoint) / path.lstrip("/")
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_bytes(data)
        return local

    # -- the pilot's side ----------------------------------------------------------------------

    def env(self, **overrides: Optional[str]) -> dict[str, str]:
        """The pilot's environment: the SDK and the stand-in GCP pointed at the emulator, this
        node's /tmp, the pilot's OAuth2 client; no proxy. ``NAME=None`` removes a variable."""
        env = {k: v for k, v in os.environ.items() if k not in _PILOT_VARIABLES}
        env.update(self.globus.node_env(self.node_tmp))
        env.update({"GLOBUS_CLIENT_ID": self.globus.client_id, "GLOBUS_CLIENT_SECRET": self.globus.client_secret})
        for key, value in overrides.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def queue(self, transfer: Optional[dict[str, Any]] = None, **globus: Any) -> dict[str, Any]:
        """A queue config whose copytool is ``globus``, quick to poll and to give up."""
        settings = {
            "max_attempts": 1,
            "backoff_initial": 0.1,
            "backoff_max": 0.2,
            "backoff_jitter": 0.05,
            "watchdog_interval": 0.1,
            "stall_timeout": 30,
        }
        settings.update(transfer or {})
        options = {
            "gcp_path": str(self.globus.gcp_bin / "globusconnectpersonal"),
            "gcp_state_dir": str(self.base / "gcp-state"),
            "poll_interval": 0.1,
            "gcp_connect_timeout": 30,
            "gcp_stop_timeout": 15,
            "cancel_timeout": 15,
            "operation_timeout": 30,
        }
        options.update(globus)
        return {"copytool": "globus", "transfer": settings, "globus": options}

    def write_queue(self, name: str = "queue.json", **queue: Any) -> Path:
        path = self.base / name
        path.write_text(json.dumps(self.queue(**queue), indent=2))
        return path

    def command(
        self, params: str, payload: list[str], workdir: Path, queue: Path, report: Path, *, verbose: bool = True
    ) -> list[str]:
        return [
            sys.executable,
            "-m",
            "pilot_movers",
            *(["-v"] if verbose else []),
            "run",
            "--job-params",
            params,
            "--queue-config",
            str(queue),
            "--workdir",
            str(workdir),
            "--report",
            str(report),
            "--job-id",
            workdir.name,
            "--",
            *payload,
        ]

    def run(
        self,
        params: str,
        payload: list[str],
        workdir: Path,
        *,
        queue: Optional[Path] = None,
        env: Optional[dict[str, str]] = None,
        timeout: float = 180,
    ) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
        """``pilot-movers -v run`` as a pilot's shell wrapper runs it; its result and report."""
        report = workdir.parent / f"{workdir.name}-report.json"
        done = subprocess.run(
            self.command(params, payload, workdir, queue or self.write_queue(), report),
            env=env or self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return done, json.loads(report.read_text())

    # -- what must hold after every job ---------------------------------------------------------

    def personal_endpoints(self) -> list[str]:
        """The personal endpoints there are, by the name the job gave (``given_name``)."""
        return [given_name(e.display_name) for e in self.emulator.endpoints.all() if e.is_globus_connect]

    def gcp_running(self) -> bool:
        """Does a GCP of this user answer on this node (``-status``)?"""
        done = subprocess.run(
            [str(self.globus.gcp_bin / "globusconnectpersonal"), "-status"],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return done.returncode == 0

    def tasks(self, kind: str = "TRANSFER") -> list[Task]:
        return [t for t in self.emulator.tasks.all() if t.type == kind]

    def assert_nothing_left(self) -> None:
        """The worker endpoint deleted, GCP stopped, its private dirs removed."""
        assert self.personal_endpoints() == []
        assert not self.gcp_running()
        state = self.base / "gcp-state"
        assert not state.exists() or list(state.iterdir()) == []
        assert [t.task_id for t in self.emulator.tasks.all() if t.active] == []

    def assert_no_secret_in(self, *texts: str) -> None:
        secrets = self.emulator.issued_secrets()
        assert secrets
        for text in texts:
            leaked = [s for s in secrets if s in text]
            assert leaked == [], "a secret appears in a log or report"


def given_name(display_name: str) -> str:
    """A worker endpoint's display name (``OSGDEV pilot-movers-job-42``) -> the name its job
    gave (``OSGDEV``); other names unchanged."""
    return display_name.split(" pilot-movers-job-", maxsplit=1)[0]


def error_of(report: dict[str, Any]) -> dict[str, Any]:
    error = report["error"]
    assert error is not None, report
    return error  # type: ignore[no-any-return]


def file_errors(report: dict[str, Any], phase: str) -> list[dict[str, Any]]:
    return [f["error"] for f in report["phases"][phase]["files"] if f["error"]]
