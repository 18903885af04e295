"""The ``datahost`` mover: files between this node and PanDA DataHosts (``datahost://``), through
the DataHost protocol (``DataHostClient``) with the job's proxy as client certificate.

* upload: a multipart POST to ``/datahost/transmit/`` of the engine's temporary name, the file
  streamed from disk (``file2xmit``) with the URL's user as ``username``; the adler32 computed
  while sending must be the one the server stored (and, when the job expects an adler32, the
  server refuses a file that does not have it);
* download: a GET from ``/datahost/receive/`` into the engine's temporary file, resumed with
  ``Range`` when the connection breaks (the server restarting included), checked against the
  adler32 the server recorded at upload;
* namespace: HEAD, the listing (one request for every file of a phase), rename, delete.

One client per DataHost per job, shared by the job's transfers (its connection pool sized to the
job's concurrency). Before the first request to a DataHost the mover asks who the proxy is there
(``whoami``): a URL naming another user is an authentication failure, not a silent write into
the proxy owner's space.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Optional

import requests  # noqa: F401 - the client imports it lazily; a base install must say at load it is missing

from pilot_movers.base import Mover
from pilot_movers.config_values import DURATION, HOUR, RETRIES, WORKERS, between, check_fields, option
from pilot_movers.engine.contract import (
    Capabilities,
    ChecksumSource,
    Copied,
    CopyRequest,
    CredentialKind,
    Namespace,
)
from pilot_movers.errors import AuthenticationFailed, MoverError, NoProxy, TransferFailed
from pilot_movers.https_datahost.client import DataHostClient
from pilot_movers.https_datahost.datahost_locations import SCHEME, DataHostFile, datahost_file
from pilot_movers.https_datahost.datahost_namespace import DataHostNamespace, speaking_of
from pilot_movers.https_datahost.http_errors import error_for_exception
from pilot_movers.https_datahost.interrupts import Interruptible
from pilot_movers.https_datahost.streams import make_local_parent
from pilot_movers.https_datahost.tls import DEFAULT_CA_DIR, make_adapter
from pilot_movers.library_versions import described
from pilot_movers.values import Location

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataHostOptions:
    """``[mover:datahost]``."""

    connect_timeout: float = option(30.0, DURATION, between(0.1, HOUR))
    read_timeout: float = option(300.0, DURATION, between(0.1, HOUR))
    """Seconds one wait for bytes may last (the engine's stall clock usually acts first)."""
    resume_attempts: int = option(6, RETRIES)
    """Times a download whose connection broke is resumed with Range (with a growing wait, about
    20 s in all: long enough for a DataHost to restart)."""
    pool_size: Optional[int] = option(None, WORKERS)
    """Connections kept per DataHost (default: the job's concurrency)."""
    insecure_for_tests_only: bool = False
    """Do not verify the DataHost's certificate. For tests only: logged as a warning."""

    def __post_init__(self) -> None:
        check_fields(self, where="[mover:datahost]")


class DataHostMover(Mover):
    name = "datahost"
    schemes = (SCHEME,)
    capabilities = Capabilities(
        checksums=ChecksumSource.STREAMED,
        atomic_no_clobber_rename=True,
        batched_stat=True,
        credential=CredentialKind.X509_PROXY,
    )
    Options = DataHostOptions
    options: DataHostOptions
    default_ports = {SCHEME: 443}

    @classmethod
    def library(cls) -> Optional[str]:
        return described("requests", "requests")

    def setup(self) -> None:
        self.interruptible = Interruptible()
        self._clients: dict[str, DataHostClient] = {}
        self._users: dict[str, str] = {}
        self._lock = threading.Lock()
        self._namespace = DataHostNamespace(self.client)

    # -- lifecycle -------------------------------------------------------------------------

    def open(self) -> None:
        if not self.credentials.x509_proxy:
            raise NoProxy("the datahost mover authenticates with a proxy, and the job has none")

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
            self._users.clear()
        for client in clients:
            client.close()

    def client(self, file: DataHostFile) -> DataHostClient:
        """The job's client of ``file``'s DataHost, once the proxy is known to be ``file.user``."""
        with self._lock:
            client = self._clients.get(file.address)
            if client is None:
                client = self._clients[file.address] = self._connect(file.address)
            user = self._users.get(file.address)
        if user is None:
            user = str(client.whoami()["user"])
            with self._lock:
                self._users[file.address] = user
        if user != file.user:
            raise AuthenticationFailed(
                f"the job's proxy is DataHost user {user!r} at {file.address}, but the URL names {file.user!r}",
                endpoint=f"{SCHEME}://{file.address}",
            )
        return client

    def _connect(self, address: str) -> DataHostClient:
        options = self.options
        proxy = self.credentials.x509_proxy
        return DataHostClient(
            address,
            ca_dir=self.credentials.ca_dir or DEFAULT_CA_DIR,
            cert=proxy,
            key=proxy,
            timeout=(options.connect_timeout, options.read_timeout),
            use_env_proxies=False,
            insecure_for_tests_only=options.insecure_for_tests_only,
            adapter=make_adapter(options.pool_size or self.settings.concurrency, self.interruptible),
        )

    def remote_namespace(self, location: Location) -> Namespace:
        return self._namespace

    def translate_exception(self, exc: Exception) -> MoverError:
        return error_for_exception(exc, address="the DataHost", endpoint=SCHEME)

    # -- copies ----------------------------------------------------------------------------

    def copy_file(self, request: CopyRequest) -> Copied:
        source, target = request.source, request.target
        if source.is_local == target.is_local:
            raise TransferFailed(
                f"the datahost mover copies between this node and a DataHost ({source.url} -> {target.url})",
                transient=False,
            )
        with self.interruptible.scope(request.clock):
            try:
                if target.is_local:
                    return self._download(request)
                return self._upload(request)
            except MoverError:
                request.clock.raise_if_cancelled()  # the cancel's reason, not the broken connection's
                raise

    def _progress(self, request: CopyRequest) -> Any:
        clock = request.clock

        def progress(done: int, total: Optional[int]) -> None:
            if total is not None and total != clock.size:
                clock.set_size(total)
            clock.progress(done)

        return progress

    def _download(self, request: CopyRequest) -> Copied:
        file = datahost_file(request.source)
        make_local_parent(request.target.path)
        with speaking_of(file):
            result = self.client(file).get(
                file.name,
                request.target.path,
                progress=self._progress(request),
                should_cancel=request.clock.raise_if_cancelled,
                resume_attempts=self.options.resume_attempts,
                algorithms=request.algorithms,
                in_place=True,  # the engine's own temporary name
            )
        if result.resumed:
            log.info("%s: download complete after %d resumption(s) with Range", request.spec.name, result.resumed)
        return Copied(result.size, result.checksums, verified=result.verified and request.expected_checksum is None)

    def _upload(self, request: CopyRequest) -> Copied:
        file = datahost_file(request.target)
        expected = request.expected_checksum
        declared = expected.value if expected is not None and expected.algorithm == "adler32" else None
        with speaking_of(file):
            result = self.client(file).put(
                request.source.path,
                file.name,
                checksum=declared,
                username=file.user,
                progress=self._progress(request),
                should_cancel=request.clock.raise_if_cancelled,
                algorithms=request.algorithms,
            )
        # The server stored exactly the adler32 sent (put checks), and the declared one if any.
        return Copied(result.size, result.checksums, verified=expected is None or declared is not None)
