"""The ``gridftp`` mover, on gfal2's Python binding.

Many files move through gfal2's bulk ``filecopy`` (one call per chunk of ``bulk_size`` files, which
keeps the GridFTP session; ``concurrency`` chunks at once). Integrity is gfal2's own verification:

* a download with an expected checksum: mode ``both`` with that value, so a source that does not
  match is refused before a byte moves and the copy is checked against it;
* a download without: the server's checksum of the source is fetched first, then mode ``target``
  with it (each side is checksummed once, and the report gets the value);
* an upload: the local file is checksummed first (and refused if it does not match the job's
  expectation), then mode ``target`` with that value: the server checks what it received.

Per-file values go to the bulk call as bare, zero-padded values (gfal2 compares checksums without
leading zeros): in gfal2 2.21 and its Python binding, the type of a ``TYPE:VALUE`` string loses its
last character, and strings shorter than 16 characters reach the C code as dangling pointers.

Progress reaches the clocks from gfal2's monitor callback where gfal2 fires it (third-party and
plugin-driven copies); it does not for copies between GridFTP and local files, so for those the
clocks read it from the local end (the size of a download's target, the read offset of an upload's
source).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Iterator, Optional

import gfal2

from pilot_movers.base import Mover
from pilot_movers.checksums import Checksum, file_checksum
from pilot_movers.config_values import AT_LEAST_ONE, NOT_NEGATIVE, option
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
from pilot_movers.engine.settings import TransferSettings
from pilot_movers.errors import ChecksumMismatch, MoverError, Scope, TransferCancelled
from pilot_movers.gridftp.errors import from_gerror
from pilot_movers.gridftp.namespace import Gfal2Namespace
from pilot_movers.values import Location
from pilot_movers.version import __version__

# gfal2's binding logs every plugin load at INFO; keep that out of pilot logs unless asked for.
if logging.getLogger("gfal2").level == logging.NOTSET:
    logging.getLogger("gfal2").setLevel(logging.WARNING)

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

    nbstreams: int = option(1, AT_LEAST_ONE)
    """Parallel TCP streams per file (GridFTP mode E)."""
    tcp_buffersize: int = option(0, NOT_NEGATIVE)
    """TCP buffer size in bytes (0: the system's)."""
    bulk_size: int = option(200, AT_LEAST_ONE)
    """Files per gfal2 bulk call."""


class GridFTPMover(Mover):
    name = "gridftp"
    schemes = installed_schemes()
    capabilities = Capabilities(checksums=ChecksumSource.SERVER, credential=CredentialKind.X509_PROXY)
    Options = GridFTPOptions
    options: GridFTPOptions

    def __init__(self, settings: Optional[TransferSettings] = None, options: Any = None, **raw_options: Any) -> None:
        super().__init__(settings, options, **raw_options)
        self._local = threading.local()
        self._contexts: list[Any] = []
        self._lock = threading.Lock()
        self._active_calls = 0
        #: Most bulk calls that ran at once in this mover's life (observability, and tests).
        self.peak_parallel = 0

    # -- sessions --------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            contexts, self._contexts = self._contexts, []
        for context in contexts:
            try:
                context.free()
            except Exception:  # noqa: BLE001 - close must not raise
                pass
        self._local = threading.local()

    def context(self) -> Any:
        """The calling thread's gfal2 context (gfal2 contexts are not shared between threads)."""
        context = getattr(self._local, "context", None)
        if context is None:
            context = new_context()
            context.set_user_agent("pilot-movers", __version__)
            proxy = self.credentials.x509_proxy  # per context: never the process's X509_USER_PROXY
            if proxy:
                context.set_opt_string("X509", "CERT", proxy)
                context.set_opt_string("X509", "KEY", proxy)
            self._local.context = context
            with self._lock:
                self._contexts.append(context)
        return context

    def drop_context(self) -> None:
        """Forget the calling thread's context: after a connection broke, gfal2 would keep
        reusing its dead cached GridFTP session."""
        context = getattr(self._local, "context", None)
        if context is None:
            return
        self._local.context = None
        with self._lock:
            if context in self._contexts:
                self._contexts.remove(context)
        try:
            context.free()
        except Exception:  # noqa: BLE001
            pass

    def remote_namespace(self, location: Location) -> Namespace:
        return Gfal2Namespace(self.context, on_broken_session=self.drop_context)

    def translate_exception(self, exc: Exception) -> MoverError:
        if isinstance(exc, gfal2.GError):
            return from_gerror(exc)
        return super().translate_exception(exc)

    # -- copies ----------------------------------------------------------------------------

    def copy_batch(self, batch: Batch) -> Iterator[tuple[CopyRequest, AttemptOutcome]]:
        """Chunks of ``bulk_size`` files, ``concurrency`` chunks at once. Even one chunk runs on a
        worker thread: gfal2 holds the thread inside C for the whole copy, and the main thread
        must stay free to act on SIGTERM (which cancels the copy through the clocks)."""
        requests = batch.requests
        size = self.options.bulk_size
        chunks = [list(requests[i : i + size]) for i in range(0, len(requests), size)]
        pool = ThreadPoolExecutor(min(batch.parallel, len(chunks)), thread_name_prefix="pilot-movers-gridftp")
        try:
            running = {pool.submit(self._copy_chunk, chunk) for chunk in chunks}
            while running:
                done, running = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    yield from future.result()
        finally:  # when abandoned, the engine has cancelled every clock: the calls end soon
            pool.shutdown(wait=True, cancel_futures=True)

    def _copy_chunk(self, requests: list[CopyRequest]) -> list[tuple[CopyRequest, AttemptOutcome]]:
        """Copy a chunk: one bulk call per kind of verification the files need."""
        results: dict[int, AttemptOutcome] = {}
        groups: dict[tuple[str, str], list[tuple[CopyRequest, Checksum]]] = {}
        for request in requests:
            if request.clock.reason is not None:
                results[id(request)] = request.clock.reason
                continue
            try:
                mode, value = self._verification(request)
            except MoverError as exc:
                results[id(request)] = exc
                continue
            groups.setdefault((mode, value.algorithm), []).append((request, value))
        context = self.context()
        for (mode, _), planned in groups.items():
            results.update(self._bulk_copy(context, planned, mode))
        return [(r, results[id(r)]) for r in requests]

    def _verification(self, request: CopyRequest) -> tuple[str, Checksum]:
        """The gfal2 checksum mode for this file and the value it checks against."""
        if request.source.is_local:
            return "target", self._local_source_checksum(request)
        if request.expected_checksum is not None:
            return "both", request.expected_checksum
        source = self.remote_namespace(request.source).checksum(request.source, request.checksum_algorithm)
        return "target", source

    def _bytes_copied(self, request: CopyRequest) -> int:
        """Bytes at the target: from the local end, or (server to server) from the server."""
        local = request.target if request.target.is_local else request.source
        if local.is_local:
            return os.stat(local.path).st_size
        found = self.remote_namespace(request.target).stat(request.target)
        return found.size if found is not None else 0

    @staticmethod
    def _local_source_checksum(request: CopyRequest) -> Checksum:
        """For an upload, the local file's checksum, checked against the job's expectation."""
        expected = request.expected_checksum
        local = file_checksum(request.source.path, expected.algorithm if expected else request.checksum_algorithm)
        if expected is not None and local != expected:
            raise ChecksumMismatch(
                f"{request.source.path} has {local}, the job expects {expected}",
                algorithm=expected.algorithm,
                scope=Scope.SOURCE,
            )
        return local

    def _bulk_copy(
        self, context: Any, planned: list[tuple[CopyRequest, Checksum]], mode: str
    ) -> dict[int, AttemptOutcome]:
        values = [value for _, value in planned]
        algorithm = values[0].algorithm
        params = context.transfer_parameters()
        largest = max((r.size or 0) for r, _ in planned)
        params.timeout = int(self.settings.total_timeout(largest)) + 60  # our clocks act first
        params.nbstreams = self.options.nbstreams
        if self.options.tcp_buffersize:
            params.tcp_buffersize = self.options.tcp_buffersize
        params.create_parent = True
        params.overwrite = False
        params.set_checksum(getattr(gfal2.checksum_mode, mode), algorithm.upper(), _padded(values[0]))
        tracker = _BulkTracker({_pair(r): r for r, _ in planned})
        params.event_callback = tracker.on_event
        params.monitor_callback = tracker.on_monitor
        active = _ActiveCall(context)
        for request, _ in planned:
            request.clock.on_cancel(active.cancel)
            if request.target.is_local:
                request.clock.probe = probes.local_size(request.target.path)
            elif request.source.is_local:
                request.clock.probe = probes.read_position(request.source.path)
        if len(planned) == 1:
            planned[0][0].clock.start()
        with self._lock:
            self._active_calls += 1
            self.peak_parallel = max(self.peak_parallel, self._active_calls)
        try:
            with active:
                errors = context.filecopy(
                    params,
                    [r.source.url for r, _ in planned],
                    [r.target.url for r, _ in planned],
                    [_padded(v) for v in values],
                )
        except gfal2.GError as exc:  # the whole call failed before any file was attempted
            error = from_gerror(exc)
            if error.transient:
                self.drop_context()
            return {id(r): error for r, _ in planned}
        finally:
            with self._lock:
                self._active_calls -= 1
        results: dict[int, AttemptOutcome] = {}
        for (request, value), error in zip(planned, errors):
            if error is None:
                results[id(request)] = Copied(self._bytes_copied(request), (value,), verified=True)
                continue
            stage, side = tracker.stage(request)
            failure = from_gerror(error, stage=stage, what=request.spec.name)
            if isinstance(failure, ChecksumMismatch):
                failure = _mismatch(failure, side, algorithm)
            elif isinstance(failure, TransferCancelled) and request.clock.reason is None:
                failure = TransferCancelled(
                    "cancelled with the rest of its gfal2 bulk copy, when another file of it stalled or timed out",
                    transient=True,
                )
            results[id(request)] = failure
        if any(isinstance(r, MoverError) and r.transient for r in results.values()):
            self.drop_context()
        return results


def _padded(checksum: Checksum) -> str:
    """A bare value gfal2 compares correctly (it ignores leading zeros), long enough that the
    binding's short-string bug cannot touch it."""
    return checksum.value.zfill(16)


def _mismatch(failure: ChecksumMismatch, side: Optional[int], algorithm: str) -> ChecksumMismatch:
    """Which side gfal2 found different decides: a source that is not what the job expects is
    permanent; a copy that differs from its source or its expected value was truncated or damaged
    on the way (a GridFTP server dying mid-transfer ends gfal2's streamed copy short), and a new
    copy can cure that."""
    if side == GFAL_EVENT_SOURCE:
        return ChecksumMismatch(failure.message, algorithm=algorithm, scope=Scope.SOURCE, errno=failure.errno)
    return ChecksumMismatch(
        f"{failure.message} (the copy differs from its source: truncated or damaged in transit)",
        algorithm=algorithm,
        transient=True,
        errno=failure.errno,
    )


def _pair(request: CopyRequest) -> str:
    return f"{request.source.url} => {request.target.url}"


class _BulkTracker:
    """Follows gfal2's events through a bulk call: which file is current (its clock starts when
    its own listing ends) and the last stage and side each file reached (a checksum-stage EIO is
    a mismatch, on the side the event names)."""

    def __init__(self, requests: dict[str, CopyRequest]) -> None:
        self.requests = requests
        self.current: Optional[CopyRequest] = None
        self._listed: list[CopyRequest] = []
        self._stages: dict[int, tuple[str, int]] = {}

    def on_event(self, event: Any) -> None:
        stage = str(event.stage)
        if stage == "LIST:ENTER":
            self._listed = []
        elif stage == "LIST:ITEM":
            request = self.requests.get(str(event.description))
            if request is not None:
                self._listed.append(request)
        elif stage == "LIST:EXIT":
            if len(self._listed) == 1:  # gfal2 announces each file alone just before copying it
                self.current = self._listed[0]
                self.current.clock.start()
        elif self.current is not None:
            self._stages[id(self.current)] = (stage, int(event.side))
            self.current.clock.touch()

    def on_monitor(  # noqa: PLR0917 - the signature gfal2 calls
        self, source: str, target: str, average: int, instant: int, moved: int, elapsed: int
    ) -> None:
        """gfal2's monitor callback: bytes moved so far for one pair."""
        request = self.requests.get(f"{source} => {target}")
        if request is not None:
            request.clock.progress(int(moved))

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
