"""The job's own endpoint on the worker node: a Globus Connect Personal endpoint created with the
job's chosen display name, set up and started with a private config dir, reachable only under the
job's work dir, connected before the job transfers; and, whatever happened, stopped, deleted and
its config dir removed when the job ends. An endpoint the service would not delete is handed back
as a ``LeftBehind`` for the report.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Optional

from pilot_movers.errors import MoverError, WorkerEndpointFailed
from pilot_movers.globus.endpoints import Endpoint
from pilot_movers.globus.gcp import GlobusConnectPersonal
from pilot_movers.globus.gcp_install import gcp_program
from pilot_movers.globus.options import GlobusOptions
from pilot_movers.globus.service import GlobusService
from pilot_movers.secrecy import child_environment
from pilot_movers.values import LeftBehind

log = logging.getLogger(__name__)


def display_name(name: str) -> str:
    """``mxp#WN`` -> ``WN``: the owner part of a legacy name is the service's to set."""
    return name.rpartition("#")[2] or name


class WorkerEndpoint:
    """``start()`` makes it ready; ``close()`` releases everything ``start`` made, also after it
    failed half way. ``exclude`` receives the endpoint's id as soon as it exists (the resolver's
    set of the job's own endpoints)."""

    def __init__(
        self, service: GlobusService, name: str, workdir: str, options: GlobusOptions, *, exclude: set[str]
    ) -> None:
        self.service = service
        self.name = name
        self.workdir = workdir
        self.options = options
        self.exclude = exclude
        self.endpoint: Optional[Endpoint] = None
        self.state_dir: Optional[Path] = None
        self.gcp: Optional[GlobusConnectPersonal] = None

    def start(self, job_id: str = "") -> None:
        program = gcp_program(self.options)
        if self.options.gcp_state_dir:
            os.makedirs(self.options.gcp_state_dir, exist_ok=True)
        self.state_dir = Path(tempfile.mkdtemp(prefix="pilot-movers-gcp-", dir=self.options.gcp_state_dir))
        private_tmp = self.state_dir / "tmp"
        private_tmp.mkdir(mode=0o700)
        self.gcp = GlobusConnectPersonal(
            program,
            self.state_dir / "config",
            child_environment({"TMPDIR": str(private_tmp)}, keep_prefixes=("GCP_", "GLOBUS_")),
            self.state_dir / "gcp.log",
        )
        self.gcp.refuse_if_another_runs()
        created = self.service.call(
            f"creating the worker endpoint {self.name}",
            lambda tc: tc.post(
                "/v0.10/endpoint",
                data={
                    "DATA_TYPE": "endpoint",
                    "display_name": display_name(self.name),
                    "is_globus_connect": True,
                    "description": f"pilot-movers worker endpoint of job {job_id or '(no id)'}: removed when it ends",
                },
            ),
        )
        self.endpoint = Endpoint(str(created["id"]), self.name, is_personal=True)
        self.exclude.add(self.endpoint.id)
        log.info("Globus: worker endpoint %s created", self.endpoint)
        setup_key = created.get("globus_connect_setup_key")
        if not setup_key:
            raise WorkerEndpointFailed(f"the service gave no setup key for the worker endpoint {self.endpoint}")
        self.gcp.setup(str(setup_key))
        self.gcp.start(self.workdir)
        endpoint = self.endpoint
        self.gcp.wait_connected(
            self.options.gcp_connect_timeout,
            lambda: bool(
                self.service.call(
                    f"looking at the worker endpoint {endpoint}", lambda tc: tc.get_endpoint(endpoint.id)
                ).get("gcp_connected")
            ),
        )

    def close(self) -> list[LeftBehind]:
        """Stop GCP, delete the endpoint, remove the config dir. Never raises; returns what
        could not be removed."""
        left: list[LeftBehind] = []
        if self.gcp is not None and not self.gcp.stop(self.options.gcp_stop_timeout):
            log.error(
                "Globus Connect Personal (pid %s) could not be stopped", self.gcp.process and self.gcp.process.pid
            )
        if self.endpoint is not None:
            endpoint = self.endpoint
            try:
                self.service.call(
                    f"deleting the worker endpoint {endpoint}", lambda tc: tc.delete_endpoint(endpoint.id)
                )
                log.info("Globus: worker endpoint %s deleted", endpoint)
                self.endpoint = None
            except MoverError as exc:
                log.error("Globus: the worker endpoint %s could not be deleted: %s", endpoint, exc.message)
                left.append(LeftBehind("globus-endpoint", endpoint.id, display_name(endpoint.name), reason=exc.message))
        if self.state_dir is not None:
            shutil.rmtree(self.state_dir, ignore_errors=True)
            self.state_dir = None
        return left
