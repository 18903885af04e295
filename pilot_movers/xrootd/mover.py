"""The ``xrootd`` mover, on the XRootD Python client.

All files of a round go into one ``CopyProcess`` with ``parallel`` jobs, which reports progress
to the engine's clock through the progress handler (which also cancels a job whose clock ran
out). Results are handed to the engine as each job ends.

Every copy is verified end to end with adler32 (or md5), with the job's expected value preset
when it has one. The copy job asks the server for no checksum: its side's is asked by the mover,
``checksum_queries`` at a time, quickly and again while the server is busy (see ``namespace``):
inside the copy job that query would sleep the 30 seconds a native XRootD server asks for when
its checksum jobs are all taken, which a hundred copies at once reach, from one client or from
several, downloads as well as uploads. A download's job checksums the local copy and compares it
with the job's expected value when there is one (no query); otherwise the mover compares it with
the server's checksum of the source. An upload's job checksums the local source; the mover
compares it with the server's checksum of the copy.

The XRootD client keeps one connection per ``user@host:port`` for the whole process and
authenticates it once: a job whose proxy differs from the pilot's would silently reuse the
pilot's connection. So URLs carry a login derived from the proxy file (path, size, mtime), which gives each
credential its own connection, and name the proxy for GSI (``xrd.gsiusrpxy``), which makes
that connection authenticate with it.

The client's own connection retries are kept short (``connection_window`` seconds,
``connection_retry`` tries): retrying is the engine's job, with backoff and a cap.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Optional

from XRootD import client

from pilot_movers.base import Mover
from pilot_movers.checksums import Checksum
from pilot_movers.config_values import (
    ATTEMPTS,
    BYTES,
    DAY,
    HOUR,
    KIB,
    MIB,
    SECONDS,
    WORKERS,
    between,
    check_fields,
    option,
)
from pilot_movers.engine.contract import (
    AttemptOutcome,
    Batch,
    Capabilities,
    ChecksumSource,
    Copied,
    CopyRequest,
    CredentialKind,
    Namespace,
)
from pilot_movers.errors import (
    ChecksumsDiffer,
    MoverError,
    Scope,
    SizeMismatch,
    TransferFailed,
    as_mover_error,
)
from pilot_movers.library_versions import described
from pilot_movers.oserrors import full_disk
from pilot_movers.values import Location
from pilot_movers.xrootd.errors import from_status
from pilot_movers.xrootd.namespace import XRootDNamespace

#: XRootD client settings (XrdCl environment names) this mover sets, and their defaults here.
CLIENT_SETTINGS = {
    "connection_window": "ConnectionWindow",
    "connection_retry": "ConnectionRetry",
    "stream_error_window": "StreamErrorWindow",
    "request_timeout": "RequestTimeout",
}
_ROOT_SCHEMES = ("root", "xroot", "roots")
#: Seconds an abandoned copy (the job is stopping) is waited for before the job goes on.
ABANDON_WAIT = 0.5
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class XRootDOptions:
    """``[mover:xrootd]``."""

    parallel: Optional[int] = option(None, WORKERS)
    """Copy jobs at once (default: the job's ``concurrency``)."""
    chunk_size: int = option(8 * 1024 * 1024, BYTES, between(KIB, 256 * MIB))
    parallel_chunks: int = option(4, between(1, 64))
    checksum_queries: int = option(4, between(1, 100))
    """Uploads' checksum queries in flight at once (a native server runs ``xrootd.chksum max``
    checksum jobs at once, 4 by default, and queues three times that)."""
    connection_window: int = option(10, SECONDS, between(1, HOUR))
    """Seconds the client tries to connect before giving up (the engine retries, with backoff)."""
    connection_retry: int = option(1, ATTEMPTS)
    stream_error_window: int = option(0, SECONDS, between(0, DAY))
    request_timeout: int = option(300, SECONDS, between(1, DAY))

    def __post_init__(self) -> None:
        check_fields(self, where="[mover:xrootd]")


class XRootDMover(Mover):
    name = "xrootd"
    schemes = _ROOT_SCHEMES
    capabilities = Capabilities(
        checksums=ChecksumSource.SERVER, batched_stat=True, credential=CredentialKind.X509_PROXY
    )
    default_ports = {"root": 1094, "xroot": 1094, "roots": 1094}

    @classmethod
    def library(cls) -> Optional[str]:
        return described("XRootD", "xrootd")

    Options = XRootDOptions
    options: XRootDOptions

    def setup(self) -> None:
        self._namespace: Optional[XRootDNamespace] = None
        self._queries: Optional[ThreadPoolExecutor] = None
        self.login: Optional[str] = None
        #: Bumped when a copy was cancelled: its connection may still carry the abandoned
        #: chunks (the client multiplexes every request to a server over one connection, so a
        #: stat would wait behind them), and later requests go over a new one.
        self.generation = 0
        #: Most copy jobs that ran at once in this mover's life (observability, and tests).
        self.peak_parallel = 0

    @property
    def proxy(self) -> Optional[str]:
        return self.credentials.x509_proxy

    @property
    def parallel(self) -> int:
        return self.options.parallel or self.settings.concurrency

    def open(self) -> None:
        for key, name in CLIENT_SETTINGS.items():
            client.EnvPutInt(name, getattr(self.options, key))
        self.login = channel_login(self.proxy)
        self._namespace = XRootDNamespace(self.server_url, self.credential_query)

    def close(self) -> None:
        if self._queries is not None:
            self._queries.shutdown(wait=False, cancel_futures=True)
            self._queries = None
        self._namespace = None

    # -- URLs ------------------------------------------------------------------------------

    def server_url(self, location: Location) -> str:
        netloc = location.netloc.rpartition("@")[2]
        login = self.login if not self.generation else f"{self.login or 'pm'}g{self.generation}"
        return f"{location.scheme}://{login}@{netloc}" if login else f"{location.scheme}://{netloc}"

    def credential_query(self) -> str:
        """The URL parameters that make GSI authenticate with the job's proxy."""
        return f"?xrd.gsiusrpxy={self.proxy}" if self.proxy else ""

    def url(self, location: Location) -> str:
        """A location as the XRootD client wants it: root://login@host:port//path?..., or a local path."""
        if location.is_local:
            return location.path
        return f"{self.server_url(location)}/{location.path}{self.credential_query()}"

    def remote_namespace(self, location: Location) -> Namespace:
        return self._xrootd_namespace()

    def _xrootd_namespace(self) -> XRootDNamespace:
        if self._namespace is None:
            self._namespace = XRootDNamespace(self.server_url, self.credential_query)
        return self._namespace

    # -- copies ----------------------------------------------------------------------------

    def copy_batch(self, batch: Batch) -> Iterator[tuple[CopyRequest, AttemptOutcome]]:
        pending = list(batch.requests)
        process = client.CopyProcess()
        process.parallel(max(1, min(self.parallel, len(pending))))
        for request in pending:
            expected = request.expected_checksum
            process.add_job(
                self.url(request.source),
                self.url(request.target),
                force=False,
                posc=not request.target.is_local,
                mkdir=True,
                checksummode=_checksum_mode(request),
                checksumtype=(expected.algorithm if expected else request.checksum_algorithm),
                checksumpreset=expected.value if expected else "",
                rmBadCksum=True,
                chunksize=self.options.chunk_size,
                parallelchunks=self.options.parallel_chunks,
            )
        status = process.prepare()
        if not status.ok:
            raise from_status(status, what="preparing the copy")
        settled: queue.Queue[tuple[CopyRequest, AttemptOutcome]] = queue.Queue()
        batch.clock.on_cancel(self._new_connection)
        for request in pending:
            request.clock.on_cancel(self._new_connection)
        handler = _ProgressHandler(pending, self._router(settled))
        runner = threading.Thread(target=handler.run, args=(process,), name="pilot-movers-xrootd", daemon=True)
        runner.start()
        finished = False
        try:
            for _ in pending:
                yield settled.get()
            finished = True
        finally:
            self.peak_parallel = max(self.peak_parallel, handler.peak)

            # When abandoned, every clock is cancelled: the client sees should_cancel after its
            # current chunk, which on a slow link can take seconds. The job's cleanup does not
            # wait for that: the copy's thread is a daemon, writing to a name the cleanup removes.
            runner.join(None if finished else ABANDON_WAIT)
            if runner.is_alive():
                log.warning("the XRootD copy did not stop within %.1f s; the job goes on without it", ABANDON_WAIT)

    def _new_connection(self) -> None:
        """A copy was cancelled: later requests go over a new connection (see ``generation``)."""
        self.generation += 1
        log.debug("an XRootD copy was cancelled: later requests use a new connection")

    def _router(
        self, settled: queue.Queue[tuple[CopyRequest, AttemptOutcome]]
    ) -> Callable[[CopyRequest, dict[str, Any]], None]:
        """Where each ended copy job goes: a copied upload to the checksum queries, the rest
        straight to the engine."""
        if self._queries is None:
            self._queries = ThreadPoolExecutor(self.options.checksum_queries, thread_name_prefix="pilot-movers-xrdcks")
        queries = self._queries

        def settle(request: CopyRequest, results: dict[str, Any]) -> None:
            try:
                outcome = self._compared_outcome(request, results)
            except Exception as exc:  # noqa: BLE001 - every file gets an answer
                outcome = as_mover_error(exc)
            settled.put((request, outcome))

        def route(request: CopyRequest, results: dict[str, Any]) -> None:
            status = results.get("status")
            if status is None or not status.ok or _checksum_mode(request) == "end2end":
                settled.put((request, self._outcome(request, results)))
            else:
                queries.submit(settle, request, results)

        return route

    def _compared_outcome(self, request: CopyRequest, results: dict[str, Any]) -> AttemptOutcome:
        """A copy the client wrote and closed, whose server side's checksum the mover asks for."""
        if request.target.is_local:
            return self._download_outcome(request, results)
        return self._upload_outcome(request, results)

    def _download_outcome(self, request: CopyRequest, results: dict[str, Any]) -> AttemptOutcome:
        """A download with no expected value: the client's checksum of the local copy against the
        server's of the source."""
        copied = self._outcome(request, results)
        if not isinstance(copied, Copied):
            return copied
        algorithm = request.checksum_algorithm
        copy = _parse_checksum(results["targetCheckSum"]) if results.get("targetCheckSum") else None
        if copy is None or copy.algorithm != algorithm:
            return TransferFailed(f"the XRootD client gave no {algorithm} of {request.spec.name}", transient=True)
        source = self._xrootd_namespace().checksum_of_new(request.source, algorithm, copied.bytes)
        return _compared(copy, source, copied.bytes)

    def _upload_outcome(self, request: CopyRequest, results: dict[str, Any]) -> AttemptOutcome:
        """An upload the client wrote and closed: the server's checksum of the copy against the
        source's (computed by the client while preparing, or the job's expected value)."""
        expected = request.expected_checksum
        algorithm = expected.algorithm if expected else request.checksum_algorithm
        source = _parse_checksum(results["sourceCheckSum"]) if results.get("sourceCheckSum") else expected
        size = int(results.get("size") or 0)
        copy = self._xrootd_namespace().checksum_of_new(request.target, algorithm, size)
        if source is None or source.algorithm != copy.algorithm:
            return TransferFailed(f"the XRootD client gave no {algorithm} of {request.spec.name}", transient=True)
        return _compared(copy, source, size)

    def _outcome(self, request: CopyRequest, results: dict[str, Any]) -> AttemptOutcome:
        status = results.get("status")
        if status is None:
            return TransferFailed("the XRootD client returned no status for this job", transient=True)
        if not status.ok:
            local = Scope.SOURCE if request.source.is_local else Scope.DESTINATION
            remote = Scope.DESTINATION if not request.target.is_local else Scope.SOURCE
            error = from_status(status, local_what=request.spec.name, local_scope=local, remote_scope=remote)
            if isinstance(error, ChecksumsDiffer):
                return _mismatch_with_values(error, request, results)
            return error
        checksums = tuple(
            _parse_checksum(results[key]) for key in ("targetCheckSum", "sourceCheckSum") if results.get(key)
        )
        size = int(results.get("size") or 0)
        if request.target.is_local:
            landed = os.stat(request.target.path).st_size
            if size and landed != size:  # the client let a local write fail unsaid (a full disk)
                return _short_copy(request.target.path, landed, size)
            size = landed
        # End to end: the target's checksum is computed on the target and compared with the
        # source's (or the job's) by the client: nothing left for the engine to look at.
        return Copied(size, checksums[:1], verified=bool(checksums), at_target=bool(checksums))


def _compared(copy: Checksum, source: Checksum, size: int) -> AttemptOutcome:
    """The copy's checksum against its source's, as either side gave it: verified where the copy
    lies, or what the mover saw differ (the engine judges)."""
    if source != copy:
        return ChecksumsDiffer(
            f"{copy.algorithm} of the copy is {copy.value}, the source has {source.value}",
            algorithm=copy.algorithm,
            source_differs=False,
        )
    return Copied(size, (copy,), verified=True, at_target=True)


def _checksum_mode(request: CopyRequest) -> str:
    """What the copy job checksums: with the job's expected value preset, a download's job
    compares its copy with it (no query); otherwise the job checksums its local side, and the
    mover asks the server for the other (see the module's notes)."""
    if request.target.is_local:
        return "end2end" if request.expected_checksum is not None else "target"
    return "source"


def _short_copy(path: str, landed: int, size: int) -> MoverError:
    """A download whose local copy holds fewer bytes than the source: the XRootD client's
    end-to-end checksum is of the bytes it meant to write, not of the copy, and a local write it
    lets fail (ENOSPC) goes unsaid. A full disk is NoSpace; anything else a truncated copy."""
    return full_disk(path, landed, expected=size) or SizeMismatch(
        f"{path} holds {landed} bytes, the source {size}", transient=True
    )


def channel_login(proxy: Optional[str]) -> Optional[str]:
    """A login name unique to a proxy file's identity and content (``pm`` + 12 hex digits)."""
    if not proxy:
        return None
    try:
        info = os.stat(proxy)
    except OSError:
        return None
    key = f"{os.path.realpath(proxy)}:{info.st_size}:{info.st_mtime_ns}:{info.st_ino}"
    return "pm" + hashlib.sha256(key.encode()).hexdigest()[:12]


def _mismatch_with_values(error: ChecksumsDiffer, request: CopyRequest, results: Mapping[str, Any]) -> MoverError:
    """The client's end-to-end mismatch said as every transport says it: the algorithm (md5 is
    GETMD5MISMATCH, 1145, as on GridFTP) and both values, from the client's results; the engine
    judges whose fault it is."""
    expected = request.expected_checksum
    algorithm = expected.algorithm if expected else request.checksum_algorithm
    found = str(results.get("targetCheckSum") or "").partition(":")[2] or "not reported"
    if expected is not None:
        wanted = f"the job expects {expected.value}"
    else:
        wanted = f"the source has {str(results.get('sourceCheckSum') or '').partition(':')[2] or 'not reported'}"
    return ChecksumsDiffer(
        f"{request.spec.name}: {algorithm} of the copy is {found}, {wanted}",
        algorithm=algorithm,
        source_differs=error.source_differs,
        errno=error.errno,
    )


def _parse_checksum(text: str) -> Checksum:
    algorithm, _, value = str(text).partition(":")
    return Checksum(algorithm, value)


class _ProgressHandler:
    """XRootD's progress handler: starts each job's clock, feeds it bytes, asks whether to
    cancel, and hands each job's results to ``ended`` as it ends. Job ids count from 1 in add
    order."""

    def __init__(self, requests: list[CopyRequest], ended: Callable[[CopyRequest, dict[str, Any]], None]) -> None:
        self.requests = requests
        self.ended = ended
        self._reported: set[int] = set()
        self._lock = threading.Lock()
        self.active = 0
        self.peak = 0

    def run(self, process: Any) -> None:
        try:
            _, results = process.run(self)
        except Exception as exc:  # noqa: BLE001 - every job must get an answer
            results = [{"status": None, "exception": exc}] * len(self.requests)
        for index, result in enumerate(results):
            if index not in self._reported:  # jobs that never started (or whose end was lost)
                self._reported.add(index)
                self.ended(self.requests[index], dict(result))

    def begin(self, job_id: int, total: int, source: Any, target: Any) -> None:
        with self._lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        # The client counts a download per chunk and an upload as it queues the bytes (a
        # healthy upload's last chunks drain unreported): the engine's clocks also watch the
        # connection's own bytes (``engine.wire``).
        self.requests[job_id - 1].clock.start()

    def update(self, job_id: int, processed: int, total: int) -> None:
        clock = self.requests[job_id - 1].clock
        if total:
            clock.set_size(int(total))
        clock.progress(int(processed))

    def should_cancel(self, job_id: int) -> bool:
        return self.requests[job_id - 1].clock.cancelled.is_set()

    def end(self, job_id: int, results: dict[str, Any]) -> None:
        with self._lock:
            self.active -= 1
        index = job_id - 1
        self._reported.add(index)
        self.ended(self.requests[index], dict(results))
