"""The job's own endpoint on the worker node: a Globus Connect Personal endpoint created with the
job's chosen display name, set up and started with a private config dir, reachable only under the
job's work dir, connected before the job transfers; and, whatever happened, stopped, deleted and
its config dir removed when the job ends. An endpoint the service would not delete is handed back
as a ``LeftBehind`` for the report.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Any, Optional

from pilot_movers.errors import (
    AuthenticationFailed,
    MoverError,
    SourceNotFound,
    UnknownEndpoint,
    WorkerEndpointFailed,
)
from pilot_movers.globus.endpoints import WORKER_DESCRIPTION, Endpoint, is_worker
from pilot_movers.globus.gcp import GlobusConnectPersonal
from pilot_movers.globus.gcp_install import gcp_program
from pilot_movers.globus.options import GlobusOptions
from pilot_movers.globus.service import GlobusService
from pilot_movers.holdings import DIRECTORY, PROCESS_GROUP
from pilot_movers.job_facts import Holdings, NoHoldings
from pilot_movers.secrecy import child_environment
from pilot_movers.values import LeftBehind

log = logging.getLogger(__name__)

#: A worker endpoint at the service, in the job's record: only this mover can delete it.
GLOBUS_ENDPOINT = "globus-endpoint"


def display_name(name: str) -> str:
    """``mxp#WN`` -> ``WN``: the owner part of a legacy name is the service's to set."""
    return name.rpartition("#")[2] or name


def temporary_display_name(name: str, job_id: str) -> str:
    """The display name the service shows for a job's worker endpoint: the name the job gave,
    marked as this job's temporary one (``MXP_BNL_TEST pilot-movers-job-4242``), so that it never
    makes the user's own endpoint of that name ambiguous to another job."""
    tag = "".join(c if c.isalnum() or c in "._-" else "_" for c in job_id)[:40] or secrets.token_hex(3)
    return f"{display_name(name)} pilot-movers-job-{tag}"


class WorkerEndpoint:
    """``start()`` makes it ready; ``close()`` releases everything ``start`` made, also after it
    failed half way. ``exclude`` receives the endpoint's id as soon as it exists (the resolver's
    set of the job's own endpoints)."""

    def __init__(
        self,
        service: GlobusService,
        name: str,
        workdir: str,
        options: GlobusOptions,
        *,
        exclude: set[str],
        holdings: Optional[Holdings] = None,
    ) -> None:
        self.holdings: Holdings = holdings or NoHoldings()
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
        self.holdings.hold(DIRECTORY, str(self.state_dir))  # a killed job's is removed by the next
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
                    "display_name": temporary_display_name(self.name, job_id),
                    "is_globus_connect": True,
                    "description": f"{WORKER_DESCRIPTION} of job {job_id or '(no id)'}: removed when it ends",
                },
            ),
        )
        self.endpoint = Endpoint(str(created["id"]), self.name, is_personal=True)
        self.holdings.hold(GLOBUS_ENDPOINT, self.endpoint.id)  # a killed job's is deleted by the next Globus job
        self.exclude.add(self.endpoint.id)
        log.info("Globus: worker endpoint %s created", self.endpoint)
        setup_key = created.get("globus_connect_setup_key")
        if not setup_key:
            raise WorkerEndpointFailed(f"the service gave no setup key for the worker endpoint {self.endpoint}")
        self.gcp.setup(str(setup_key))
        self.gcp.start(self.workdir)
        if self.gcp.process is not None:  # its own group; the state dir in its command line
            self.holdings.hold(PROCESS_GROUP, f"{self.gcp.process.pid} {self.state_dir}")
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
        if self.gcp is not None:
            process = self.gcp.process
            if not self.gcp.stop(self.options.gcp_stop_timeout):
                log.error("Globus Connect Personal (pid %s) could not be stopped", process and process.pid)
            elif process is not None:
                self.holdings.release(PROCESS_GROUP, f"{process.pid} {self.state_dir}")
        if self.endpoint is not None:
            endpoint = self.endpoint
            try:
                self.service.call(
                    f"deleting the worker endpoint {endpoint}", lambda tc: tc.delete_endpoint(endpoint.id)
                )
                log.info("Globus: worker endpoint %s deleted", endpoint)
                self.holdings.release(GLOBUS_ENDPOINT, endpoint.id)
                self.endpoint = None
            except MoverError as exc:
                log.error("Globus: the worker endpoint %s could not be deleted: %s", endpoint, exc.message)
                left.append(LeftBehind("globus-endpoint", endpoint.id, display_name(endpoint.name), reason=exc.message))
        if self.state_dir is not None:
            shutil.rmtree(self.state_dir, ignore_errors=True)
            if not self.state_dir.exists():
                self.holdings.release(DIRECTORY, str(self.state_dir))
            self.state_dir = None
        return left


def delete_orphan_endpoints(service: GlobusService, holdings: Holdings) -> list[str]:
    """Delete the worker endpoints killed jobs of this user on this node left (their record in
    the ledger lists them); the ids deleted. Only an endpoint that is one of pilot-movers' worker
    endpoints (a personal endpoint whose description says so) and is not connected (its GCP is
    gone) is deleted: a line a payload forged names nothing else. One the service will not delete
    now stays held, for the next Globus job; one that is gone, not ours or not ours to delete
    (403) is let go."""
    deleted = []
    for endpoint_id in holdings.left_by_dead_jobs(GLOBUS_ENDPOINT):

        def look(tc: Any, wanted: str = endpoint_id) -> Any:
            return tc.get_endpoint(wanted)

        def delete(tc: Any, doomed: str = endpoint_id) -> Any:
            return tc.delete_endpoint(doomed)

        try:
            found = service.call(f"looking at the worker endpoint {endpoint_id} a killed job left", look)
            ours = is_worker(found)
            if not ours or found.get("gcp_connected"):
                log.warning(
                    "Globus: endpoint %s, listed as left by a killed job, is %s: left alone",
                    endpoint_id,
                    "connected (a GCP runs for it)" if ours else "not a pilot-movers worker endpoint",
                )
                holdings.release(GLOBUS_ENDPOINT, endpoint_id)
                continue
            service.call(f"deleting the worker endpoint {endpoint_id} a killed job left", delete)
        except (UnknownEndpoint, SourceNotFound, AuthenticationFailed):  # gone, or not ours to delete
            holdings.release(GLOBUS_ENDPOINT, endpoint_id)
            continue
        except MoverError as exc:
            log.warning(
                "Globus: the worker endpoint %s a killed job left could not be deleted: %s", endpoint_id, exc.message
            )
            continue
        log.warning("Globus: deleted the worker endpoint %s, left by a job that was killed", endpoint_id)
        holdings.release(GLOBUS_ENDPOINT, endpoint_id)
        deleted.append(endpoint_id)
    return deleted
