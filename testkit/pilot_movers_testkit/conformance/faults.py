"""The fault cases every network mover must pass, through the real ``pilot-movers run`` command.

Written once against ``ServerUnderTest``; a mover proves itself by providing a ``storage``
fixture and subclassing ``MoverFaultSuite`` in a test module (as fsspec's abstract test suites
do). Each case runs in both directions (a download in stage-in, an upload in stage-out), on a
loopback slowed with ``tc tbf``, with small timings (``TIMINGS``):

1. a healthy transfer lasting at least 3 x ``stall_timeout`` succeeds;
2. a server frozen for good mid-transfer ends the job within
   ``TransferSettings.unresponsive_server_bound()``, exit 3, nothing partial (what the frozen
   server kept is listed in the report's ``left_behind``);
3. a server frozen, then resumed once the stall was noticed: retried, the file arrives;
4. SIGTERM mid-transfer, the link moving or the server frozen: the cleanup starts within 1 s,
   the job ends soon after (exit 143), nothing partial;
5. a full destination: NOLOCALSPACE (stage-in) or NOREMOTESPACE (stage-out), not retried, exit 1;
6. a refused connection, with default settings: the job fails within 15 s, exit 3.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest

from pilot_movers.checksums import Checksum
from pilot_movers.engine.settings import TransferSettings
from pilot_movers_testkit.conformance.jobs import SIGTERM_STATUS, JobRun, start_job
from pilot_movers_testkit.conformance.storage import ServerUnderTest, slow_loopback, small_disk

EXIT_FAILED, EXIT_RETRYABLE = 1, 3


def _write(path: Path, size: int, seed: int) -> Checksum:
    """``size`` pseudo-random bytes at ``path``; their adler32."""
    import random
    import zlib

    rng = random.Random(seed)
    adler = 1
    with open(path, "wb") as handle:
        left = size
        while left:
            block = rng.randbytes(min(left, 1 << 20))
            adler = zlib.adler32(block, adler)
            handle.write(block)
            left -= len(block)
    return Checksum.adler32_of_int(adler)


class MoverFaultSuite:
    """Subclass in a test module that provides a ``storage`` fixture (a ``ServerUnderTest``)."""

    #: The queue's ``[transfer]`` section for the slow-world cases: small, so the suite is quick.
    TIMINGS: dict[str, Any] = {
        "stall_timeout": 2.0,
        "operation_timeout": 2.0,
        "cancel_grace": 1.0,
        "cleanup_timeout": 4.0,
        "backoff_initial": 0.2,
        "backoff_max": 0.4,
        "backoff_jitter": 0.0,
        "max_attempts": 3,
        "watchdog_interval": 0.1,
        "progress_interval": 1.0,
    }
    #: The slowed link, and a file that takes about 4 x ``stall_timeout`` through it.
    RATE = "32mbit"
    SIZE = 32_000_000
    #: Bytes moved before a fault is injected (the transfer is under way).
    UNDER_WAY = 2_000_000
    #: Seconds a Python process needs to start and stop besides the job (the bounds add it).
    STARTUP = 4.0

    @pytest.fixture(params=["download", "upload"])
    def direction(self, request: pytest.FixtureRequest) -> str:
        return str(request.param)

    # -- the job ---------------------------------------------------------------------------

    def settings(self) -> TransferSettings:
        return TransferSettings.from_options(self.TIMINGS)

    def start(
        self,
        storage: ServerUnderTest,
        tmp_path: Path,
        direction: str,
        *,
        transfer: Any = None,
        directory: str = "",
        workdir: Path | None = None,
        size: int = 0,
    ) -> tuple[JobRun, str, Checksum]:
        """Start a job moving one file of ``size`` (default ``SIZE``) bytes: from the server
        into the work dir (download), or from the work dir (the payload copies it there) to the
        server (upload). Returns the run, the file's name and its checksum."""
        size = size or self.SIZE
        name = storage.name(f"f-{direction}.dat")
        directory = directory or storage.directory_url()
        if direction == "download":
            checksum = storage.put(name, size, seed=11)
            params = f"dir-in={directory} files-in={name}"
            payload = ["true"]
        else:
            source = tmp_path / "source.dat"
            checksum = _write(source, size, seed=12)
            params = f"dir-out={directory} files-out={name}"
            payload = ["cp", str(source), name]
        queue = {"copytool": storage.mover, **storage.queue()}
        if transfer is not False:
            queue["transfer"] = dict(self.TIMINGS if transfer is None else transfer)
        run = start_job(
            params, queue, workdir or tmp_path / "work", payload, environment=storage.environment(), files=tmp_path
        )
        return run, name, checksum

    def under_way(self, run: JobRun, storage: ServerUnderTest, direction: str) -> float:
        """Wait until ``UNDER_WAY`` bytes have moved (the moment they had)."""
        moved = run.partial_bytes if direction == "download" else storage.partial_bytes
        return run.wait_until(lambda: moved() >= self.UNDER_WAY, 60, "the transfer getting under way")

    @staticmethod
    def phase(direction: str) -> str:
        return "stage-in" if direction == "download" else "stage-out"

    @staticmethod
    def file_report(run: JobRun, direction: str) -> dict[str, Any]:
        phase = run.report()["phases"][MoverFaultSuite.phase(direction)]
        (only,) = phase["files"]
        return dict(only)

    def assert_nothing_partial(self, run: JobRun, storage: ServerUnderTest, name: str, direction: str) -> None:
        """No temporary copy in the work dir; none on the server unless the report lists it
        (a frozen server keeps what it holds); the destination not made."""
        assert run.partial_bytes() == 0, sorted(p.name for p in run.workdir.glob("*"))
        listed = " ".join(item["location"] for item in run.report()["left_behind"])
        unlisted = [d for d in storage.debris() if d.rsplit("/", 1)[-1] not in listed]
        assert unlisted == [], f"temporary copies on the server the report does not list: {unlisted}"
        if direction == "download":
            assert not (run.workdir / name).exists()
        else:
            assert storage.holds(name) is None

    # -- 1. a healthy transfer lasting minutes (here: seconds, with a stall limit to match) --

    def test_a_healthy_transfer_longer_than_three_stall_limits_succeeds(
        self, storage: ServerUnderTest, tmp_path: Path, direction: str
    ) -> None:
        with slow_loopback(self.RATE):
            run, name, checksum = self.start(storage, tmp_path, direction)
            status = run.wait(120)
        lasted = self.file_report(run, direction)["seconds"]
        stall = self.TIMINGS["stall_timeout"]
        storage.note(transfer_seconds=round(lasted, 1), stall_limit=stall)
        assert status == 0, run.log
        assert lasted >= 3 * stall, f"the transfer lasted {lasted:.1f} s: not long enough to prove anything"
        assert not run.logged("cancelling"), run.log
        report = self.file_report(run, direction)
        assert (report["status"], report["verified"], len(report["attempts"])) == ("done", True, 1)
        landed = Checksum.parse(report["checksum"]) if isinstance(report["checksum"], str) else None
        assert landed == checksum
        if direction == "upload":
            assert storage.holds(name) == checksum
        assert storage.debris() == []
        assert run.partial_bytes() == 0

    # -- 2. a server frozen for good -------------------------------------------------------

    def test_a_server_frozen_for_good_ends_the_job_within_the_documented_bound(
        self, storage: ServerUnderTest, tmp_path: Path, direction: str
    ) -> None:
        bound = self.settings().unresponsive_server_bound()
        with slow_loopback(self.RATE):
            run, name, _ = self.start(storage, tmp_path, direction)
            self.under_way(run, storage, direction)
            with storage.frozen():
                frozen_at = time.monotonic()
                status = run.wait(bound + self.STARTUP + 60)
                took = time.monotonic() - frozen_at
        storage.note(ended_after=round(took, 1), bound=round(bound + self.STARTUP, 1))
        assert status == EXIT_RETRYABLE, run.log
        assert took <= bound + self.STARTUP, f"the job ended {took:.1f} s after the server froze (bound {bound:g} s)"
        report = run.report()
        assert (report["failed_phase"], report["error"]["transient"]) == (self.phase(direction), True)
        time.sleep(0.5)  # the thawed server may finish closing the abandoned connection
        self.assert_nothing_partial(run, storage, name, direction)

    # -- 3. frozen, then back --------------------------------------------------------------

    def test_a_server_frozen_then_resumed_is_retried_and_the_file_arrives(
        self, storage: ServerUnderTest, tmp_path: Path, direction: str
    ) -> None:
        with slow_loopback(self.RATE):
            run, name, checksum = self.start(storage, tmp_path, direction)
            self.under_way(run, storage, direction)
            with storage.frozen():
                run.wait_until(lambda: run.logged("cancelling: no progress"), 30, "the stall being noticed")
            status = run.wait(120)
        report = self.file_report(run, direction)
        storage.note(attempts=len(report["attempts"]))
        assert status == 0, run.log
        assert (report["status"], report["verified"]) == ("done", True), report
        assert len(report["attempts"]) >= 2, report["attempts"]
        assert report["attempts"][0]["error"]["transient"] is True
        if direction == "download":
            assert Checksum.parse(report["checksum"]) == checksum
        else:
            assert storage.holds(name) == checksum
        deadline = time.monotonic() + 5
        while storage.debris() and time.monotonic() < deadline:  # a server finishing an abandoned upload
            time.sleep(0.1)
        assert storage.debris() == []
        assert run.partial_bytes() == 0
        assert run.report()["left_behind"] == []

    # -- 4. SIGTERM in each state ----------------------------------------------------------

    @pytest.mark.parametrize("state", ["moving", "frozen"])
    def test_sigterm_starts_the_cleanup_within_a_second(
        self, storage: ServerUnderTest, tmp_path: Path, direction: str, state: str
    ) -> None:
        cleanup = self.TIMINGS["cleanup_timeout"]
        with slow_loopback(self.RATE):
            run, name, _ = self.start(storage, tmp_path, direction)
            self.under_way(run, storage, direction)
            if state == "frozen":
                with storage.frozen():
                    time.sleep(0.3)  # frozen, before the stall is noticed
                    signalled = run.send(signal.SIGTERM)
                    status = run.wait(cleanup + 30)
            else:
                signalled = run.send(signal.SIGTERM)
                status = run.wait(cleanup + 30)
        stopped_after = run.ended - signalled if run.ended else 0.0
        assert status == SIGTERM_STATUS, run.log
        waited = run.moment("cleanup started") - run.moment("SIGTERM received")
        storage.note(cleanup_started_after=round(waited, 2), stopped_after=round(stopped_after, 1))
        assert waited < 1.0, f"the cleanup started {waited:.2f} s after SIGTERM"
        assert stopped_after < cleanup + 2.0, f"the job took {stopped_after:.1f} s to stop"
        report = run.report()
        assert (report["error"]["name"], report["failed_phase"]) == ("SIGTERM", self.phase(direction))
        time.sleep(0.5)
        self.assert_nothing_partial(run, storage, name, direction)

    # -- 5. a full disk --------------------------------------------------------------------

    def test_a_full_destination_is_a_no_space_error_and_is_not_retried(
        self, storage: ServerUnderTest, tmp_path: Path, direction: str
    ) -> None:
        free = 1_000_000
        size = 4_000_000
        if direction == "download":
            with small_disk(tmp_path / "small", free) as small:
                run, _, _ = self.start(storage, tmp_path, direction, workdir=small / "work", size=size)
                status = run.wait(60)
                report = self.file_report(run, direction)
                assert run.partial_bytes() == 0
            expected = ("NOLOCALSPACE", 1098)
        else:
            with storage.full(free) as directory:
                run, _, _ = self.start(storage, tmp_path, direction, directory=directory, size=size)
                status = run.wait(60)
                report = self.file_report(run, direction)
                assert storage.debris() == []
            expected = ("NOREMOTESPACE", 1333)
        storage.note(error=report["error"]["name"], attempts=len(report["attempts"]))
        assert status == EXIT_FAILED, run.log
        assert (report["error"]["name"], report["error"]["code"]) == expected, report["error"]
        assert report["error"]["transient"] is False
        assert len(report["attempts"]) == 1, f"a full disk is not retried: {report['attempts']}"

    # -- 6. nobody there -------------------------------------------------------------------

    def test_a_refused_connection_fails_within_15_seconds_with_default_settings(
        self, storage: ServerUnderTest, tmp_path: Path, direction: str
    ) -> None:
        started = time.monotonic()
        run, _, _ = self.start(
            storage, tmp_path, direction, transfer=False, directory=storage.refused_directory_url(), size=1000
        )
        status = run.wait(120)
        took = time.monotonic() - started
        storage.note(failed_after=round(took, 1))
        assert status == EXIT_RETRYABLE, run.log
        assert took <= 15, f"a refused connection took {took:.1f} s to fail the job"
        assert self.file_report(run, direction)["error"]["transient"] is True
