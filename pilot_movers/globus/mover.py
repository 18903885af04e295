"""The ``globus`` mover: Globus Transfer tasks through globus-sdk, with a temporary Globus Connect
Personal endpoint for the worker node.

Opening it (once per job) authorises with the job's OAuth2 client (client credentials or a
refresh token, tokens in memory only) and, when the job names a worker endpoint
(``globus-endpoint-local=``, ``--WorkingendpointGO=``, else ``[globus] worker_endpoint``),
creates that personal endpoint, sets GCP up and starts it restricted to the work dir. A local
location (``file:///work/dir/f``) is then reached as ``WORKER_ID:/work/dir/f``.

Each batch the engine hands over becomes one transfer task per (source endpoint, destination
endpoint) pair, run on threads of their own so that the main thread stays free for signals:
expected checksums go to the service as ``external_checksum`` (a local source without one is
checksummed first, so the service verifies a known value end to end), files land under the
engine's temporary names, the tasks' ``bytes_transferred`` feeds the batch's stall and deadline
clock, and cancelling that clock cancels the tasks. Plans the service would refuse (two personal
endpoints) are refused before submission, naming both sides.

Closing it, in every outcome: running tasks cancelled, GCP stopped, the endpoint deleted (or, if
the service would not, listed in ``left_behind`` for the report), its config dir removed.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any, Iterator, Mapping, Optional

from pilot_movers.base import Mover, NodeCheck
from pilot_movers.checksums import Checksum, file_checksum
from pilot_movers.credentials.oauth import OAuthClient
from pilot_movers.engine.contract import (
    AttemptOutcome,
    Batch,
    Capabilities,
    ChecksumSource,
    CopyRequest,
    CredentialKind,
    Namespace,
)
from pilot_movers.errors import BadJobParameters, CredentialRefused, MoverError, TransferRefused
from pilot_movers.globus.endpoints import Endpoint, EndpointResolver
from pilot_movers.globus.namespace import GlobusNamespace
from pilot_movers.globus.options import GlobusOptions
from pilot_movers.globus.service import GlobusService, make_authorizer
from pilot_movers.globus.tasks import TaskItem, TaskSettings, TransferTask
from pilot_movers.globus.worker import WorkerEndpoint, delete_orphan_endpoints
from pilot_movers.library_versions import described
from pilot_movers.values import Location, Role

log = logging.getLogger(__name__)

LOCAL = ""
"""The group key of this node's files (reached through the worker endpoint)."""
_DEADLINE_MARGIN = 600.0


class GlobusMover(Mover):
    name = "globus"
    schemes = ("globus",)
    capabilities = Capabilities(
        # The Transfer API computes no checksum on request; each task verifies its files itself.
        checksums=ChecksumSource.NONE,
        batched_stat=True,
        # the service's rename refuses a target that exists (RenameFailed.Exists): no look first
        atomic_no_clobber_rename=True,
        credential=CredentialKind.OAUTH_CLIENT,
        requires_rfc3820=True,
    )
    Options = GlobusOptions
    options: GlobusOptions
    names_servers = False  # endpoints, resolved by the Transfer API

    @classmethod
    def library(cls) -> Optional[str]:
        return described("globus_sdk", "globus-sdk")

    @classmethod
    def node_checks(cls, options: Any, environ: Mapping[str, str]) -> list[NodeCheck]:
        """The pilot's OAuth2 client and GCP, when the queue authenticates with a client (a
        refresh token's jobs need neither checked here)."""
        if cls.credential_for(options) is not CredentialKind.OAUTH_CLIENT:
            return []
        from pilot_movers.globus.node_checks import globus_node_checks

        return globus_node_checks(options if isinstance(options, GlobusOptions) else GlobusOptions(), environ)

    def setup(self) -> None:
        self.service: Optional[GlobusService] = None
        self.resolver: Optional[EndpointResolver] = None
        self.worker: Optional[WorkerEndpoint] = None
        self._namespace: Optional[GlobusNamespace] = None
        self._requests = 0  # those of a service closed since

    # -- the job's session -------------------------------------------------------------------

    def open(self) -> None:
        try:
            oauth = self._oauth_client()
            authorizer = make_authorizer(
                oauth, http_timeout=self.options.http_timeout, http_retries=self.options.http_retries
            )
            self.service = GlobusService(
                oauth, authorizer, http_timeout=self.options.http_timeout, http_retries=self.options.http_retries
            )
            self.resolver = EndpointResolver(
                self.service, self.options.endpoint_ids(), search_limit=self.options.search_limit
            )
            self._namespace = GlobusNamespace(
                self.service,
                self.resolver.resolve,
                poll_interval=self.options.poll_interval,
                operation_timeout=self.options.operation_timeout,
                label=self._label("cleanup"),
            )
            delete_orphan_endpoints(self.service, self.job_facts.holdings)
            name = self.worker_endpoint_name
            if name:
                if not self.job_facts.workdir:
                    raise BadJobParameters(f"the worker endpoint {name} needs the job's work dir, and none was given")
                self.worker = WorkerEndpoint(
                    self.service,
                    name,
                    self.job_facts.workdir,
                    self.options,
                    exclude=self.resolver.own,
                    holdings=self.job_facts.holdings,
                )
                self.worker.start(self.job_facts.job_id)
        except BaseException:
            self.close()  # the job will not: the mover never opened
            raise

    def close(self) -> None:
        if self.service is not None:
            self.service.cancel_running()
        if self.worker is not None:
            self.left_behind.extend(self.worker.close())
            self.worker = None
        if self.service is not None:
            self._requests += self.service.requests
            self.service.close()
        self.service = None
        self._namespace = None

    def service_requests(self) -> Optional[int]:
        return self._requests + (self.service.requests if self.service is not None else 0)

    def _oauth_client(self) -> OAuthClient:
        """The job's OAuth2 client, else the one in the queue's credentials file."""
        if self.credentials.oauth is not None:
            return self.credentials.oauth.check()
        if self.options.credentials_file:
            return OAuthClient.from_file(self.options.credentials_file)
        raise CredentialRefused(
            "no Globus credentials: set GLOBUS_CLIENT_ID with GLOBUS_CLIENT_SECRET (or GLOBUS_REFRESH_TOKEN) in "
            "the pilot's environment, or name a credentials file in queue config [globus] credentials_file"
        )

    @property
    def worker_endpoint_name(self) -> Optional[str]:
        params = self.job_facts.params
        return params.endpoint_local or params.working_endpoint or self.options.worker_endpoint

    def _label(self, what: str) -> str:
        job = self.job_facts.job_id
        return f"pilot-movers {job} {what}" if job else f"pilot-movers {what}"

    # -- namespaces --------------------------------------------------------------------------

    def remote_namespace(self, location: Location) -> Namespace:
        if self._namespace is None:
            raise RuntimeError("the globus mover is not open")
        return self._namespace

    # -- transfers ---------------------------------------------------------------------------

    def copy_batch(self, batch: Batch) -> Iterator[tuple[CopyRequest, AttemptOutcome]]:
        """One task per endpoint pair, each on its own thread; answers as they come."""
        requests = list(batch.requests)
        if not requests:
            return
        run = _BatchRun(batch)
        batch.clock.on_cancel(run.stop.set)  # never blocks: the threads cancel the tasks
        groups: dict[tuple[str, str], list[CopyRequest]] = {}
        for request in requests:
            groups.setdefault((_side(request.source), _side(request.target)), []).append(request)
        threads: list[threading.Thread] = []
        for (source, destination), members in groups.items():
            thread = threading.Thread(
                target=self._run_group,
                args=(source, destination, members, run),
                name=f"pilot-movers-globus-{len(threads) + 1}",
                daemon=True,
            )
            threads.append(thread)
            thread.start()
        try:
            for _ in requests:
                yield run.next_answer()
        finally:
            if any(thread.is_alive() for thread in threads):
                run.stop.set()  # abandoned (a signal, an exception): the tasks are cancelled
            for thread in threads:
                thread.join()

    def _run_group(self, source: str, destination: str, requests: list[CopyRequest], run: _BatchRun) -> None:
        """Resolve the pair, refuse what the service would, checksum local sources, run the task."""
        try:
            source_endpoint = self._endpoint(source)
            destination_endpoint = self._endpoint(destination)
            if source_endpoint.is_personal and destination_endpoint.is_personal:
                raise TransferRefused(
                    f"Globus does not transfer between two personal (Globus Connect Personal) endpoints: "
                    f"{source_endpoint} -> {destination_endpoint}; give a server endpoint on one side"
                )
            items = [self._item(request, run.stop) for request in requests]
        except Exception as exc:  # every file of the group gets the answer
            error = exc if isinstance(exc, MoverError) else self.translate_exception(exc)
            if not isinstance(exc, MoverError):
                log.exception("globus mover: preparing a task failed")
            for request in requests:
                run.answer(request, request.clock.reason or error)
            return
        phase = "stage-in" if requests[0].spec.role is Role.INPUT else "stage-out"
        assert self.service is not None
        task = TransferTask(
            self.service,
            source_endpoint,
            destination_endpoint,
            items,
            TaskSettings(
                label=self._label(phase),
                poll_interval=self.options.poll_interval,
                cancel_timeout=self.options.cancel_timeout,
                deadline=max(0.0, run.batch.clock.deadline - time.monotonic()) + _DEADLINE_MARGIN,
            ),
            stop=run.stop,
            answer=run.answer,
            progress=run.progress,
            size_of=self._size_of,
        )
        run.tasks.append(task)
        task.run()

    def _endpoint(self, name: str) -> Endpoint:
        if name == LOCAL:
            if self.worker is None or self.worker.endpoint is None:
                raise BadJobParameters(
                    "files on this node can only be reached through a worker endpoint, and the job names none "
                    "(globus-endpoint-local= or --WorkingendpointGO=; or queue config [globus] worker_endpoint)"
                )
            return self.worker.endpoint
        assert self.resolver is not None
        return self.resolver.resolve(name)

    def _item(self, request: CopyRequest, stop: threading.Event) -> TaskItem:
        """The task's view of a request; a local source without an expected checksum is
        checksummed here, so the service verifies a known value at both ends."""
        checksum: Optional[Checksum] = request.expected_checksum
        if checksum is None and request.source.is_local and not stop.is_set():
            checksum = file_checksum(request.source.path, request.checksum_algorithm)
        return TaskItem(request, request.source.path, request.target.path, checksum)

    def _size_of(self, request: CopyRequest) -> int:
        """A copied file's size: looked at when it is on this node (cheap, and the engine then
        compares it with what the job expects), else the known size, else looked at remotely."""
        if request.size is not None and not request.target.is_local:
            return request.size
        found = self.namespace(request.target).stat(request.target)
        return found.size if found is not None else 0

    def translate_exception(self, exc: Exception) -> MoverError:
        if self.service is not None:
            return self.service.translate(exc, "a Globus call")
        return super().translate_exception(exc)


class _BatchRun:
    """What the threads of one batch share: the answers queue, the stop flag, the tasks."""

    def __init__(self, batch: Batch) -> None:
        self.batch = batch
        self.stop = threading.Event()
        self.tasks: list[TransferTask] = []
        self._answers: queue.Queue[tuple[CopyRequest, AttemptOutcome]] = queue.Queue()

    def answer(self, request: CopyRequest, outcome: AttemptOutcome) -> None:
        self._answers.put((request, outcome))

    def next_answer(self) -> tuple[CopyRequest, AttemptOutcome]:
        while True:  # a bounded wait: the main thread stays responsive to signals
            try:
                return self._answers.get(timeout=0.5)
            except queue.Empty:
                continue

    def progress(self) -> None:
        """The batch's bytes so far: the sum over its tasks (feeds the stall and deadline clock)."""
        self.batch.clock.progress(sum(task.bytes for task in list(self.tasks)))


def _side(location: Location) -> str:
    """The group key of one end: the endpoint name, or LOCAL for this node's files."""
    return LOCAL if location.is_local else location.netloc
