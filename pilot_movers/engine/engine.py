"""The transfer engine: turns a mover's copy primitive into retried, verified, atomic transfers.

A phase runs in rounds (tenacity decides whether and when the next round runs):

1. prepare each pending file: on its first attempt, check the source exists (local sources) and
   the destination does not (unless overwriting); on a retry, look at the destination first, so an
   ambiguous failure whose copy did land is not copied twice; pick a fresh temporary name;
2. copy all prepared files through ``mover.copy_batch`` (bounded concurrency), each under a
   stall clock and a size-scaled deadline;
3. as each copy finishes: check size, check the checksum (the transport's, computed while the bytes
   streamed, or a second pass only when it saw none), rename into place; on any failure remove the
   temporary file;
4. files whose attempt failed with a transient error go to the next round; permanent errors end
   the file. The phase stops starting transfers when most of them fail (circuit breaker).
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable, Optional, Sequence, TypeVar

import tenacity

from pilot_movers.checksums import Checksum, matching
from pilot_movers.engine.breaker import CircuitBreaker
from pilot_movers.engine.clocks import TransferClock, Watchdog
from pilot_movers.engine.placement import temporary_location
from pilot_movers.engine.retry import round_policy
from pilot_movers.errors import (
    ChecksumMismatch,
    DestinationExists,
    MoverError,
    Phase,
    PhaseAborted,
    Scope,
    SizeMismatch,
    SourceNotFound,
    TransferFailed,
    as_mover_error,
)
from pilot_movers.values import AttemptRecord, FileSpec, Location, Status, TransferResult

if TYPE_CHECKING:
    from pilot_movers.base import CopyOutcome, CopyRequest, CopyResult, Mover

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")


@dataclass(eq=False)
class _FileState:
    """Everything the engine tracks for one file across its attempts."""

    spec: FileSpec
    size: Optional[int] = None
    prechecked: bool = False
    destination_existed: bool = False
    attempts: list[AttemptRecord] = field(default_factory=list)
    leftovers: list[Location] = field(default_factory=list)
    last_error: Optional[MoverError] = None
    result: Optional[TransferResult] = None
    attempt_started: float = 0.0
    first_started: Optional[float] = None

    @property
    def finished(self) -> bool:
        return self.result is not None


class TransferEngine:
    """Runs one phase's files through one mover. Use once per phase."""

    def __init__(
        self,
        mover: Mover,
        phase: Phase,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.mover = mover
        self.phase = phase
        self.settings = mover.settings
        self.sleep = sleep
        self.credential_check = mover.credential_check
        self.breaker = CircuitBreaker(self.settings.breaker_min_transfers, self.settings.breaker_failure_ratio)
        self.watchdog = Watchdog(self.settings.watchdog_interval)
        self._pending: list[_FileState] = []
        self._round = 0

    # -- the phase -------------------------------------------------------------------------

    def run(self, files: Sequence[FileSpec]) -> list[TransferResult]:
        states = [_FileState(spec, size=spec.size) for spec in files]
        self._pending = list(states)
        try:
            if self._pending:
                policy = round_policy(self.settings, sleep=self.sleep, before_sleep=self._log_retry)
                for state in policy(self._run_round):
                    self._finish_failed(state, state.last_error, note=f"gave up after {len(state.attempts)} attempts")
        finally:
            self.watchdog.stop()
            for state in states:
                self._remove_leftovers(state)
        return [state.result or self._unfinished(state) for state in states]

    def _run_round(self) -> list[_FileState]:
        self._round += 1
        number = self._round
        pending = [s for s in self._pending if not s.finished]
        if number > 1 and self.breaker.tripped:
            for state in pending:
                self._finish_failed(state, state.last_error, note=f"not retried: {self.breaker.describe()}")
            return []
        if self.credential_check is not None:
            try:
                self.credential_check()
            except MoverError as exc:
                for state in pending:
                    self._finish_failed(state, exc.bind(phase=self.phase, file=state.spec.name))
                return []
        prepared = [
            (state, request)
            for state, request in zip(pending, self._map(lambda s: self._prepare(s, number), pending))
            if request is not None
        ]
        requests = [request for _, request in prepared]
        state_of = {id(request): state for state, request in prepared}
        with self.watchdog.watching(r.clock for r in requests):
            for request, result in self.mover.copy_batch(requests):
                self._settle(state_of[id(request)], request, result)
                if self.breaker.tripped:
                    self._abort(requests)
        self._pending = [s for s in pending if not s.finished]
        return self._pending

    # -- one attempt -----------------------------------------------------------------------

    def _prepare(self, state: _FileState, number: int) -> Optional[CopyRequest]:
        from pilot_movers.base import CopyRequest

        spec = state.spec
        state.attempt_started = time.time()
        if state.first_started is None:
            state.first_started = state.attempt_started
        try:
            if not state.prechecked:
                self._precheck(state)
                state.prechecked = True
            elif not state.destination_existed and self._found_complete(state):
                return None
            target = temporary_location(spec.destination, number)
            state.leftovers.append(target)
            clock = TransferClock(
                f"{self.phase.value} {spec.name}",
                stall_timeout=self.settings.stall_timeout,
                total_timeout=self.settings.total_timeout,
                size=state.size,
            )
            return CopyRequest(spec, spec.source, target, clock, number, self.phase, self.settings.checksum)
        except Exception as exc:  # noqa: BLE001 - every failure is recorded against the file
            self._attempt_failed(state, as_mover_error(exc), number)
            return None

    def _precheck(self, state: _FileState) -> None:
        spec = state.spec
        if spec.source.is_local:
            found = self.mover.namespace(spec.source).stat(spec.source)
            if found is None:
                raise SourceNotFound(f"{spec.source.path} does not exist", endpoint=spec.source.server)
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
        existing = self.mover.namespace(spec.destination).stat(spec.destination)
        if existing is not None:
            if not self.settings.overwrite:
                raise DestinationExists(
                    f"{spec.destination.url} already exists (set overwrite to replace it)",
                    endpoint=spec.destination.server,
                )
            state.destination_existed = True

    def _found_complete(self, state: _FileState) -> bool:
        """After an ambiguous failure: is the file already complete at its destination?"""
        spec = state.spec
        namespace = self.mover.namespace(spec.destination)
        found = namespace.stat(spec.destination)
        if found is None:
            return False
        if state.size is not None and found.size != state.size:
            raise DestinationExists(
                f"{spec.destination.url} appeared during the job with {found.size} bytes, expected {state.size}",
                endpoint=spec.destination.server,
            )
        checksum = None
        if spec.checksum is not None:
            checksum = namespace.checksum(spec.destination, spec.checksum.algorithm)
            if checksum != spec.checksum:
                raise DestinationExists(
                    f"{spec.destination.url} appeared during the job with {checksum}, expected {spec.checksum}",
                    endpoint=spec.destination.server,
                )
        now = time.time()
        state.attempts.append(
            AttemptRecord(len(state.attempts) + 1, now, now, 0, None, "found complete at the destination")
        )
        self._finish(state, Status.ALREADY_DONE, found.size, checksum)
        log.info("%s %s: already complete at %s, not copied again", self.phase.value, spec.name, spec.destination)
        return True

    def _settle(self, state: _FileState, request: CopyRequest, result: CopyResult) -> None:
        from pilot_movers.base import CopyOutcome

        error: Optional[MoverError] = None
        checksum: Optional[Checksum] = None
        if isinstance(result, CopyOutcome):
            try:
                checksum = self._verify(state, request, result)
                self._commit(state, request)
            except Exception as exc:  # noqa: BLE001
                error = as_mover_error(exc)
        else:
            error = request.clock.reason or result
        if error is None:
            assert isinstance(result, CopyOutcome)
            state.attempts.append(AttemptRecord(request.attempt, state.attempt_started, time.time(), result.bytes))
            self.breaker.record(True)
            self._finish(state, Status.DONE, result.bytes, checksum)
            self.mover.committed(request)
            return
        self._discard(state, request.target)
        self._attempt_failed(state, error, request.attempt, bytes_=request.clock.bytes)

    def _verify(self, state: _FileState, request: CopyRequest, outcome: CopyOutcome) -> Optional[Checksum]:
        spec = state.spec
        namespace = self.mover.namespace(request.target)
        found = namespace.stat(request.target)
        if found is None:
            raise TransferFailed(
                "the copy reported success but left no file at the destination",
                transient=True,
                scope=Scope.DESTINATION,
                endpoint=spec.destination.server,
            )
        if found.size != outcome.bytes:
            raise SizeMismatch(f"{found.size} bytes at the destination, {outcome.bytes} were sent")
        if state.size is not None and found.size != state.size:
            raise SizeMismatch(f"{found.size} bytes arrived, the source has {state.size}")
        expected = spec.checksum
        algorithm = expected.algorithm if expected else request.checksum_algorithm
        seen = matching(algorithm, outcome.checksums)
        if expected is None:
            if seen is None and not outcome.linked:  # the report gives every copied file a checksum
                seen = namespace.checksum(request.target, algorithm)
            return seen
        if outcome.verified:  # the transport compared the copy with the expected value itself
            return seen or expected
        if seen is None:
            seen = namespace.checksum(request.target, algorithm)
        if seen != expected:
            raise ChecksumMismatch(
                f"{algorithm} of the copy is {seen.value}, expected {expected.value}",
                algorithm=algorithm,
            )
        return seen

    def _commit(self, state: _FileState, request: CopyRequest) -> None:
        destination = state.spec.destination
        self.mover.namespace(destination).rename(request.target, destination, overwrite=self.settings.overwrite)
        state.leftovers.remove(request.target)

    def _discard(self, state: _FileState, target: Location) -> None:
        try:
            self.mover.namespace(target).remove(target)
        except Exception as exc:  # noqa: BLE001 - kept in leftovers, retried at the end
            log.debug("could not remove %s yet: %s", target, exc)
        else:
            if target in state.leftovers:
                state.leftovers.remove(target)

    def _remove_leftovers(self, state: _FileState) -> None:
        for target in list(state.leftovers):
            try:
                self.mover.namespace(target).remove(target)
                state.leftovers.remove(target)
            except Exception as exc:  # noqa: BLE001
                log.warning(
                    "%s %s: could not remove temporary file %s: %s", self.phase.value, state.spec.name, target, exc
                )

    # -- bookkeeping -----------------------------------------------------------------------

    def _attempt_failed(self, state: _FileState, error: MoverError, number: int, bytes_: int = 0) -> None:
        spec = state.spec
        remote = spec.source if self.phase is Phase.STAGE_IN else spec.destination
        error.bind(phase=self.phase, file=spec.name, endpoint=remote.server)
        state.attempts.append(AttemptRecord(number, state.attempt_started, time.time(), bytes_, error.to_dict()))
        state.last_error = error
        if isinstance(error, PhaseAborted):
            self._finish(state, Status.SKIPPED, 0, None)
            return
        self.breaker.record(False)
        log.warning("%s %s: attempt %d failed: %s", self.phase.value, spec.name, number, error)
        if not error.transient:
            self._finish_failed(state, error)

    def _abort(self, requests: Iterable[CopyRequest]) -> None:
        for request in requests:
            request.clock.cancel(PhaseAborted(f"phase stopped early: {self.breaker.describe()}", phase=self.phase))

    def _finish(self, state: _FileState, status: Status, bytes_: int, checksum: Optional[Checksum]) -> None:
        started = state.first_started or time.time()
        error = state.last_error.to_dict() if status in (Status.FAILED, Status.SKIPPED) and state.last_error else None
        state.result = TransferResult(
            state.spec,
            status,
            bytes_,
            time.time() - started,
            checksum,
            tuple(state.attempts),
            error,
            self.mover.name,
        )
        if status is Status.DONE:
            seconds = max(state.result.seconds, 1e-9)
            log.info(
                "%s %s: done, %d bytes in %.2f s (%.1f MB/s)%s",
                self.phase.value,
                state.spec.name,
                bytes_,
                seconds,
                bytes_ / seconds / 1e6,
                f", {checksum}" if checksum else "",
            )

    def _finish_failed(self, state: _FileState, error: Optional[MoverError], note: str = "") -> None:
        if error is None:
            error = TransferFailed("no attempt was made", phase=self.phase, file=state.spec.name)
        state.last_error = error
        self._finish(state, Status.FAILED, 0, None)
        log.error("%s %s: failed: %s%s", self.phase.value, state.spec.name, error, f" ({note})" if note else "")

    def _unfinished(self, state: _FileState) -> TransferResult:
        error = state.last_error or PhaseAborted("the phase ended before this file was attempted")
        return TransferResult(
            state.spec, Status.SKIPPED, 0, 0.0, None, tuple(state.attempts), error.to_dict(), self.mover.name
        )

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
        workers = min(self.settings.concurrency, len(items))
        if workers <= 1:
            return [function(item) for item in items]
        with ThreadPoolExecutor(workers, thread_name_prefix="pilot-movers-prepare") as pool:
            return list(pool.map(function, items))
