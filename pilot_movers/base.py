"""The Mover contract: one class per transport, driven by the shared transfer engine.

A simple transport implements two things:

* ``copy_file(request)``: copy ``request.source`` to ``request.target`` (a temporary name next to
  the destination), report progress to ``request.clock`` and stop when it is cancelled;
* ``remote_namespace(location)``: stat, checksum, rename and remove on its own URLs.

The engine turns that into retried, verified, atomic, concurrent transfers. A transport that
moves many files in one call (XRootD ``CopyProcess``, gfal2 bulk copy) overrides ``copy_batch``.
"""

from __future__ import annotations

import itertools
import logging
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Callable, ClassVar, Iterator, Optional, Sequence, Union

from pilot_movers.checksums import Checksum
from pilot_movers.engine.clocks import TransferClock
from pilot_movers.engine.settings import TransferSettings
from pilot_movers.errors import (
    InternalError,
    MoverError,
    NoMoverForScheme,
    Phase,
    TransferCancelled,
)
from pilot_movers.namespace import Namespace
from pilot_movers.values import FileSpec, Location, TransferResult

log = logging.getLogger(__name__)


@dataclass
class CopyRequest:
    """One attempt at one file, as the engine hands it to a transport."""

    spec: FileSpec
    source: Location
    target: Location
    """Where to write: a temporary name in the destination's directory, renamed by the engine
    after verification. Transports must never write to ``spec.destination`` directly."""
    clock: TransferClock
    attempt: int
    phase: Phase
    checksum_algorithm: str = "adler32"

    @property
    def expected_checksum(self) -> Optional[Checksum]:
        return self.spec.checksum

    @property
    def expected_size(self) -> Optional[int]:
        return self.spec.size


@dataclass(frozen=True)
class CopyOutcome:
    """What a transport knows after copying: bytes written and checksums of those bytes.

    ``checksums`` were computed while the bytes streamed (or by the server). ``verified`` is True
    when the transport itself compared the copy with the request's expected checksum (or, when
    there is none, with the source) and they matched. ``linked`` is True when no byte was copied
    (a link or a rename of the source itself). The engine computes a checksum in a second pass
    only when it needs one the transport did not give.
    """

    bytes: int
    checksums: tuple[Checksum, ...] = ()
    verified: bool = False
    linked: bool = False


CopyResult = Union[CopyOutcome, MoverError]


class Mover:
    """Base class of every mover. Use as a context manager: ``with get_mover("local") as m:``."""

    #: The name site admins write in queue config (``copytool = gridftp``).
    name: ClassVar[str] = ""
    #: URL schemes this mover can read from or write to (besides local files).
    schemes: ClassVar[tuple[str, ...]] = ()
    #: The mover authenticates with the X.509 proxy in X509_USER_PROXY (checked before transfers).
    needs_proxy: ClassVar[bool] = False
    #: ... and that proxy must be RFC 3820 (Globus refuses legacy proxies).
    requires_rfc3820: ClassVar[bool] = False

    def __init__(self, settings: Optional[TransferSettings] = None, **options: Any) -> None:
        self.settings = settings or TransferSettings()
        self.options = dict(options)
        self._opened = False
        #: Called by the engine before every round of transfers (re-reads and checks the proxy).
        self.credential_check: Optional[Callable[[], None]] = None

    # -- lifecycle -------------------------------------------------------------------------

    def open(self) -> None:
        """Acquire sessions, contexts or endpoints. Called once by ``__enter__``."""

    def close(self) -> None:
        """Release everything ``open`` acquired. Must not raise; called in every outcome."""

    def __enter__(self) -> Mover:
        if not self._opened:
            self.open()
            self._opened = True
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if self._opened:
            self._opened = False
            self.close()

    # -- the two entry points --------------------------------------------------------------

    def stage_in(self, files: Sequence[FileSpec]) -> list[TransferResult]:
        """Bring ``files`` to their (local) destinations; one result per file, in order."""
        return self.transfer(files, Phase.STAGE_IN)

    def stage_out(self, files: Sequence[FileSpec]) -> list[TransferResult]:
        """Send ``files`` to their (remote) destinations; one result per file, in order."""
        return self.transfer(files, Phase.STAGE_OUT)

    def transfer(self, files: Sequence[FileSpec], phase: Phase) -> list[TransferResult]:
        from pilot_movers.engine.engine import TransferEngine

        with self:
            return TransferEngine(self, phase).run(files)

    # -- what a transport implements -------------------------------------------------------

    def copy_file(self, request: CopyRequest) -> CopyOutcome:
        """Copy one file; raise a MoverError on failure."""
        raise NotImplementedError(f"mover {self.name!r} implements neither copy_file nor copy_batch")

    def copy_batch(self, requests: Sequence[CopyRequest]) -> Iterator[tuple[CopyRequest, CopyResult]]:
        """Copy many files, yielding each request with its outcome as it finishes.

        The default runs ``copy_file`` on at most ``settings.concurrency`` worker threads (even
        one: a transport blocked in C must not keep the main thread from acting on SIGTERM);
        requests cancelled before they start (phase aborted) are not started.
        """
        if not requests:
            return
        workers = max(1, min(self.settings.concurrency, len(requests)))
        pool = ThreadPoolExecutor(workers, thread_name_prefix=f"pilot-movers-{self.name}")
        waiting = iter(requests)
        running: dict[Future[CopyResult], CopyRequest] = {}
        try:
            # At most `workers` in flight; the next starts only after one was handed back, so the
            # engine's verdict on it (a tripped circuit breaker) reaches the files not yet started.
            for request in itertools.islice(waiting, workers):
                running[pool.submit(self.guarded_copy, request)] = request
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    yield running.pop(future), future.result()
                    following = next(waiting, None)
                    if following is not None:
                        running[pool.submit(self.guarded_copy, following)] = following
        finally:
            # Only reached with work left when the caller stops listening (an exception, a
            # signal): cancel what is still running so the pool can be joined quickly.
            for request in running.values():
                request.clock.cancel(TransferCancelled("transfer abandoned: the job is stopping"))
            pool.shutdown(wait=True, cancel_futures=True)

    def guarded_copy(self, request: CopyRequest) -> CopyResult:
        """``copy_file`` with every exception turned into a MoverError value."""
        if request.clock.reason is not None:
            return request.clock.reason
        request.clock.start()
        try:
            return self.copy_file(request)
        except MoverError as exc:
            return exc
        except Exception as exc:  # a transport bug must fail one file, not the phase
            log.exception("mover %s raised an unexpected error copying %s", self.name, request.spec.name)
            return self.translate_exception(exc)

    def translate_exception(self, exc: Exception) -> MoverError:
        """Map an exception a transport library raised to a MoverError (override per transport)."""
        return InternalError(f"{type(exc).__name__}: {exc}")

    def committed(self, request: CopyRequest) -> None:
        """Called after the engine renamed the target into place (the local mover's ``move``
        mode removes the source here)."""

    # -- namespaces ------------------------------------------------------------------------

    def namespace(self, location: Location) -> Namespace:
        """Storage operations for ``location``: local files for every mover, and the mover's
        own schemes through ``remote_namespace``."""
        if location.is_local:
            from pilot_movers.local.namespace import LOCAL

            return LOCAL
        if location.scheme not in self.schemes:
            raise NoMoverForScheme(
                f"mover {self.name!r} cannot handle {location.scheme}:// locations "
                f"(it handles {', '.join(self.schemes) or 'local files only'})",
                endpoint=location.server,
            )
        return self.remote_namespace(location)

    def remote_namespace(self, location: Location) -> Namespace:
        raise NoMoverForScheme(f"mover {self.name!r} has no namespace for {location.scheme}://")

    @classmethod
    def availability_problem(cls) -> Optional[str]:
        """One sentence saying why this mover cannot run here (a missing library), or None."""
        return None
