"""Running a batch through a transport: the per-file runner, and the engine's guard around any
transport's ``copy_batch``.

``copy_each`` is how a streaming transport (one ``copy_file`` per file) serves a batch: worker
threads, at most ``batch.parallel`` files in flight, each file's clock started when its worker
picks it up. ``guarded`` wraps every transport's batch, streaming or task-based: files cancelled
before the call are answered without it, a transport that raises or forgets a file still gives
that file an answer, and when the caller stops listening (a signal, an exception) the whole batch
is cancelled before the transport is closed, so its threads can be joined at once.
"""

from __future__ import annotations

import itertools
import logging
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Callable, Generator, Iterator, Optional

from pilot_movers.engine.contract import AttemptOutcome, Batch, Copied, CopyRequest, Transport
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
    pool = ThreadPoolExecutor(workers, thread_name_prefix=f"pilot-movers-{name or 'copy'}")
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
        pool.shutdown(wait=True, cancel_futures=True)


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
