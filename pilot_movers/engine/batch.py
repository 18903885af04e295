"""Running a batch through a transport: the per-file runner, and the engine's guard around any
transport's ``copy_batch``.

``copy_each`` is how a streaming transport (one ``copy_file`` per file) serves a batch: worker
threads, at most ``batch.parallel`` files in flight, each file's clock started when its worker
picks it up. ``guarded`` wraps every transport's batch, streaming or task-based: files cancelled
before the call are answered without it, a transport that raises or forgets a file still gives
that file an answer, and when the caller stops listening (a signal, an exception) the whole batch
is cancelled before the transport is closed, so its threads can be joined at once.
``AnswerPump`` runs a guarded batch on a thread of its own, so the engine's thread only waits
for answers, and stops waiting ``cancel_grace`` seconds after the batch was cancelled: a mover
stuck in C (gfal2 in an unlink on a frozen server) cannot hold the job.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Any, Callable, Generator, Iterator, Optional

from pilot_movers.engine.clocks import TransferClock
from pilot_movers.engine.contract import AttemptOutcome, Batch, Copied, CopyRequest, Transport
from pilot_movers.engine.workers import DaemonPool
from pilot_movers.errors import JobTerminated, MoverError, TransferCancelled, TransferFailed

log = logging.getLogger(__name__)

Answer = tuple[CopyRequest, AttemptOutcome]


def copy_each(
    batch: Batch,
    copy_file: Callable[[CopyRequest], Copied],
    *,
    translate: Callable[[Exception], MoverError],
    name: str = "",
) -> Iterator[Answer]:
    """Run ``copy_file`` for every request on worker threads (even one: a transport blocked in
    C must not keep the main thread from acting on SIGTERM). The next file starts only after one
    was handed back, so the engine's verdict on it (a tripped circuit breaker, cancelling the
    rest) reaches the files not yet started."""
    if not batch.requests:
        return
    workers = max(1, min(batch.parallel, len(batch.requests)))
    pool = DaemonPool(workers, name=f"pilot-movers-{name or 'copy'}")
    waiting = iter(batch.requests)
    running: dict[Future[AttemptOutcome], CopyRequest] = {}

    def attempt(request: CopyRequest) -> AttemptOutcome:
        if request.clock.reason is not None:
            return request.clock.reason
        request.clock.start()
        try:
            return copy_file(request)
        except MoverError as exc:
            return exc
        except Exception as exc:  # a transport bug must fail one file, not the phase
            log.exception("mover %s raised an unexpected error copying %s", name, request.spec.name)
            return translate(exc)

    try:
        for request in itertools.islice(waiting, workers):
            running[pool.submit(attempt, request)] = request
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                yield running.pop(future), future.result()
                following = next(waiting, None)
                if following is not None:
                    running[pool.submit(attempt, following)] = following
    finally:
        if running:  # abandoned (the caller stopped listening): stop what runs, then join it
            batch.clock.cancel(TransferCancelled("transfer abandoned: the job is stopping"))
        # Daemon threads: one stuck in C past the cancel is left, and cannot hold the process.
        pool.shutdown(wait=not running, cancel_futures=True)


def guarded(transport: Transport, batch: Batch) -> Generator[Answer, None, None]:
    """``transport.copy_batch(batch)`` with the engine's guarantees: exactly one answer per
    request; cancelled requests never reach the transport; a batch the transport fails as a whole
    (it raises) fails each file it did not answer; when the caller stops listening (the generator
    is closed, or an exception such as a signal's unwinds through it), every clock is cancelled
    before the transport's generator is closed."""
    answered: set[int] = set()
    live = []
    for request in batch.requests:
        if request.clock.reason is not None:
            answered.add(id(request))
            yield request, request.clock.reason
        else:
            live.append(request)
    if not live:
        return
    batch = Batch(tuple(live), batch.clock, batch.parallel)
    answers = transport.copy_batch(batch)
    failure: Optional[MoverError] = None
    completed = False
    try:
        for request, outcome in answers:
            if id(request) in answered:
                log.error("mover %s answered %s twice; the second answer is ignored", transport.name, request.spec.name)
                continue
            answered.add(id(request))
            yield request, outcome
        completed = True
    except JobTerminated:  # the job is stopping (a signal): not this batch's failure
        raise
    except MoverError as exc:  # the whole call failed
        failure, completed = exc, True
    except Exception as exc:  # a transport bug
        log.exception("mover %s failed a batch of %d file(s)", transport.name, len(live))
        failure, completed = transport.translate_exception(exc), True
    finally:
        if not completed:
            batch.clock.cancel(TransferCancelled("transfer abandoned: the job is stopping"))
            close = getattr(answers, "close", None)  # a generator: run its cleanup now
            if close is not None:
                close()
    for request in live:
        if id(request) not in answered:
            if failure is None:
                log.error("mover %s gave no answer for %s", transport.name, request.spec.name)
            reason = request.clock.reason or failure
            yield request, reason or TransferFailed(f"mover {transport.name} gave no answer", transient=True)


_END = object()


class AnswerPump:
    """A guarded batch (``guarded``) run on a daemon thread; its answers are read with
    ``answers``, which stops waiting ``grace`` seconds after the batch's clock was cancelled and
    answers the rest itself (each file's cancel reason). What the mover says later is ignored;
    ``abandoned`` lists the requests it never answered in time.

    The mover is resumed only once the engine has taken its last answer in (as if the engine
    iterated it itself): the engine's verdict on a file (a tripped circuit breaker) reaches the
    files not yet started."""

    def __init__(self, answers: Generator[Answer, None, None], label: str = "") -> None:
        self._answers = answers
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._stop = False
        self._taken = threading.Semaphore(0)
        self.abandoned: list[CopyRequest] = []
        self.ended = threading.Event()
        self._after: Optional[Callable[[list[CopyRequest]], None]] = None
        self._sweep_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"pilot-movers-answers{label}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for answer in self._answers:
                self._queue.put(answer)
                self._taken.acquire()  # the engine took it in (or stopped listening)
                if self._stop:
                    break
        except BaseException as exc:  # noqa: BLE001 - handed to the engine's thread
            self._queue.put(_Raised(exc))
        finally:
            try:
                self._answers.close()  # a generator stopped early runs its cleanup here
            except Exception:
                log.debug("closing an abandoned batch failed", exc_info=True)
            self._queue.put(_END)
            self.ended.set()
            self._sweep()

    def answers(self, requests: tuple[CopyRequest, ...], clock: TransferClock, grace: float) -> Iterator[Answer]:
        """Each request with its outcome, as the mover gives them, or, once ``clock`` has been
        cancelled for ``grace`` seconds, with its cancel reason."""
        waiting = {id(r): r for r in requests}
        done = False
        try:
            yield from self._read(waiting, clock, grace)
            done = True
        finally:
            if not done:  # the engine stopped listening (a signal): the batch is closed
                self.stop()

    def _read(self, waiting: dict[int, CopyRequest], clock: TransferClock, grace: float) -> Iterator[Answer]:
        while waiting:
            try:
                item = self._queue.get(timeout=0.1)
            except queue.Empty:
                cancelled_at = clock.cancelled_at
                if cancelled_at is not None and clock.elapsed_since(cancelled_at) >= grace:
                    self.abandoned = list(waiting.values())
                    log.warning(
                        "%s: the mover gave no answer for %d file(s) within %g s of the cancel: the job "
                        "goes on without them",
                        clock.label,
                        len(self.abandoned),
                        grace,
                    )
                    self.stop()
                    reason = clock.reason or TransferCancelled("abandoned after the cancel")
                    for request in self.abandoned:
                        yield request, request.clock.reason or reason
                    return
                continue
            if item is _END:
                return
            if isinstance(item, _Raised):
                raise item.exc
            request, outcome = item
            if waiting.pop(id(request), None) is not None:
                yield request, outcome
            self._taken.release()

    def stop(self) -> None:
        """Nobody listens any more: the thread closes the batch after the mover's next answer."""
        if not self._stop:
            self._stop = True
            self._taken.release()

    def after_abandoned(self, sweep: Callable[[list[CopyRequest]], None]) -> None:
        """Run ``sweep(abandoned requests)`` on the pump's thread once the mover really ended
        (their temporary copies may appear only then)."""
        self._after = sweep
        if self.ended.is_set():
            self._sweep()

    def _sweep(self) -> None:
        with self._sweep_lock:
            sweep, self._after = self._after, None
        if sweep is not None and self.abandoned:
            try:
                sweep(self.abandoned)
            except Exception:
                log.debug("sweeping abandoned copies failed", exc_info=True)


class _Raised:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc
