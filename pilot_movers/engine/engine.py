"""The transfer engine: turns a transport's copy primitive into retried, verified, atomic transfers.

A phase runs in rounds (tenacity decides whether and when the next round runs):

1. prepare each pending file (on worker threads): on its first attempt, check the source exists
   (local sources) and the destination does not (unless overwriting); on a retry, look at the
   destination first, so an ambiguous failure whose copy did land is not copied twice; pick a
   fresh temporary name;
2. hand all prepared files to the transport as one ``Batch`` (``batch.guarded``), each file under
   a stall clock and a size-scaled deadline, the batch under one clock of its own;
   (the engine's thread only waits for answers: after a cancel, a mover gets ``cancel_grace``
   seconds to answer before the engine answers for it);
3. settle each answer as it comes, on worker threads: check size and checksum (the transport's,
   computed while the bytes streamed, or a second pass only where one is possible and needed),
   rename into place; on any failure remove the temporary file;
4. files whose attempt failed with a transient error go to the next round; permanent errors end
   the file. The phase stops starting transfers when most of them fail (circuit breaker).

Every operation on a server (stat, checksum, rename, remove, listing) runs under a deadline
(``deadlines.RemoteCalls``); a server that missed one, or whose transfers stalled, is not waited
for again before the next round, where one look (a stat) tells whether it is back.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import threading
import time
from concurrent.futures import Future, wait
from dataclasses import dataclass, field
from typing import Callable, Optional, Protocol, Sequence, TypeVar

import tenacity

from pilot_movers.checksums import Checksum, matching
from pilot_movers.engine.batch import AnswerPump, guarded
from pilot_movers.engine.blame import blame
from pilot_movers.engine.breaker import CircuitBreaker
from pilot_movers.engine.cancels import CANCELS
from pilot_movers.engine.clocks import TransferClock, Watchdog
from pilot_movers.engine.contract import (
    AttemptOutcome,
    Batch,
    ChecksumSource,
    Copied,
    CopyRequest,
    FileStat,
    Namespace,
    Transport,
)
from pilot_movers.engine.deadlines import BoundedNamespace, RemoteCalls
from pilot_movers.engine.placement import temporary_location
from pilot_movers.engine.progress import ProgressObserver
from pilot_movers.engine.retry import round_policy
from pilot_movers.engine.wire import WIRE
from pilot_movers.engine.workers import DaemonPool
from pilot_movers.errors import (
    ChecksumsDiffer,
    DestinationExists,
    MoverError,
    Phase,
    PhaseAborted,
    Scope,
    SizeMismatch,
    SourceNotFound,
    TransferCancelled,
    TransferFailed,
    TransferStalled,
    TransferTimeout,
    UnsafeSource,
    as_mover_error,
)
from pilot_movers.values import AttemptRecord, FileReport, FileSpec, LeftBehind, Location, Role, Status

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")
_UNKNOWN = object()


class Journal(Protocol):
    """Where each temporary copy is written down before it exists and struck off once it is gone
    (the job's ledger record: a later job removes what a killed one left)."""

    def add(self, url: str) -> None: ...

    def strike(self, url: str) -> None: ...


@dataclass(eq=False)
class _FileState:
    """Everything the engine tracks for one file across its attempts."""

    spec: FileSpec
    size: Optional[int] = None
    prechecked: bool = False
    destination_existed: bool = False
    replace: bool = False
    """An input found in the work dir that is not what the job expects: the copy replaces it."""
    attempts: list[AttemptRecord] = field(default_factory=list)
    leftovers: dict[Location, int] = field(default_factory=dict)
    """Temporary copies not yet removed, with the bytes last known written to each."""
    last_error: Optional[MoverError] = None
    report: Optional[FileReport] = None
    attempt_started: float = 0.0
    first_started: Optional[float] = None

    @property
    def finished(self) -> bool:
        return self.report is not None

    def remote(self, phase: Phase) -> Location:
        """The end to name in errors (``FileSpec.remote``)."""
        return self.spec.remote(phase)


def _cause(reason: Optional[MoverError], outcome: MoverError) -> MoverError:
    """Why an attempt failed: the clock's reason (it stalled, ran out of time, the job stops),
    unless the mover found a cause no retry mends behind a stall (a full disk)."""
    if reason is None:
        return outcome
    diagnosed = not outcome.transient and not isinstance(outcome, (TransferCancelled, PhaseAborted))
    if (diagnosed or outcome.explains_stall) and isinstance(reason, TransferTimeout):
        return outcome
    return reason


class TransferEngine:
    """Runs one phase's files through one transport. Use once per phase.

    ``credential_check`` runs before every round (it re-reads the proxy and checks it has not
    expired); ``journal`` records each temporary file (on a server or a local disk) until it is gone (so a
    later job can remove what a killed one left); ``observer`` hears each file's bytes and outcome
    (a progress display); ``cancel`` stops every running transfer at once (a signal handler calls it);
    ``remote`` runs every server operation under a deadline and remembers silent servers (the
    job shares one between its phases and its cleanup; default: the engine's own); ``workdir``:
    the job's work dir, where an input already landed by an earlier run is kept or replaced.
    """

    def __init__(
        self,
        transport: Transport,
        phase: Phase,
        *,
        credential_check: Optional[Callable[[], None]] = None,
        journal: Optional[Journal] = None,
        observer: Optional[ProgressObserver] = None,
        sleep: Callable[[float], None] = time.sleep,
        remote: Optional[RemoteCalls] = None,
        workdir: Optional[str] = None,
        max_attempts: Optional[int] = None,
    ) -> None:
        self.transport = transport
        self.observer = observer or ProgressObserver()
        self.phase = phase
        self.settings = transport.settings
        if max_attempts is not None and max_attempts < self.settings.max_attempts:
            self.settings = dataclasses.replace(self.settings, max_attempts=max_attempts)
        self.capabilities = transport.capabilities
        self.credential_check = credential_check
        self.journal = journal
        self.sleep = sleep
        self.breaker = CircuitBreaker(self.settings.breaker_min_transfers, self.settings.breaker_failure_ratio)
        self.watchdog = Watchdog(self.settings.watchdog_interval)
        self.remote = remote or RemoteCalls(self.settings.operation_timeout)
        #: The job's work dir: an input found there already (a rerun of a killed job) is kept
        #: when complete, replaced otherwise. Elsewhere an existing destination is FILEEXISTS.
        self.workdir = os.path.realpath(workdir) if workdir else None
        self._pending: list[_FileState] = []
        self._round = 0
        self._pool: Optional[DaemonPool] = None
        self._lock = threading.Lock()
        self._batches: list[TransferClock] = []
        self._pumps: list[AnswerPump] = []
        self._stopped: Optional[MoverError] = None
        #: Temporary copies this phase could not remove (their server was down).
        self.left_behind: list[LeftBehind] = []

    # -- the phase -------------------------------------------------------------------------

    def run(self, files: Sequence[FileSpec]) -> list[FileReport]:
        states = [_FileState(spec, size=spec.size) for spec in files]
        self._states = states
        self._pending = list(states)
        self._pool = DaemonPool(self.settings.concurrency, name=f"pilot-movers-{self.phase.value}")
        CANCELS.start()
        try:
            if self._pending:
                policy = round_policy(self.settings, sleep=self.sleep, before_sleep=self._log_retry)
                for state in policy(self._run_round):
                    self._finish_failed(state, state.last_error, note=f"gave up after {len(state.attempts)} attempts")
        finally:
            self.watchdog.stop()
            if self._stopped is None:
                self._map(self._remove_leftovers, [s for s in states if s.leftovers])
            else:  # the job is stopping: its cleanup removes them, after no more than it must wait
                self._hand_over_leftovers(states)
            # Every call a worker makes to a server has a deadline, and a stopping job
            # interrupts them: this join is short.
            self._pool.shutdown(wait=True)
        return [state.report or self._unfinished(state) for state in states]

    def finished_reports(self) -> list[FileReport]:
        """The reports of the files that ended (done, found complete, or failed for good) in the
        last ``run``, in order: what a run a signal cut short had achieved."""
        return [state.report for state in getattr(self, "_states", []) if state.report is not None]

    def cancel(self, reason: MoverError) -> None:
        """Stop every running transfer now and start no other. Never blocks and takes no lock:
        a signal handler calls it (the clocks are cancelled on another thread)."""
        self._stopped = reason
        self.remote.interrupt(reason)
        CANCELS.request(functools.partial(self._cancel_batches, reason), f"{self.phase.value}: cancel")

    def wait_for_movers(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the mover's calls the engine stopped listening to
        (the job is stopping) to end, so that they remove what they made themselves; whether
        they all did."""
        deadline = time.monotonic() + timeout
        return all(pump.ended.wait(max(0.0, deadline - time.monotonic())) for pump in self._pumps)

    def _cancel_batches(self, reason: MoverError) -> None:
        with self._lock:
            batches = list(self._batches)
        for clock in batches:
            clock.cancel(reason)

    def _namespace(self, location: Location) -> Namespace:
        """The transport's namespace for ``location``; a server's under deadlines."""
        namespace = self.transport.namespace(location)
        if location.is_local:
            return namespace
        return self.remote.namespace(namespace, location.server)

    def _checksum(self, location: Location, algorithm: str, size: Optional[int]) -> Checksum:
        namespace = self._namespace(location)
        if isinstance(namespace, BoundedNamespace):
            return namespace.checksum(location, algorithm, size)
        return namespace.checksum(location, algorithm)

    def _run_round(self) -> list[_FileState]:
        self._round += 1
        number = self._round
        pending = [s for s in self._pending if not s.finished]
        if self._stopped is not None:
            raise self._stopped
        if number > 1:
            self.remote.forgive()  # a silent server gets one look (a stat) per file to show it is back
        if number > 1 and self.breaker.tripped:
            for state in pending:
                self._finish_failed(state, state.last_error, note=f"not retried: {self.breaker.describe()}")
            return []
        if self.credential_check is not None:
            try:
                self.credential_check()
            except MoverError as exc:
                for state in pending:
                    self._finish_failed(state, exc)
                return []
        known = self._stat_destinations(pending)
        if self._stopped is not None:  # it came during the listing: the stop, not a look per file, is the answer
            raise self._stopped
        prepared = [
            (state, request)
            for state, request in zip(pending, self._map(lambda s: self._prepare(s, number, known), pending))
            if request is not None
        ]
        if prepared:
            self._copy([request for _, request in prepared], {id(r): s for s, r in prepared})
        self._pending = [s for s in pending if not s.finished]
        return self._pending

    def _copy(self, requests: list[CopyRequest], state_of: dict[int, _FileState]) -> None:
        """One batch through the transport; answers settle on worker threads as they come."""
        sizes = [r.size for r in requests]
        parallel = self.settings.concurrency
        batch_clock = TransferClock(
            f"{self.phase.value}: batch of {len(requests)} file(s)",
            stall_timeout=self.settings.stall_timeout,
            total_timeout=lambda _: self.settings.batch_timeout(sizes, parallel),
            log_interval=self.settings.progress_interval,
        )
        for request in requests:  # a file's progress keeps the batch alive; its cancel reaches each file
            batch_clock.adopt(request.clock)
        # A mover that counts bytes coarsely (XRootD's chunks), or not before its connection is
        # made: bytes on the wire with the batch's servers are a sign of life too.
        batch_clock.signs_of_life = WIRE.liveness([end for r in requests for end in (r.source, r.target)])
        batch = Batch(tuple(requests), batch_clock, parallel)
        with self._lock:
            self._batches.append(batch_clock)
        if self._stopped is not None:  # a cancel that came while the batch was being made
            batch_clock.cancel(self._stopped)
        settling: list[Future[None]] = []
        batch_clock.start()
        pump = AnswerPump(guarded(self.transport, batch), f"-{self.phase.value}")
        self._pumps.append(pump)
        answered = False
        try:
            with self.watchdog.watching([batch_clock, *(r.clock for r in requests)]):
                for request, outcome in pump.answers(batch.requests, batch_clock, self.settings.cancel_grace):
                    request.clock.finish()
                    if isinstance(batch_clock.reason, TransferStalled):
                        self._silence_servers(requests, batch_clock.reason)
                    settling.append(self._settle_later(state_of[id(request)], request, outcome))
                    if self.breaker.tripped:
                        self._abort(requests)
                answered = True
                if pump.abandoned:  # their copies may appear when the mover ends: removed then
                    pump.after_abandoned(self._sweep_abandoned)
                else:  # the mover's own cleanup after its last answer (joining its threads)
                    pump.ended.wait(self.settings.cancel_grace)
                wait(settling)
        finally:
            if not answered:  # the job is stopping (a signal): the mover stops too, unwaited for
                batch_clock.cancel(self._stopped or TransferCancelled("transfer abandoned: the job is stopping"))
                pump.stop()
            with self._lock:
                self._batches.remove(batch_clock)

    def _silence_servers(self, requests: list[CopyRequest], reason: MoverError) -> None:
        """The batch stalled: no server of its files sent or took a byte for ``stall_timeout``;
        removing their temporary copies now would wait on them too."""
        for request in requests:
            for end in (request.source, request.target):
                if not end.is_local:
                    self.remote.silence(end.server, f"no byte moved for {self.settings.stall_timeout:g} s")

    def _sweep_abandoned(self, requests: list[CopyRequest]) -> None:
        """Temporary copies of files the engine gave up waiting for, once their mover ended."""
        for request in requests:
            try:
                self._namespace(request.target).remove(request.target)
            except Exception as exc:  # noqa: BLE001 - listed by the phase already
                log.debug("could not remove the abandoned copy %s: %s", request.target, exc)

    # -- one attempt -----------------------------------------------------------------------

    def _stat_destinations(self, pending: list[_FileState]) -> dict[Location, object]:
        """With a namespace that stats many files in one round trip: every remote destination the
        round will look at, per server; others are looked at one by one in ``_prepare``."""
        if not self.capabilities.batched_stat:
            return {}
        by_server: dict[str, list[Location]] = {}
        for state in pending:
            destination = state.spec.destination
            if not destination.is_local:
                by_server.setdefault(destination.server, []).append(destination)
        known: dict[Location, object] = {}
        for locations in by_server.values():
            if getattr(self.transport.namespace(locations[0]), "stat_many", None) is None:
                continue
            stat_many = self._namespace(locations[0]).stat_many  # type: ignore[attr-defined]
            try:
                known.update(zip(locations, stat_many(locations)))
            except MoverError as exc:  # looked at one by one, each reporting its own error
                log.debug("batched stat at %s failed: %s", locations[0].server, exc)
        return known

    def _destination_stat(self, destination: Location, known: dict[Location, object]) -> Optional[FileStat]:
        found = known.get(destination, _UNKNOWN)
        if found is _UNKNOWN:
            return self._namespace(destination).stat(destination)
        return found  # type: ignore[return-value]

    def _prepare(self, state: _FileState, number: int, known: dict[Location, object]) -> Optional[CopyRequest]:
        spec = state.spec
        state.attempt_started = time.time()
        if state.first_started is None:
            state.first_started = state.attempt_started
        try:
            if not state.prechecked:
                self._precheck(state, known)
                state.prechecked = True
                if state.finished:  # an input a killed run of this job had already landed
                    return None
            elif not state.destination_existed and self._found_complete(state, known):
                return None
            elif spec.destination.is_local and not spec.source.is_local:
                self._look_at_source(state)
            target = temporary_location(spec.destination, number)
            self._made(state, target)
            clock = TransferClock(
                f"{self.phase.value} {spec.name}",
                stall_timeout=self.settings.stall_timeout,
                total_timeout=self.settings.total_timeout,
                size=state.size,
                listener=functools.partial(self.observer.file_progress, self.phase, spec),
                log_interval=self.settings.progress_interval,
            )
            clock.signs_of_life = WIRE.liveness([spec.source, spec.destination])
            return CopyRequest(spec, spec.source, target, clock, number, self.settings.checksum_algorithm, state.size)
        except Exception as exc:  # noqa: BLE001 - every failure is recorded against the file
            self._attempt_failed(state, as_mover_error(exc), number)
            return None

    def _precheck(self, state: _FileState, known: dict[Location, object]) -> None:
        spec = state.spec
        if spec.source.is_local:
            found = self._namespace(spec.source).stat(spec.source)
            if found is None:
                raise SourceNotFound(f"{spec.source.path} does not exist", endpoint=spec.source.server)
            if found.is_link and spec.role is Role.OUTPUT:
                raise UnsafeSource(
                    f"the output {spec.source.path} is a symbolic link: its target is not uploaded",
                    endpoint=spec.source.server,
                )
            if found.is_dir:
                raise SourceNotFound(f"{spec.source.path} is a directory, not a file", endpoint=spec.source.server)
            if state.size is None:
                state.size = found.size
            elif found.size != state.size:
                raise SizeMismatch(
                    f"{spec.source.path} holds {found.size} bytes, the job expects {state.size}",
                    transient=False,
                    scope=Scope.SOURCE,
                )
        found_there = self._destination_stat(spec.destination, known)
        if found_there is not None:
            if spec.role is Role.INPUT and self._in_workdir(spec.destination) and not self.settings.overwrite:
                self._landed_before(state, found_there)  # a rerun in the same work dir
                return
            if not self.settings.overwrite:
                raise DestinationExists(
                    f"{spec.destination.url} already exists (set overwrite to replace it)",
                    endpoint=spec.destination.server,
                )
            state.destination_existed = True

    def _in_workdir(self, location: Location) -> bool:
        return (
            self.workdir is not None
            and location.is_local
            and os.path.dirname(os.path.realpath(location.path)) == self.workdir
        )

    def _landed_before(self, state: _FileState, found: FileStat) -> None:
        """An input already in the work dir (a run of this job that was killed had landed it): kept
        when its size and checksum are the job's (or the source's), and reported so; replaced
        otherwise (a payload may have changed it)."""
        spec = state.spec
        if found.is_dir or found.is_link:
            raise DestinationExists(f"{spec.destination.url} is a {'directory' if found.is_dir else 'symbolic link'}")
        expected_size = state.size
        if expected_size is None:
            source = self._namespace(spec.source).stat(spec.source)
            expected_size = source.size if source is not None else None
        expected = spec.checksum
        if expected is None and expected_size == found.size:
            expected = self._checksum(spec.source, self.settings.checksum_algorithm, found.size)
        seen = None
        if expected is not None and expected_size == found.size:
            seen = self._checksum(spec.destination, expected.algorithm, found.size)
        if seen is not None and seen == expected:
            now = time.time()
            state.attempts.append(AttemptRecord(1, now, now, 0, None, "found complete in the work dir, kept"))
            self._finish(state, Status.ALREADY_DONE, found.size, seen, verified=True)
            log.info("%s %s: already in the work dir, complete (%s): kept", self.phase.value, spec.name, seen)
            return
        log.warning(
            "%s %s: %s is in the work dir but not what the job expects (%d bytes%s): replaced",
            self.phase.value,
            spec.name,
            spec.destination.path,
            found.size,
            f", {seen}" if seen else "",
        )
        state.replace = True

    def _look_at_source(self, state: _FileState) -> None:
        """Before retrying a download: one look (under a deadline) at the source, so a server
        that is still frozen costs ``operation_timeout``, not another ``stall_timeout``, and a
        source that went away ends the file."""
        spec = state.spec
        found = self._namespace(spec.source).stat(spec.source)
        if found is None:
            raise SourceNotFound(f"{spec.source.url} is gone", endpoint=spec.source.server)

    def _found_complete(self, state: _FileState, known: dict[Location, object]) -> bool:
        """After an ambiguous failure: is the file already complete at its destination?"""
        spec = state.spec
        found = self._destination_stat(spec.destination, known)
        if found is None:
            return False
        if state.size is not None and found.size != state.size:
            raise DestinationExists(
                f"{spec.destination.url} appeared during the job with {found.size} bytes, expected {state.size}",
                endpoint=spec.destination.server,
            )
        checksum = None
        if spec.checksum is not None:
            checksum = self._checksum(spec.destination, spec.checksum.algorithm, found.size)
            if checksum != spec.checksum:
                raise DestinationExists(
                    f"{spec.destination.url} appeared during the job with {checksum}, expected {spec.checksum}",
                    endpoint=spec.destination.server,
                )
        now = time.time()
        state.attempts.append(
            AttemptRecord(len(state.attempts) + 1, now, now, 0, None, "found complete at the destination")
        )
        self._finish(state, Status.ALREADY_DONE, found.size, checksum, verified=checksum is not None)
        log.info("%s %s: already complete at %s, not copied again", self.phase.value, spec.name, spec.destination)
        return True

    def _settle_later(self, state: _FileState, request: CopyRequest, outcome: AttemptOutcome) -> Future[None]:
        """A failure counts at once (the circuit breaker must see it before the next file starts);
        verifying, placing or removing the copy (round trips to the server) runs on a worker."""
        assert self._pool is not None
        if isinstance(outcome, Copied):
            return self._pool.submit(self._settle_copy, state, request, outcome)
        error = _cause(request.clock.reason, outcome)
        if isinstance(error, (ChecksumsDiffer, SizeMismatch)):  # whose fault: a look at the source
            self.breaker.record(False)
            return self._pool.submit(self._settle_failure, state, request, error, request.clock.bytes)
        self._attempt_failed(state, error, request.attempt, bytes_=request.clock.bytes)
        return self._pool.submit(self._discard, state, request.target, request.clock.bytes)

    def _settle_failure(self, state: _FileState, request: CopyRequest, error: MoverError, bytes_: int) -> None:
        self._discard(state, request.target, bytes_)
        error = blame(error, state.spec, self._namespace)
        self._attempt_failed(state, error, request.attempt, bytes_=bytes_, counted=True)

    def _settle_copy(self, state: _FileState, request: CopyRequest, copied: Copied) -> None:
        try:
            checksum, verified = self._verify(state, request, copied)
            self._commit(state, request)
        except Exception as exc:  # noqa: BLE001
            self._discard(state, request.target, copied.bytes)
            error = blame(as_mover_error(exc), state.spec, self._namespace)
            self._attempt_failed(state, error, request.attempt, bytes_=copied.bytes)
            return
        state.attempts.append(AttemptRecord(request.attempt, state.attempt_started, time.time(), copied.bytes))
        self.breaker.record(True)
        self._finish(state, Status.DONE, copied.bytes, checksum, verified=verified)
        self.transport.committed(request)

    def _verify(self, state: _FileState, request: CopyRequest, copied: Copied) -> tuple[Optional[Checksum], bool]:
        """The copy's checksum, and whether it was compared with an independent value."""
        spec = state.spec
        if copied.at_target and copied.verified:  # counted and checksummed where it lies
            size = copied.bytes
        else:
            found = self._namespace(request.target).stat(request.target)
            if found is None:
                raise TransferFailed(
                    "the copy reported success but left no file at the destination",
                    transient=True,
                    scope=Scope.DESTINATION,
                    endpoint=spec.destination.server,
                )
            if found.size != copied.bytes:
                raise SizeMismatch(f"{found.size} bytes at the destination, {copied.bytes} were sent")
            size = found.size
        if state.size is not None and size != state.size:
            raise SizeMismatch(f"{size} bytes arrived, the source has {state.size}")
        expected = spec.checksum
        algorithm = expected.algorithm if expected else request.checksum_algorithm
        seen = matching(algorithm, copied.checksums)
        if copied.verified:  # the transport compared the copy with the expected value or the source
            seen = seen or expected
            can_compute = request.target.is_local or self.capabilities.checksums is not ChecksumSource.NONE
            if seen is None and not copied.linked and can_compute:  # the report gives the copy a checksum
                seen = self._checksum(request.target, algorithm, size)
            return seen, True
        if expected is None:
            if copied.linked:  # no byte was copied: the file is the source itself
                return seen, False
            if self.capabilities.checksums is ChecksumSource.NONE and not (
                request.target.is_local and request.source.is_local
            ):
                return seen, False  # nobody can checksum it: the report says it is not verified
            # The copy is compared with its source, whatever the transport did: a copy cut
            # short without an error (a server dying mid-stream) never lands.
            if seen is None:
                seen = self._checksum(request.target, algorithm, size)
            expected = self._checksum(spec.source, algorithm, size)
            if seen != expected:
                raise ChecksumsDiffer(
                    f"{algorithm} of the copy is {seen.value}, the source has {expected.value}",
                    algorithm=algorithm,
                    source_differs=False,
                )
            return seen, True
        if seen is None:
            seen = self._checksum(request.target, algorithm, size)
        if seen != expected:  # the copy or its source: ``blame`` looks at the source
            raise ChecksumsDiffer(
                f"{algorithm} of the copy is {seen.value}, expected {expected.value}", algorithm=algorithm
            )
        return seen, True

    def _commit(self, state: _FileState, request: CopyRequest) -> None:
        """Rename into place without replacing a file that appeared meanwhile (unless overwriting):
        in one step where the namespace can refuse atomically, else after looking."""
        destination = state.spec.destination
        namespace = self._namespace(destination)
        atomic = destination.is_local or self.capabilities.atomic_no_clobber_rename
        overwrite = self.settings.overwrite or state.replace
        if not (atomic or overwrite) and namespace.stat(destination) is not None:
            raise DestinationExists(f"{destination.url} already exists", endpoint=destination.server)
        namespace.rename(request.target, destination, overwrite=overwrite or not atomic)
        self._gone(state, request.target)

    def _discard(self, state: _FileState, target: Location, written: int = 0) -> None:
        if target in state.leftovers:
            state.leftovers[target] = max(state.leftovers[target], written)
        try:
            self._namespace(target).remove(target)
        except Exception as exc:  # noqa: BLE001 - kept in leftovers, retried at the end
            log.debug("could not remove %s yet: %s", target, exc)
        else:
            self._gone(state, target)

    def _made(self, state: _FileState, target: Location) -> None:
        state.leftovers[target] = 0
        if self.journal is not None:
            self.journal.add(target.url)

    def _gone(self, state: _FileState, target: Location) -> None:
        if state.leftovers.pop(target, None) is not None and self.journal is not None:
            self.journal.strike(target.url)

    def _hand_over_leftovers(self, states: list[_FileState]) -> None:
        for state in states:
            for target, written in state.leftovers.items():
                reason = f"abandoned when the job stopped ({self._stopped.name if self._stopped else ''})"
                self.left_behind.append(
                    LeftBehind("temporary-file", target.url, state.spec.name, written or None, reason)
                )
            state.leftovers.clear()

    def _remove_leftovers(self, state: _FileState) -> None:
        """At the end of the phase: remove what earlier attempts could not; what still cannot be
        removed (its server is down) is kept in ``left_behind`` for the job to retry and report."""
        for target, written in list(state.leftovers.items()):
            try:
                self._namespace(target).remove(target)
                self._gone(state, target)
            except Exception as exc:  # noqa: BLE001
                error = as_mover_error(exc, phase=self.phase).bind(file=state.spec.name, endpoint=target.server)
                log.warning(
                    "%s %s: could not remove temporary file %s: %s", self.phase.value, state.spec.name, target, error
                )
                with self._lock:
                    self.left_behind.append(
                        LeftBehind("temporary-file", target.url, state.spec.name, written or None, str(error))
                    )

    # -- bookkeeping -----------------------------------------------------------------------

    def _attempt_failed(
        self, state: _FileState, error: MoverError, number: int, bytes_: int = 0, *, counted: bool = False
    ) -> None:
        """Record a failed attempt; ``counted``: the circuit breaker has seen it already."""
        spec = state.spec
        if isinstance(error, ChecksumsDiffer):  # a mover's observation is judged before it counts
            error = blame(error, spec, self._namespace)
        error = error.bind(phase=self.phase, file=spec.name, endpoint=state.remote(self.phase).server)
        state.attempts.append(AttemptRecord(number, state.attempt_started, time.time(), bytes_, error))
        state.last_error = error
        if isinstance(error, PhaseAborted):
            self._finish(state, Status.SKIPPED, 0, None)
            return
        if not counted:
            self.breaker.record(False)
        if not error.transient:
            self._finish_failed(state, error)  # the file's failure, said once at ERROR
        elif number < self.settings.max_attempts:  # the last one is said by the file's failure
            log.warning(
                "%s %s: attempt %d of %d failed: %s",
                self.phase.value,
                spec.name,
                number,
                self.settings.max_attempts,
                error,
            )

    def _abort(self, requests: Sequence[CopyRequest]) -> None:
        for request in requests:
            request.clock.cancel(PhaseAborted(f"phase stopped early: {self.breaker.describe()}"))

    def _finish(
        self,
        state: _FileState,
        status: Status,
        bytes_: int,
        checksum: Optional[Checksum],
        *,
        verified: bool = False,
    ) -> None:
        started = state.first_started or time.time()
        error = state.last_error if status in (Status.FAILED, Status.SKIPPED) else None
        state.report = FileReport(
            state.spec,
            status,
            bytes_,
            time.time() - started,
            checksum,
            tuple(state.attempts),
            error,
            self.transport.name,
            verified,
        )
        self._tell_finished(state.report)
        if status is Status.DONE:
            seconds = max(state.report.seconds, 1e-9)
            log.info(
                "%s %s: done, %d bytes in %.2f s (%.1f MB/s)%s%s",
                self.phase.value,
                state.spec.name,
                bytes_,
                seconds,
                bytes_ / seconds / 1e6,
                f", {checksum}" if checksum else "",
                "" if verified else " (not verified against a checksum)",
            )

    def _finish_failed(self, state: _FileState, error: Optional[MoverError], note: str = "") -> None:
        if error is None:
            error = TransferFailed("no attempt was made")
        state.last_error = error.bind(phase=self.phase, file=state.spec.name, endpoint=state.remote(self.phase).server)
        self._finish(state, Status.FAILED, 0, None)
        log.error(
            "%s %s: failed: %s%s", self.phase.value, state.spec.name, state.last_error, f" ({note})" if note else ""
        )

    def _unfinished(self, state: _FileState) -> FileReport:
        error = state.last_error or PhaseAborted("the phase ended before this file was attempted")
        error = error.bind(phase=self.phase, file=state.spec.name, endpoint=state.remote(self.phase).server)
        report = FileReport(state.spec, Status.SKIPPED, 0, 0.0, None, tuple(state.attempts), error, self.transport.name)
        self._tell_finished(report)
        return report

    def _tell_finished(self, report: FileReport) -> None:
        try:
            self.observer.file_finished(self.phase, report)
        except Exception:
            log.debug("progress observer failed on %s", report.spec.name, exc_info=True)

    def _log_retry(self, retry_state: tenacity.RetryCallState) -> None:
        waiting = retry_state.next_action.sleep if retry_state.next_action else 0.0
        log.info(
            "%s: %d file(s) failed transiently, retrying in %.1f s (round %d of %d)",
            self.phase.value,
            len(self._pending),
            waiting,
            retry_state.attempt_number + 1,
            self.settings.max_attempts,
        )

    def _map(self, function: Callable[[T], R], items: list[T]) -> list[R]:
        """On the workers, even for one item: the engine's thread only waits, so a signal raised
        there never lands inside a handler that records failures against a file."""
        assert self._pool is not None
        return list(self._pool.map(function, items))
