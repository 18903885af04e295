"""The ``gridftp`` mover, on gfal2's Python binding.

A batch is spread evenly over ``concurrency`` lanes; each lane runs on its own thread with a gfal2
context borrowed from a pool kept warm for the mover's (the job's) life (a warm context reuses its
GridFTP session: no new GSI handshake per file), in bulk ``filecopy`` calls of ``bulk_size`` files.

Integrity between GridFTP and local files is checked here, each side checksummed once, in parallel
with the copy (no second pass over a file):

* a download: the local copy's checksum is computed while gfal2 writes it (``follower``), and
  compared with the job's expected value, or else with the server's checksum of the source,
  fetched on another context while the copy runs;
* an upload: the local file's checksum is computed while gfal2 reads it (and a file that is not
  what the job expects is refused), then compared with the server's checksum of what it received.

Server-to-server copies are verified by gfal2 itself (checksum modes ``both`` / ``target``); their
per-file values go to the bulk call as bare, zero-padded values: in gfal2 2.21 and its binding the
type of a ``TYPE:VALUE`` string loses its last character, and strings shorter than 16 characters
reach the C code as dangling pointers.

Progress reaches the clocks from the follower (local ends) or gfal2's monitor callback
(server-to-server copies).
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
import queue
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Optional, Union

import gfal2

from pilot_movers.base import Mover
from pilot_movers.checksums import Checksum, file_checksum, matching
from pilot_movers.config_values import BYTES, GIB, PIB, between, check_fields, option
from pilot_movers.engine import probes
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
    NoSpace,
    ServiceUnavailable,
    TransferCancelled,
)
from pilot_movers.gridftp import guc
from pilot_movers.gridftp.contexts import ContextPool, Lease
from pilot_movers.gridftp.errors import from_gerror
from pilot_movers.gridftp.follower import Followed, Follower
from pilot_movers.gridftp.namespace import Gfal2Namespace
from pilot_movers.oserrors import full_disk
from pilot_movers.process_env import set_default
from pilot_movers.values import Location
from pilot_movers.version import __version__

log = logging.getLogger(__name__)

# gfal2's xrootd plugin (root:// through this mover) takes XrdCl's settings from the process
# environment, once, when the first context is made, and has no other knob: with XrdCl's defaults
# a refused connection is tried for 8 minutes (5 windows of 120 s), and no cancel reaches it. The
# xrootd mover sets the same short window in its own client; a site's own values win.
set_default("XRD_CONNECTIONRETRY", "1")
set_default("XRD_CONNECTIONWINDOW", "10")

# gfal2's binding logs every plugin load at INFO; keep that out of pilot logs unless asked for.
if logging.getLogger("gfal2").level == logging.NOTSET:
    logging.getLogger("gfal2").setLevel(logging.WARNING)

#: errnos of an upload whose data channel the server broke off (a full disk among the causes).
_BROKEN_OFF = (errno.ECOMM, errno.ECONNRESET, errno.EPIPE)
#: gfal2's event side for the source of a copy (gfal_event_side_t: source, destination, both).
GFAL_EVENT_SOURCE = 0

#: gfal2 plugin -> the URL schemes it serves.
PLUGIN_SCHEMES = {
    "gridftp": ("gsiftp", "ftp"),
    "http": ("https", "http", "davs", "dav"),
    "xrootd": ("root", "xroot", "roots"),
    "srm": ("srm",),
    "sftp": ("sftp",),
    "dcap": ("dcap", "gsidcap"),
}


def new_context() -> Any:
    """A gfal2 context, leaving the calling thread's signal mask as it was: creating one blocks
    every signal in the thread (the Globus toolkit's doing), which would leave a pilot deaf to
    SIGTERM and its children (the payload) started with SIGTERM blocked."""
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    try:
        return gfal2.creat_context()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def installed_schemes() -> tuple[str, ...]:
    """The schemes of the gfal2 plugins installed here (gridftp first)."""
    names = [name.rsplit("-", 1)[0] for name in new_context().get_plugin_names()]
    found: list[str] = []
    for plugin in sorted(names, key=lambda n: n != "gridftp"):
        found.extend(PLUGIN_SCHEMES.get(plugin, ()))
    return tuple(dict.fromkeys(found))


@dataclass(frozen=True)
class GridFTPOptions:
    """``[mover:gridftp]``."""

    nbstreams: int = option(1, between(1, 64))
    """Parallel TCP streams per file (GridFTP mode E)."""
    tcp_buffersize: int = option(0, BYTES, between(0, GIB))
    """TCP buffer size in bytes (0: the system's)."""
    bulk_size: int = option(200, between(1, 10_000))
    """Files per gfal2 bulk call (a lane's share is cut into calls of at most this many)."""
    pipelined: bool = True
    """Move batches of small files between GridFTP and local disk with globus-url-copy's pipelined
    engine (when installed) instead of one gfal2 copy each."""
    small_file_size: int = option(16 * 1024 * 1024, BYTES, between(0, PIB))
    """Files up to this size (when the job gives it; else every file of a batch larger than the
    concurrency) take the pipelined path."""

    def __post_init__(self) -> None:
        check_fields(self, where="[mover:gridftp]")


class GridFTPMover(Mover):
    name = "gridftp"
    schemes = installed_schemes()
    capabilities = Capabilities(checksums=ChecksumSource.SERVER, credential=CredentialKind.X509_PROXY)
    default_ports = {"gsiftp": 2811, "ftp": 21}

    @classmethod
    def library(cls) -> Optional[str]:
        """gfal2's own version (2.21.3) and its Python binding's (1.12.0)."""
        binding = getattr(gfal2, "__version__", None)
        return f"gfal2 {gfal2.get_version()}" + (f" (Python binding {binding})" if binding else "")

    Options = GridFTPOptions
    options: GridFTPOptions

    def setup(self) -> None:
        self._copies: Optional[ContextPool] = None
        self._lookups: Optional[ContextPool] = None
        self._lock = threading.Lock()
        self._active_calls = 0
        #: Most bulk calls that ran at once in this mover's life (observability, and tests).
        self.peak_parallel = 0

    # -- sessions --------------------------------------------------------------------------

    def open(self) -> None:
        size = self.settings.concurrency
        self._copies = ContextPool(self._new_context, size)
        self._lookups = ContextPool(self._new_context, size)
        self._copies.link(self._lookups)

    def close(self) -> None:
        for pool in (self._copies, self._lookups):
            if pool is not None:
                pool.close()

    def _new_context(self) -> Any:
        context = new_context()
        context.set_user_agent("pilot-movers", __version__)
        proxy = self.credentials.x509_proxy  # per context: never the process's X509_USER_PROXY
        if proxy:
            context.set_opt_string("X509", "CERT", proxy)
            context.set_opt_string("X509", "KEY", proxy)
        return context

    @property
    def contexts_made(self) -> int:
        """gfal2 contexts made over the mover's life: a warm pool makes few (observability)."""
        return sum(pool.contexts_made for pool in (self._copies, self._lookups) if pool is not None)

    def _pools(self) -> tuple[ContextPool, ContextPool]:
        if self._copies is None or self._lookups is None:
            raise RuntimeError("the gridftp mover is not open")
        return self._copies, self._lookups

    def remote_namespace(self, location: Location) -> Namespace:
        return Gfal2Namespace(self._pools()[1])

    def translate_exception(self, exc: Exception) -> MoverError:
        if isinstance(exc, gfal2.GError):
            return from_gerror(exc)
        return super().translate_exception(exc)

    # -- copies ----------------------------------------------------------------------------

    def copy_batch(self, batch: Batch) -> Iterator[tuple[CopyRequest, AttemptOutcome]]:
        """Small files between GridFTP and local disk through the pipelined engine; the rest in
        lanes of gfal2 bulk calls, each lane on a thread of its own with a warm context (even one:
        gfal2 holds its thread inside C for a whole copy, and the main thread must stay free to
        act on SIGTERM). Answers are handed back as each call ends."""
        requests = list(batch.requests)
        small = [r for r in requests if self._pipelined(r, len(requests))]
        rest = [r for r in requests if not self._pipelined(r, len(requests))]
        answers: queue.Queue[Optional[list[tuple[CopyRequest, AttemptOutcome]]]] = queue.Queue()
        threads = []
        if small:
            threads.append(threading.Thread(target=self._run_pipelined, args=(small, batch, answers), daemon=True))
        count = max(1, min(batch.parallel, len(rest)))
        threads += [
            threading.Thread(target=self._run_lane, args=(rest[i::count], answers), daemon=True)
            for i in range(count)
            if rest[i::count]
        ]
        for thread in threads:
            thread.name = "pilot-movers-gridftp"
            thread.start()
        running = len(threads)
        try:
            while running:
                chunk = answers.get()
                if chunk is None:
                    running -= 1
                    continue
                yield from chunk
        finally:  # when abandoned, the engine has cancelled every clock: the calls end soon
            for thread in threads:
                thread.join()

    def _pipelined(self, request: CopyRequest, batch_size: int) -> bool:
        if not (self.options.pipelined and guc.available()):
            return False
        if request.source.is_local == request.target.is_local:  # server to server, or local
            return False
        if request.size is not None:
            return request.size <= self.options.small_file_size
        return batch_size > self.settings.concurrency

    def _run_pipelined(self, requests: list[CopyRequest], batch: Batch, answers: queue.Queue[Any]) -> None:
        """One globus-url-copy run for the small files (``parallel`` at once, pipelined); each
        file it moved is verified here; each it did not goes through gfal2, for a typed answer."""
        try:
            sources = _SourceChecksums(self, [r for r in requests if r.target.is_local and r.expected_checksum is None])
            uploads = [r for r in requests if r.source.is_local]
            local = Follower([r.source.path for r in uploads], [r.algorithms for r in uploads], sealed=len(uploads))
            failed = guc.copy_files(
                [guc.Pair(r.source.url, r.target.url) for r in requests],
                parallel=batch.parallel,
                environment={k: v for k, v in self.credentials.environment().items() if k.startswith("X509_")},
                progress=batch.clock.progress,
                cancelled=batch.clock.cancelled,
                stall_timeout=self.settings.stall_timeout,
            )
            read = dict(zip((id(r) for r in uploads), local.finish()))
            values = sources.finish()
            moved = [r for i, r in enumerate(requests) if i not in failed]
            answers.put(self._verify_moved(moved, values, read))
            retry = [r for i, r in enumerate(requests) if i in failed and r.clock.reason is None]
            cancelled = [(r, r.clock.reason) for i, r in enumerate(requests) if i in failed and r.clock.reason]
            if cancelled:
                answers.put(cancelled)
            if retry:
                for request in retry:  # what globus-url-copy left half-made, gfal2 must not find
                    try:
                        self.namespace(request.target).remove(request.target)
                    except MoverError as exc:
                        log.debug("could not clear %s before retrying it: %s", request.target, exc)
                self._run_lane(retry, answers, last=False)
        except MoverError as exc:
            answers.put([(r, exc) for r in requests])
        finally:
            answers.put(None)

    def _verify_moved(
        self,
        requests: list[CopyRequest],
        sources: dict[int, Union[Checksum, MoverError]],
        read: dict[int, Optional[Followed]],
    ) -> list[tuple[CopyRequest, AttemptOutcome]]:
        """Checksums of what the pipelined engine moved, compared with the job's or the server's."""
        _, lookups = self._pools()
        namespace = Gfal2Namespace(lookups)

        def one(request: CopyRequest) -> tuple[CopyRequest, AttemptOutcome]:
            try:
                if request.target.is_local:
                    reference = request.expected_checksum or sources.get(id(request))
                    if isinstance(reference, MoverError):
                        return request, reference
                    copy = _read_back(request)  # small, just written: from the page cache
                    outcome = _compared(request, copy, reference, "the source")
                    if isinstance(outcome, MoverError):  # globus-url-copy may stop at a full disk unsaid
                        return request, full_disk(request.target.path, copy.bytes) or outcome
                    return request, outcome
                mine = read.get(id(request)) or _read_back(request, request.source.path)
                return request, self._compare_upload(namespace, request, mine)
            except MoverError as exc:
                return request, exc

        if not requests:
            return []
        with ThreadPoolExecutor(self.settings.concurrency, thread_name_prefix="pilot-movers-gridftp-verify") as pool:
            return list(pool.map(one, requests))

    def _compare_upload(self, namespace: Namespace, request: CopyRequest, mine: Followed) -> AttemptOutcome:
        """An upload: the local file as the job expects it, and the server's copy like it."""
        expected = request.expected_checksum
        algorithm = expected.algorithm if expected else request.checksum_algorithm
        local = matching(algorithm, mine.checksums)
        if expected is not None and local != expected:
            return ChecksumsDiffer(
                f"{request.source.path} has {local}, the job expects {expected}",
                algorithm=algorithm,
                source_differs=True,
            )
        received = namespace.checksum(request.target, algorithm)
        outcome = _compared(request, Followed(mine.bytes, (received,)), local, request.source.path)
        if isinstance(outcome, Copied) and outcome.verified:
            # the server checksummed the copy where it lies: the engine need not stat it
            return dataclasses.replace(outcome, at_target=True)
        return outcome

    def _run_lane(self, lane: list[CopyRequest], answers: queue.Queue[Any], *, last: bool = True) -> None:
        """``lane``'s files in bulk calls on one borrowed context; ``last``: then say it is done."""
        copies, _ = self._pools()
        size = self.options.bulk_size
        try:
            with copies.borrow() as lease:
                for start in range(0, len(lane), size):
                    chunk = lane[start : start + size]
                    try:
                        answers.put(self._copy_chunk(lease, chunk))
                    except Exception as exc:
                        log.exception("gridftp: a bulk call failed unexpectedly")
                        error = self.translate_exception(exc)
                        answers.put([(request, error) for request in chunk])
        except MoverError as exc:  # no context could be made
            answers.put([(request, exc) for request in lane])
        finally:
            if last:
                answers.put(None)

    def _copy_chunk(self, lease: Lease, requests: list[CopyRequest]) -> list[tuple[CopyRequest, AttemptOutcome]]:
        """Copy a chunk: cancelled files are answered at once; downloads, uploads and
        server-to-server copies each in a bulk call of their own."""
        results: dict[int, AttemptOutcome] = {}
        downloads, uploads, third_party = [], [], []
        for request in requests:
            if request.clock.reason is not None:
                results[id(request)] = request.clock.reason
            elif request.target.is_local:
                downloads.append(request)
            elif request.source.is_local:
                uploads.append(request)
            else:
                third_party.append(request)
        if downloads:
            results.update(self._download(lease, downloads))
        if uploads:
            results.update(self._upload(lease, uploads))
        if third_party:
            results.update(self._third_party(lease, third_party))
        return [(r, results[id(r)]) for r in requests]

    # -- GridFTP to local ------------------------------------------------------------------

    def _download(self, lease: Lease, requests: list[CopyRequest]) -> dict[int, AttemptOutcome]:
        """The copies' checksums are computed while gfal2 writes them; each is compared with the
        job's expected value, or with the server's checksum of its source (fetched meanwhile)."""
        need_source = [r for r in requests if r.expected_checksum is None]
        sources = _SourceChecksums(self, need_source)
        follower = self._follower(requests, (r.target.path for r in requests), sealed=0)
        errors = self._bulk(lease, requests, follower=follower)
        followed = follower.finish() if follower else [None] * len(requests)
        source_values = sources.finish()
        results: dict[int, AttemptOutcome] = {}
        for index, (request, error) in enumerate(zip(requests, errors)):
            if error is not None:
                results[id(request)] = error
                continue
            reference = request.expected_checksum or source_values.get(id(request))
            if isinstance(reference, MoverError):
                results[id(request)] = reference
                continue
            results[id(request)] = _judged_download(request, followed[index], reference)
        return results

    # -- local to GridFTP ------------------------------------------------------------------

    def _upload(self, lease: Lease, requests: list[CopyRequest]) -> dict[int, AttemptOutcome]:
        """The local files' checksums are computed while gfal2 reads them; a file that is not what
        the job expects is refused; what the server received is compared with them."""
        follower = Follower([r.source.path for r in requests], [r.algorithms for r in requests], sealed=len(requests))
        errors = self._bulk(lease, requests, follower=None)
        local = follower.finish()
        _, lookups = self._pools()
        namespace = Gfal2Namespace(lookups)
        results: dict[int, AttemptOutcome] = {}
        for request, error, read in zip(requests, errors, local):
            if error is not None:
                results[id(request)] = self._full_or(error, request, namespace)
                continue
            try:
                results[id(request)] = self._compare_upload(
                    namespace, request, read or _read_back(request, request.source.path)
                )
            except MoverError as exc:
                results[id(request)] = exc
        return results

    def _full_or(self, error: MoverError, request: CopyRequest, namespace: Gfal2Namespace) -> MoverError:
        """An upload whose data channel the server broke off may have met a full disk, which the
        server says only on the control channel gfal2 no longer reads: a 1-byte upload to the
        same directory asks, before the partial copy is removed (it is what fills the disk). Not
        after a stall: a frozen server would hold the question too (a full disk that stalls the
        upload shows on the retry, whose partial copy is gone)."""
        broke = isinstance(error, ServiceUnavailable) and error.errno in _BROKEN_OFF
        if not broke or request.clock.reason is not None:
            return error
        refused = namespace.refuses_space(
            request.target.parent,
            timeout=int(self.settings.operation_timeout) + 1,
            scratch=os.path.dirname(request.source.path),
        )
        if refused is None:
            return error
        return NoSpace(
            f"{error.message}; a 1-byte upload to the same directory was refused: {refused.message}",
            errno=errno.ENOSPC,
        )

    # -- server to server ------------------------------------------------------------------

    def _third_party(self, lease: Lease, requests: list[CopyRequest]) -> dict[int, AttemptOutcome]:
        """Verified by gfal2: mode ``both`` against the job's expected value, else ``target``
        against the server's checksum of the source."""
        results: dict[int, AttemptOutcome] = {}
        groups: dict[tuple[str, str], list[tuple[CopyRequest, Checksum]]] = {}
        namespace = self.remote_namespace(requests[0].source)
        for request in requests:
            try:
                if request.expected_checksum is not None:
                    mode, value = "both", request.expected_checksum
                else:
                    mode, value = "target", namespace.checksum(request.source, request.checksum_algorithm)
            except MoverError as exc:
                results[id(request)] = exc
                continue
            groups.setdefault((mode, value.algorithm), []).append((request, value))
        for (mode, algorithm), planned in groups.items():
            batch = [r for r, _ in planned]
            values = [v for _, v in planned]
            errors = self._bulk(lease, batch, checksum=(mode, algorithm, values))
            for request, value, error in zip(batch, values, errors):
                if error is None:
                    found = namespace.stat(request.target)
                    results[id(request)] = Copied(found.size if found else 0, (value,), verified=True)
                else:
                    results[id(request)] = error
        return results

    # -- the bulk call ---------------------------------------------------------------------

    def _follower(self, requests: list[CopyRequest], paths: Iterable[str], *, sealed: int) -> Optional[Follower]:
        """A follower of the local ends, when gfal2 writes them in order (one stream)."""
        if self.options.nbstreams > 1:  # parallel streams write out of order: read back after
            return None
        return Follower(
            list(paths),
            [r.algorithms for r in requests],
            progress=lambda index, moved: requests[index].clock.progress(moved),
            sealed=sealed,
        )

    def _bulk(
        self,
        lease: Lease,
        requests: list[CopyRequest],
        *,
        follower: Optional[Follower] = None,
        checksum: Optional[tuple[str, str, list[Checksum]]] = None,
    ) -> list[Optional[MoverError]]:
        """One gfal2 bulk ``filecopy``; one error (or None) per file, in order."""
        context = lease.context
        params = context.transfer_parameters()
        largest = max((r.size or 0) for r in requests)
        params.timeout = int(self.settings.total_timeout(largest)) + 60  # our clocks act first
        params.nbstreams = self.options.nbstreams
        if self.options.tcp_buffersize:
            params.tcp_buffersize = self.options.tcp_buffersize
        params.create_parent = True
        params.overwrite = False
        values = [""] * len(requests)
        if checksum is not None:
            mode, algorithm, expected = checksum
            values = [_padded(v) for v in expected]
            params.set_checksum(getattr(gfal2.checksum_mode, mode), algorithm.upper(), values[0])
        tracker = _BulkTracker(requests, follower)
        params.event_callback = tracker.on_event
        params.monitor_callback = tracker.on_monitor
        active = _ActiveCall(context)
        for request in requests:
            request.clock.on_cancel(active.cancel)
            if follower is None and request.source.is_local:
                request.clock.probe = probes.read_position(request.source.path)
        if len(requests) == 1:
            requests[0].clock.start()
        with self._lock:
            self._active_calls += 1
            self.peak_parallel = max(self.peak_parallel, self._active_calls)
        try:
            with active:
                errors = context.filecopy(
                    params, [r.source.url for r in requests], [r.target.url for r in requests], values
                )
        except gfal2.GError as exc:  # the whole call failed before any file was attempted
            error = from_gerror(exc)
            if error.transient:
                lease.discard()
            if follower is not None:
                follower.abandon()
            return [error] * len(requests)
        finally:
            with self._lock:
                self._active_calls -= 1
        failures: list[Optional[MoverError]] = []
        for request, error in zip(requests, errors):
            if error is None:
                failures.append(None)
                continue
            stage, side = tracker.stage(request)
            failure = from_gerror(error, stage=stage)  # the engine names the file
            if isinstance(failure, ChecksumsDiffer):
                failure = _mismatch(failure, side, failure.algorithm)
            elif isinstance(failure, TransferCancelled) and request.clock.reason is None:
                failure = TransferCancelled(
                    "cancelled with the rest of its gfal2 bulk copy, when another file of it stalled or timed out",
                    transient=True,
                )
            failures.append(failure)
        if any(f is not None and f.transient for f in failures):
            lease.discard()
        return failures


class _SourceChecksums:
    """The server's checksums of download sources, fetched while the copies run, on a context of
    their own; a file whose source checksum could not be had gets the
    error instead (its copy cannot be verified: the attempt fails, transiently when the server is
    unreachable)."""

    def __init__(self, mover: GridFTPMover, requests: list[CopyRequest]) -> None:
        self.values: dict[int, Union[Checksum, MoverError]] = {}
        self._threads: list[threading.Thread] = []
        if requests:
            namespace = mover.remote_namespace(requests[0].source)
            count = 1  # more, measured: they slow the copies down more than they gain (2 cores, one server)
            for share in (requests[i::count] for i in range(count)):
                thread = threading.Thread(
                    target=self._fetch, args=(namespace, share), name="pilot-movers-gridftp-cksm", daemon=True
                )
                thread.start()
                self._threads.append(thread)

    def _fetch(self, namespace: Namespace, requests: list[CopyRequest]) -> None:
        for request in requests:
            if request.clock.reason is not None:
                continue
            try:
                self.values[id(request)] = namespace.checksum(request.source, request.checksum_algorithm)
            except MoverError as exc:
                self.values[id(request)] = exc

    def finish(self) -> dict[int, Union[Checksum, MoverError]]:
        for thread in self._threads:
            thread.join()
        return self.values


def _read_back(request: CopyRequest, path: Optional[str] = None) -> Followed:
    """A local file's checksums read in a pass of their own (when following was not possible)."""
    path = path or request.target.path
    checksums = tuple(file_checksum(path, algorithm) for algorithm in request.algorithms)
    return Followed(os.stat(path).st_size, checksums)


def _judged_download(
    request: CopyRequest, followed: Optional[Followed], reference: Optional[Checksum]
) -> AttemptOutcome:
    """A downloaded copy against ``reference``: by what the follower read as gfal2 wrote it (or a
    pass of its own when following failed). A mismatch of followed bytes is read again before it
    counts: a transfer gfal2 restarted (its server died) may rewrite what was already read."""
    outcome = _compared(request, followed or _read_back(request), reference, "the source")
    if isinstance(outcome, ChecksumsDiffer) and followed is not None:
        log.info("%s: %s; reading the copy again to be sure", request.spec.name, outcome.message)
        outcome = _compared(request, _read_back(request), reference, "the source")
    if isinstance(outcome, MoverError):  # a copy gfal2 let a full disk cut short, unsaid
        written = followed.bytes if followed is not None else 0
        return full_disk(request.target.path, written) or outcome
    return outcome


def _compared(request: CopyRequest, copy: Followed, reference: Optional[Checksum], what: str) -> AttemptOutcome:
    """The copy, verified against ``reference`` when there is one; a mismatch otherwise."""
    if reference is None:
        return Copied(copy.bytes, copy.checksums)
    seen = matching(reference.algorithm, copy.checksums)
    if seen is None:
        return Copied(copy.bytes, copy.checksums)
    if seen != reference:  # the copy differs: the engine judges (it looks at the source when the job expects a value)
        return ChecksumsDiffer(
            f"{reference.algorithm} of the copy is {seen.value}, {what} has {reference.value}",
            algorithm=reference.algorithm,
            source_differs=False,
        )
    return Copied(copy.bytes, copy.checksums, verified=True)


def _padded(checksum: Checksum) -> str:
    """A bare value gfal2 compares correctly (it ignores leading zeros), long enough that the
    binding's short-string bug cannot touch it."""
    return checksum.value.zfill(16)


def _mismatch(failure: ChecksumsDiffer, side: Optional[int], algorithm: str) -> ChecksumsDiffer:
    """gfal2's checksum failure with the side it found different: the source (against the job's
    expected value), or the copy (against its source or the expected value: a GridFTP server
    dying mid-transfer ends gfal2's streamed copy short). The engine judges."""
    if side == GFAL_EVENT_SOURCE:
        return ChecksumsDiffer(failure.message, algorithm=algorithm, source_differs=True, errno=failure.errno)
    return ChecksumsDiffer(
        f"{failure.message} (the copy differs from its source: truncated or damaged in transit)",
        algorithm=algorithm,
        source_differs=False,
        errno=failure.errno,
    )


def _pair(request: CopyRequest) -> str:
    return f"{request.source.url} => {request.target.url}"


class _BulkTracker:
    """Follows gfal2's events through a bulk call: which file is current (its clock starts when
    its own listing ends, and the files before it are complete: the follower is told) and the
    last stage and side each file reached (a checksum-stage EIO is a mismatch, on the side the
    event names)."""

    def __init__(self, requests: list[CopyRequest], follower: Optional[Follower] = None) -> None:
        self.index = {_pair(r): i for i, r in enumerate(requests)}
        self.requests = requests
        self.follower = follower
        self.current: Optional[CopyRequest] = None
        self._listed: list[int] = []
        self._stages: dict[int, tuple[str, int]] = {}

    def on_event(self, event: Any) -> None:
        stage = str(event.stage)
        if stage == "LIST:ENTER":
            self._listed = []
        elif stage == "LIST:ITEM":
            index = self.index.get(str(event.description))
            if index is not None:
                self._listed.append(index)
        elif stage == "LIST:EXIT":
            if len(self._listed) == 1:  # gfal2 announces each file alone just before copying it
                index = self._listed[0]
                if self.follower is not None:
                    self.follower.seal(index)
                self.current = self.requests[index]
                self.current.clock.start()
        elif self.current is not None:
            self._stages[id(self.current)] = (stage, int(event.side))
            self.current.clock.touch()

    def on_monitor(  # noqa: PLR0917 - the signature gfal2 calls
        self, source: str, target: str, average: int, instant: int, moved: int, elapsed: int
    ) -> None:
        """gfal2's monitor callback: bytes moved so far for one pair."""
        index = self.index.get(f"{source} => {target}")
        if index is not None:
            self.requests[index].clock.progress(int(moved))

    def stage(self, request: CopyRequest) -> tuple[Optional[str], Optional[int]]:
        return self._stages.get(id(request), (None, None))


class _ActiveCall:
    """Cancel a gfal2 context only while a call on it runs: a clock cancelled after its bulk call
    returned must not cancel the next call on the same context."""

    def __init__(self, context: Any) -> None:
        self.context = context
        self._running = False
        self._lock = threading.Lock()

    def __enter__(self) -> _ActiveCall:
        with self._lock:
            self._running = True
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._running = False

    def cancel(self) -> None:
        with self._lock:
            if self._running:
                self.context.cancel()
