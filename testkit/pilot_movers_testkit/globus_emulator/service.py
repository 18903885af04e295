"""The emulator's state and its Python API: what the HTTP routes act on, and what in-process tests
and the admin routes use to register clients, tokens and endpoints and to inject faults.
"""

from __future__ import annotations

import collections
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

from pilot_movers_testkit.globus_emulator.auth import Client, Identity, TokenStore
from pilot_movers_testkit.globus_emulator.bookmarks import BookmarkTable
from pilot_movers_testkit.globus_emulator.endpoints import Endpoint, EndpointTable, GCPLink, PathRule
from pilot_movers_testkit.globus_emulator.errors import GCP_DISCONNECTED_MESSAGE, TransferError
from pilot_movers_testkit.globus_emulator.faults import Fault, FaultKind, FaultPlan, Target
from pilot_movers_testkit.globus_emulator.runner import RunnerSettings, TaskRunner
from pilot_movers_testkit.globus_emulator.tasks import Task, TaskTable

DEFAULT_OWNER = "emulator"


@dataclass
class Settings:
    """How the emulated services behave; every field can be changed while the emulator runs."""

    access_token_lifetime: float = 3600.0
    gcp_heartbeat_timeout: float = 3.0
    """A GCP endpoint counts as disconnected this long after its stand-in's last heartbeat."""
    successful_transfers_page_size: int = 100
    runner: RunnerSettings = field(default_factory=RunnerSettings)


class Emulator:
    """Globus Auth and Transfer as one in-memory service. Thread-safe."""

    def __init__(self, settings: Optional[Settings] = None) -> None:
        self.settings = settings or Settings()
        self.tokens = TokenStore(self.settings.access_token_lifetime)
        self.endpoints = EndpointTable(self.settings.gcp_heartbeat_timeout)
        self.tasks = TaskTable()
        self.bookmarks = BookmarkTable()
        self.faults = FaultPlan()
        self.runner = TaskRunner(self.endpoints, self.faults, self.settings.runner)
        self._gcp_secrets: list[str] = []
        self._calls: collections.Counter[str] = collections.Counter()
        self._calls_lock = threading.Lock()

    def count_call(self, method: str, route: str) -> None:
        """One Transfer API call (``GET /v0.10/operation/endpoint/<id>/ls``): what a real
        service counts against a client's rate limit."""
        with self._calls_lock:
            self._calls[f"{method} {route}"] += 1

    def api_calls(self) -> dict[str, int]:
        """The Transfer API calls made so far, by method and route."""
        with self._calls_lock:
            return dict(self._calls)

    def issued_secrets(self) -> list[str]:
        """Every secret the emulator made or was given: client secrets, refresh and access
        tokens, GCP setup keys and the stand-ins' credentials. A test or a rehearsal scans logs
        and reports for them: none may appear."""
        return self.tokens.issued_secrets() + self.endpoints.issued_setup_keys() + list(self._gcp_secrets)

    # -- settings that live in the parts ------------------------------------------------------

    @property
    def access_token_lifetime(self) -> float:
        return self.tokens.access_token_lifetime

    @access_token_lifetime.setter
    def access_token_lifetime(self, seconds: float) -> None:
        self.settings.access_token_lifetime = seconds
        self.tokens.access_token_lifetime = seconds

    @property
    def gcp_heartbeat_timeout(self) -> float:
        return self.endpoints.heartbeat_timeout

    @gcp_heartbeat_timeout.setter
    def gcp_heartbeat_timeout(self, seconds: float) -> None:
        self.settings.gcp_heartbeat_timeout = seconds
        self.endpoints.heartbeat_timeout = seconds

    # -- registration ------------------------------------------------------------------------

    def register_client(
        self, client_id: Optional[str] = None, secret: Optional[str] = None, *, native: bool = False
    ) -> Client:
        """A confidential client (``client_credentials`` grants) or a native one; see ``Client``."""
        return self.tokens.register_client(client_id, secret, native=native)

    def register_refresh_token(
        self,
        client_id: str,
        username: str = "mxp",
        *,
        token: Optional[str] = None,
        rotate: bool = False,
        lifetime: Optional[float] = None,
    ) -> str:
        """A refresh token of ``username`` for ``client_id``, rotated on each use if ``rotate``."""
        return self.tokens.register_refresh_token(client_id, username, token=token, rotate=rotate, lifetime=lifetime)

    def revoke_refresh_token(self, token: str) -> bool:
        """The next refresh with ``token`` fails with ``invalid_grant``."""
        return self.tokens.revoke_refresh_token(token)

    def add_endpoint(
        self,
        name: str,
        directory: Union[str, Path],
        *,
        endpoint_id: Optional[str] = None,
        owner: Optional[str] = None,
        description: Optional[str] = None,
    ) -> Endpoint:
        """A pre-configured endpoint whose ``/`` is ``directory``: ``mxp#MXP_BNL_TEST`` (owned by
        ``mxp``) or a plain ``SITE1`` (owned by ``owner``, default ``emulator``; a registered
        client's id makes that client's own identity the owner, as a site's service account)."""
        directory = Path(directory)
        if not directory.is_dir():
            raise ValueError(f"{directory} is not a directory")
        owner_name = name.rpartition("#")[0] or owner or DEFAULT_OWNER
        client = self.tokens.client(owner_name)
        identity = client.identity if client is not None else self.tokens.user(owner_name)
        return self.endpoints.add_mapped(name, directory, identity, endpoint_id=endpoint_id, description=description)

    def endpoint(self, name_or_id: str) -> Endpoint:
        """An endpoint by id, canonical name or display name."""
        return self.endpoints.find(name_or_id)

    # -- faults ------------------------------------------------------------------------------

    def inject(self, kind: Union[FaultKind, str], **selectors: Any) -> Fault:
        """Add a fault (see ``FaultKind`` for what each does and ``Fault`` for the selectors);
        an ``endpoint`` given by name is turned into its id."""
        if selectors.get("endpoint"):
            selectors["endpoint"] = self.endpoints.find(selectors["endpoint"]).id
        return self.faults.add(Fault(FaultKind(kind), **selectors))

    def limit_throughput(self, bytes_per_second: float, **selectors: Any) -> Fault:
        return self.inject(FaultKind.THROUGHPUT, bytes_per_second=bytes_per_second, **selectors)

    def stall(self, after_bytes: int = 0, **selectors: Any) -> Fault:
        return self.inject(FaultKind.STALL, after_bytes=after_bytes, **selectors)

    def delay_start(self, seconds: float, **selectors: Any) -> Fault:
        return self.inject(FaultKind.START_DELAY, seconds=seconds, **selectors)

    def fail_task(self, code: str = "ENDPOINT_ERROR", **selectors: Any) -> Fault:
        return self.inject(FaultKind.FAIL_TASK, code=code, **selectors)

    def deny_permission(self, path: str, **selectors: Any) -> Fault:
        return self.inject(FaultKind.PERMISSION_DENIED, path=path, **selectors)

    def corrupt(self, path: str, **selectors: Any) -> Fault:
        """Copies of files matching ``path`` arrive corrupted (CHECKSUM_MISMATCH when verified)."""
        return self.inject(FaultKind.CHECKSUM_MISMATCH, path=path, **selectors)

    def exceed_quota(self, path: str, **selectors: Any) -> Fault:
        return self.inject(FaultKind.QUOTA_EXCEEDED, path=path, **selectors)

    def take_offline(self, endpoint: str, *, inactive: bool = False) -> Fault:
        """The endpoint stops answering until the fault is removed (``inactive``: tasks show
        INACTIVE while they wait)."""
        return self.inject(FaultKind.ENDPOINT_OFFLINE, endpoint=endpoint, status="INACTIVE" if inactive else None)

    def cut_relay(self, **selectors: Any) -> Fault:
        """Personal endpoints (``endpoint`` selects one) cannot reach the relay: their GCP runs
        but never connects, as behind a firewall that blocks port 2223."""
        return self.inject(FaultKind.RELAY_UNREACHABLE, **selectors)

    def remove_fault(self, fault: Union[Fault, int]) -> bool:
        return self.faults.remove(fault.id if isinstance(fault, Fault) else fault)

    def clear_faults(self) -> None:
        self.faults.clear()

    # -- the stand-in globusconnectpersonal's link -------------------------------------------

    def gcp_setup(self, setup_key: str) -> dict[str, Any]:
        """Redeem a single-use setup key: the endpoint's id and owner, and the credential the
        stand-in proves itself with afterwards."""
        endpoint = self.endpoints.redeem_setup_key(setup_key)
        if endpoint is None:
            raise TransferError(400, "ClientError.BadRequest", "The setup key is not valid or has already been used")
        endpoint.gcp = GCPLink(secret=secrets.token_urlsafe(32))
        self._gcp_secrets.append(endpoint.gcp.secret)
        return {
            "endpoint_id": endpoint.id,
            "display_name": endpoint.display_name,
            "owner_id": endpoint.owner.id,
            "owner_username": endpoint.owner.username,
            "credential": endpoint.gcp.secret,
        }

    def gcp_heartbeat(
        self, endpoint_id: str, credential: str, *, home: str, restrict_paths: list[tuple[str, bool]]
    ) -> dict[str, Any]:
        """The stand-in is alive: remember its paths; tell it whether a task is moving bytes."""
        endpoint = self._gcp_endpoint(endpoint_id, credential)
        assert endpoint.gcp is not None
        if self.faults.find(FaultKind.RELAY_UNREACHABLE, Target(endpoint=endpoint.id)) is not None:
            return {"connected": False, "transfer_active": False}
        endpoint.gcp.home = Path(home)
        endpoint.gcp.rules = [PathRule(Path(path), bool(writable)) for path, writable in restrict_paths]
        endpoint.gcp.last_heartbeat = time.monotonic()
        endpoint.gcp.stopped = False
        moving = any(
            task.moving and endpoint in (task.source, task.destination) for task in self.tasks.all() if task.active
        )
        return {"connected": True, "transfer_active": moving}

    def gcp_disconnect(self, endpoint_id: str, credential: str) -> None:
        endpoint = self._gcp_endpoint(endpoint_id, credential)
        assert endpoint.gcp is not None
        endpoint.gcp.stopped = True

    def _gcp_endpoint(self, endpoint_id: str, credential: str) -> Endpoint:
        endpoint = self.endpoints.get(endpoint_id)
        link = endpoint.gcp
        if not endpoint.is_globus_connect or link is None or not secrets.compare_digest(link.secret, credential or ""):
            raise TransferError(403, "PermissionDenied", "Not the Globus Connect Personal of this endpoint")
        return endpoint

    # -- rules the Transfer routes share -----------------------------------------------------

    def connected(self, endpoint: Endpoint) -> bool:
        return (
            endpoint.connected(self.endpoints.heartbeat_timeout) and self.faults.endpoint_offline(endpoint.id) is None
        )

    def require_reachable(self, endpoint: Endpoint, operation: str) -> None:
        """Refuse a file operation (``DirListing``, ``Mkdir``, ``Rename``) on an endpoint that
        cannot be reached now, with the service's ``ExternalError`` codes."""
        if endpoint.is_globus_connect and not endpoint.connected(self.endpoints.heartbeat_timeout):
            raise TransferError(502, f"ExternalError.{operation}Failed.GCDisconnected", GCP_DISCONNECTED_MESSAGE)
        if self.faults.endpoint_offline(endpoint.id) is not None:
            raise TransferError(
                502,
                f"ExternalError.{operation}Failed.ConnectFailed",
                f"Could not connect to endpoint {endpoint.display_name} ({endpoint.id})",
            )

    def visible_endpoint(self, endpoint_id: str, caller: Identity) -> Endpoint:
        """An endpoint the caller may use: public ones, and private ones (GCP) they own."""
        endpoint = self.endpoints.get(endpoint_id)
        if not endpoint.public and endpoint.owner.id != caller.id:
            raise TransferError(403, "PermissionDenied", f"You do not have permission to use endpoint {endpoint_id}")
        return endpoint

    def start_task(self, task: Task) -> None:
        self.tasks.add(task)
        self.runner.start(task)

    def wait_for_task(self, task_id: str, timeout: float = 30.0) -> Optional[Task]:
        """For in-process tests: the task once it has ended (or None after ``timeout``)."""
        task = self.tasks.get(task_id)
        if task is None or not task.done.wait(timeout):
            return None
        return task
