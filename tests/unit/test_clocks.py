"""The clocks' contract on its own, on a clock that only moves when the test says so."""

from __future__ import annotations

import threading
import time

import pytest

from pilot_movers.engine.clocks import TransferClock, Watchdog
from pilot_movers.errors import JobTerminated, TransferStalled, TransferTimeout


class Time:
    """A hand-moved monotonic clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def pass_(self, seconds: float) -> None:
        self.now += seconds


def clock(now: Time, label: str = "file", stall: float = 4.0, total: float = 100.0, **kwargs) -> TransferClock:
    return TransferClock(label, stall_timeout=stall, total_timeout=lambda _size: total, now=now, **kwargs)


def test_a_batch_whose_file_moves_is_never_stalled_however_long_it_lasts():
    """The defect of issue 18: the batch clock never heard its files' progress."""
    now = Time()
    batch = clock(now, "batch", total=10_000)
    file = clock(now, total=10_000)
    batch.adopt(file)
    batch.start()
    moved = 0
    for _ in range(300):  # 300 s of a healthy transfer, progress every second
        now.pass_(1.0)
        moved += 1_000_000
        file.progress(moved)
        batch.check()
        file.check()
    assert batch.reason is None
    assert file.reason is None


def test_a_batch_is_stalled_when_none_of_its_files_moves():
    now = Time()
    batch = clock(now, "batch")
    file = clock(now)
    batch.adopt(file)
    batch.start()
    file.progress(10)
    now.pass_(4.0)
    batch.check()
    assert isinstance(batch.reason, TransferStalled)
    assert "no progress for 4 s" in batch.reason.message


def test_a_clock_given_as_parent_is_adopted():
    now = Time()
    batch = clock(now, "batch")
    file = clock(now, parent=batch)
    batch.start()
    now.pass_(3.0)
    file.touch()  # a sign of life (a checksum running) counts for the batch too
    now.pass_(3.0)
    batch.check()
    assert batch.reason is None


def test_cancelling_a_batch_cancels_every_file_with_the_same_reason():
    now = Time()
    batch = clock(now, "batch")
    files = [clock(now, f"f{i}") for i in range(3)]
    for file in files:
        batch.adopt(file)
    reason = JobTerminated("SIGTERM")
    batch.cancel(reason)
    assert all(f.reason is reason and f.cancelled.is_set() for f in files)
    late = clock(now, "late")
    batch.adopt(late)  # adopted after the cancel: cancelled at once
    assert late.reason is reason


def test_a_file_clock_runs_only_from_its_start():
    """Files waiting their turn in a bulk call are unclocked; the batch's clock covers them."""
    now = Time()
    file = clock(now)
    now.pass_(60)
    file.check()
    assert file.reason is None
    file.start()
    now.pass_(4.0)
    file.check()
    assert isinstance(file.reason, TransferStalled)


def test_the_deadline_scales_with_the_size_learned_late():
    now = Time()
    file = TransferClock("f", stall_timeout=1000, total_timeout=lambda size: 10 + (size or 0) / 1e6, now=now)
    file.start()
    file.set_size(50_000_000)  # 60 s allowed
    for _ in range(59):
        now.pass_(1.0)
        file.progress(int(now.now))
        file.check()
    assert file.reason is None
    now.pass_(2.0)
    file.progress(int(now.now))
    file.check()
    assert isinstance(file.reason, TransferTimeout)
    assert not isinstance(file.reason, TransferStalled)


def test_signs_of_life_keep_a_clock_running_without_counted_bytes():
    """A transport that counts bytes coarsely (XRootD's chunks) shows life on the wire."""
    now = Time()
    file = clock(now)
    file.start()
    alive = {"yes": True}
    file.signs_of_life = lambda: alive["yes"]
    for _ in range(10):
        now.pass_(3.0)
        file.check()
    assert file.reason is None
    alive["yes"] = False
    now.pass_(4.0)
    file.check()
    assert isinstance(file.reason, TransferStalled)


def test_a_cancel_hook_that_blocks_holds_neither_the_canceller_nor_the_other_hooks():
    """gfal2's cancel blocked a signal handler 3.4 s: hooks run on threads of their own."""
    file = TransferClock("f", stall_timeout=1, total_timeout=lambda _: 10)
    release = threading.Event()
    quick = threading.Event()
    file.on_cancel(lambda: release.wait(10))
    file.on_cancel(quick.set)
    started = time.monotonic()
    file.cancel(JobTerminated("SIGTERM"))
    assert time.monotonic() - started < 0.1, "cancel() waited for a hook"
    assert file.cancelled.is_set()
    assert quick.wait(2), "the second hook waited for the first"
    release.set()


def test_a_hook_added_after_the_cancel_runs_at_once():
    file = TransferClock("f", stall_timeout=1, total_timeout=lambda _: 10)
    file.cancel(JobTerminated("SIGTERM"))
    ran = threading.Event()
    file.on_cancel(ran.set)
    assert ran.wait(2)


@pytest.mark.timeout(20)
def test_the_watchdog_cancels_a_stalled_clock_and_stops():
    watchdog = Watchdog(0.02)
    file = TransferClock("f", stall_timeout=0.1, total_timeout=lambda _: 10)
    file.start()
    with watchdog.watching([file]):
        assert file.cancelled.wait(5)
    watchdog.stop()
    assert isinstance(file.reason, TransferStalled)
