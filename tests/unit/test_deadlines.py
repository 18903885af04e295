"""Remote operations under a deadline, the pump between a mover and the engine, daemon workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from pilot_movers.engine.batch import AnswerPump
from pilot_movers.engine.cancels import CANCELS
from pilot_movers.engine.clocks import TransferClock
from pilot_movers.engine.deadlines import RemoteCalls
from pilot_movers.engine.workers import DaemonPool
from pilot_movers.errors import JobTerminated, ServiceUnavailable, TransferStalled

SERVER = "root://frozen.example.org:1094"


def hang() -> None:
    threading.Event().wait(60)


def test_an_operation_past_its_deadline_fails_and_silences_the_server():
    calls = RemoteCalls(0.2)
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable, match=r"did not answer the stat of X within 0\.2 s"):
        calls.call(SERVER, "stat of X", hang)
    assert time.monotonic() - started < 1.0
    assert calls.is_silent(SERVER)
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable, match="is not answering"):
        calls.call(SERVER, "removal of Y", hang)
    assert time.monotonic() - started < 0.1, "a silent server is not waited for again"
    assert calls.call("root://other:1094", "stat of Z", lambda: 42) == 42, "other servers are asked as usual"


def test_a_silent_server_gets_one_more_chance_each_round():
    calls = RemoteCalls(0.1)
    calls.silence(SERVER, "no byte moved for 2 s")
    with pytest.raises(ServiceUnavailable):
        calls.call(SERVER, "stat", lambda: 1)
    calls.forgive()
    assert calls.call(SERVER, "stat", lambda: 1) == 1


def test_an_interrupt_ends_every_wait_in_progress_but_not_later_calls():
    calls = RemoteCalls(30)
    reason = JobTerminated("SIGTERM")
    threading.Timer(0.2, calls.interrupt, args=(reason,)).start()
    started = time.monotonic()
    with pytest.raises(JobTerminated):
        calls.call(SERVER, "stat", hang)
    assert time.monotonic() - started < 1.0
    assert calls.call(SERVER, "removal", lambda: "done") == "done", "the cleanup's calls still run"


def test_an_operation_that_raises_raises_its_own_error():
    calls = RemoteCalls(5)

    def refuse() -> None:
        raise ServiceUnavailable("connection refused")

    with pytest.raises(ServiceUnavailable, match="connection refused"):
        calls.call(SERVER, "stat", refuse)
    assert not calls.is_silent(SERVER)


def test_daemon_workers_run_everything_and_a_stuck_one_does_not_block_the_rest():
    pool = DaemonPool(None)
    stuck = pool.submit(hang)
    results = [pool.submit(lambda i=i: i * 2) for i in range(20)]
    assert [f.result(timeout=5) for f in results] == [i * 2 for i in range(20)]
    assert not stuck.done()
    pool.shutdown(wait=False)


def test_a_bounded_pool_runs_at_most_its_workers_at_once():
    pool = DaemonPool(3)
    active, peak, lock = [0], [0], threading.Lock()

    def work() -> None:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.02)
        with lock:
            active[0] -= 1

    for future in [pool.submit(work) for _ in range(30)]:
        future.result(timeout=10)
    pool.shutdown()
    assert peak[0] == 3


def test_a_process_with_a_stuck_worker_still_exits():
    """ThreadPoolExecutor joins its threads at exit: one blocked in C would keep a pilot alive."""
    program = textwrap.dedent(
        """
        import threading
        from pilot_movers.engine.workers import DaemonPool
        DaemonPool(2).submit(threading.Event().wait)
        print("leaving")
        """
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=20)
    assert (done.returncode, done.stdout.strip()) == (0, "leaving")


def _clock(stall: float = 60) -> TransferClock:
    return TransferClock("batch", stall_timeout=stall, total_timeout=lambda _: 600)


def test_the_pump_hands_answers_over_in_lockstep():
    """The mover is resumed only once the engine took its answer in (a tripped breaker must
    reach the files not yet started)."""
    resumed: list[int] = []

    def answers():
        for i in range(3):
            yield (i, "copied")
            resumed.append(i)

    pump = AnswerPump(answers())
    taken = []
    for request, _ in pump.answers((0, 1, 2), _clock(), grace=1):  # type: ignore[arg-type]
        time.sleep(0.05)
        taken.append(request)
        assert resumed == taken[:-1]
    assert taken == [0, 1, 2]


def test_the_pump_stops_waiting_for_a_mover_stuck_after_the_cancel():
    """A mover stuck in C (gfal2 in an unlink on a frozen server) cannot hold the engine."""

    class Request:
        def __init__(self) -> None:
            self.clock = _clock()

    requests = (Request(), Request())

    def stuck():
        yield (requests[0], "copied")
        hang()  # never answers for the second
        yield (requests[1], "copied")

    clock = _clock()
    pump = AnswerPump(stuck())
    got = []
    threading.Timer(0.1, clock.cancel, args=(TransferStalled("no progress for 2 s"),)).start()
    started = time.monotonic()
    for request, outcome in pump.answers(requests, clock, grace=0.3):  # type: ignore[arg-type]
        got.append((request, outcome))
    assert time.monotonic() - started < 2
    assert got[0] == (requests[0], "copied")
    assert got[1][0] is requests[1] and isinstance(got[1][1], TransferStalled)
    assert pump.abandoned == [requests[1]]


def test_the_pump_forwards_what_the_batch_raised():
    def broken():
        raise JobTerminated("SIGTERM")
        yield

    pump = AnswerPump(broken())
    with pytest.raises(JobTerminated):
        list(pump.answers((1,), _clock(), grace=1))  # type: ignore[arg-type]


def test_a_cancel_asked_for_in_a_signal_handler_takes_no_lock_and_runs_elsewhere():
    """The handler runs between two bytecodes of the main thread, which may hold the lock a
    clock's cancel needs: asking never blocks, the action runs on another thread."""
    CANCELS.start()
    clock = _clock()
    ran_on: list[str] = []

    def handler(number, frame):
        CANCELS.request(
            lambda: (ran_on.append(threading.current_thread().name), clock.cancel(JobTerminated("SIGUSR1")))
        )

    previous = signal.signal(signal.SIGUSR1, handler)
    try:
        with clock._lock:  # the main thread holds the clock's lock when the signal lands
            os.kill(os.getpid(), signal.SIGUSR1)
            time.sleep(0.05)
            assert not clock.cancelled.is_set()
        assert clock.cancelled.wait(2)
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert ran_on and ran_on[0] != threading.main_thread().name
