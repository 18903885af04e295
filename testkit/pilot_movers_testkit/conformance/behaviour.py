"""What every mover does right, built-in or third-party: written once against
``StorageUnderTest``, run through the engine the way a job runs it (``Mover.stage_in``/
``stage_out``), the mover found by the name queue config would give it (entry points).

* a file makes the round trip, verified, and nothing temporary stays, the checksum of what
  arrived reported; so do an empty file, a one-byte file and a 10 MB one, each in one attempt,
  downloaded against their expected adler32 (leading zeros: ``00000001`` for the empty file);
* an expected checksum is enforced: the right one verifies, a wrong one is GETADMISMATCH,
  permanent, not retried, and nothing lands; the same with md5 (GETMD5MISMATCH), the message
  holding both values; an upload expecting md5 is verified where the storage computes md5 (its
  ``checksums``), and where it does not, fails CHECKSUMCALCFAILURE (1366) and lands nothing;
* a missing source is NOSUCHFILE (1103) in stage-in, MISSINGOUTPUTFILE (1165) in stage-out,
  permanent, not retried;
* an existing destination is FILEEXISTS (1221), left as it was;
* several files at once arrive, each verified.

The slow, frozen, full and refused servers, and SIGTERM, are ``MoverFaultSuite``'s.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

import pytest

from pilot_movers.checksums import Checksum, file_checksum
from pilot_movers.credentials.bundle import Credentials
from pilot_movers.engine.settings import TransferSettings
from pilot_movers.errors import MoverError
from pilot_movers.registry import get_mover_class
from pilot_movers.values import FileReport, FileSpec, Location, Role, Status
from pilot_movers_testkit.conformance.faults import _write
from pilot_movers_testkit.conformance.storage import StorageUnderTest

#: Quick retries: a case that is retried shows it in the attempts, not in the time it takes.
QUICK = {"backoff_initial": 0.01, "backoff_max": 0.05, "backoff_jitter": 0.01, "watchdog_interval": 0.05}


def error_of(report: FileReport) -> MoverError:
    assert report.error is not None, f"{report.spec.name}: {report.status.value}, no error"
    return report.error


class MoverBehaviourSuite:
    """Subclass in a test module that provides a ``storage`` fixture (a ``StorageUnderTest``)."""

    SIZE = 1_500_000

    # -- helpers ---------------------------------------------------------------------------

    def transfer(self, storage: StorageUnderTest, specs: list[FileSpec], phase: str) -> list[FileReport]:
        """``specs`` through a fresh instance of the storage's mover, opened with the storage's
        credentials and queue options, as a job would."""
        cls = get_mover_class(storage.mover)
        queue = storage.queue()
        options = cls.parse_options(queue.get("movers", {}).get(storage.mover, {}))
        mover = cls(TransferSettings.from_options({**QUICK, **queue.get("transfer", {})}), options)
        mover.start(Credentials.from_environment({**os.environ, **storage.environment()}))
        try:
            return mover.stage_in(specs) if phase == "in" else mover.stage_out(specs)
        finally:
            mover.stop()

    @staticmethod
    def remote(storage: StorageUnderTest, name: str) -> Location:
        return Location.parse(storage.directory_url().rstrip("/") + "/" + name)

    def download(self, storage: StorageUnderTest, name: str, target: Path, checksum: Any = None) -> FileSpec:
        return FileSpec(name, self.remote(storage, name), Location.local(str(target)), Role.INPUT, None, checksum)

    def upload(
        self, storage: StorageUnderTest, source: Path, name: str, checksum: Optional[Checksum] = None
    ) -> FileSpec:
        return FileSpec(name, Location.local(str(source)), self.remote(storage, name), Role.OUTPUT, None, checksum)

    @staticmethod
    def no_debris(storage: StorageUnderTest, local: Path) -> None:
        assert storage.debris() == []
        assert [p.name for p in local.iterdir() if ".pilot-movers-" in p.name] == []

    # -- the cases -------------------------------------------------------------------------

    def test_a_file_makes_the_round_trip_verified(self, storage: StorageUnderTest, tmp_path: Path) -> None:
        name = storage.name("round.dat")
        checksum = storage.put(name, self.SIZE, seed=21)
        (down,) = self.transfer(storage, [self.download(storage, name, tmp_path / "round.dat")], "in")
        assert (down.status, down.bytes, down.checksum) == (Status.DONE, self.SIZE, checksum), down.error
        assert file_checksum(tmp_path / "round.dat") == checksum
        back = storage.name("back.dat")
        (up,) = self.transfer(storage, [self.upload(storage, tmp_path / "round.dat", back)], "out")
        assert up.status is Status.DONE, up.error
        assert storage.holds(back) == checksum
        assert (down.verified, up.verified) == (True, True), "each copy compared with its source or the job's value"
        self.no_debris(storage, tmp_path)

    @pytest.mark.parametrize("size", [0, 1, 10_000_000], ids=["0B", "1B", "10MB"])
    def test_files_of_every_size_make_the_round_trip_verified(
        self, storage: StorageUnderTest, tmp_path: Path, size: int
    ) -> None:
        (tmp_path / "out").mkdir()
        source = tmp_path / "out" / "sized.dat"
        checksum = _write(source, size, seed=size)
        name = storage.name(f"sized-{size}.dat")
        (up,) = self.transfer(storage, [self.upload(storage, source, name)], "out")
        assert (up.status, up.bytes, up.checksum, up.verified) == (Status.DONE, size, checksum, True), up.error
        assert storage.holds(name) == checksum
        target = tmp_path / "in" / "sized.dat"  # expected: small files' adler32 has leading zeros
        (down,) = self.transfer(storage, [self.download(storage, name, target, checksum)], "in")
        assert (down.status, down.bytes, down.checksum, down.verified) == (Status.DONE, size, checksum, True), (
            down.error
        )
        assert file_checksum(target) == checksum
        assert len(up.attempts) == len(down.attempts) == 1
        self.no_debris(storage, tmp_path / "in")
        self.no_debris(storage, tmp_path / "out")

    def test_an_expected_md5_is_enforced_both_ways(self, storage: StorageUnderTest, tmp_path: Path) -> None:
        source = tmp_path / "md5.dat"
        _write(source, self.SIZE, seed=25)
        md5 = file_checksum(source, "md5")
        name = storage.name("md5.dat")
        (up,) = self.transfer(storage, [self.upload(storage, source, name, md5)], "out")
        if "md5" in storage.checksums:
            assert (up.status, up.checksum, up.verified) == (Status.DONE, md5, True), up.error
        else:  # the copy cannot be checked against md5 there: said, never landed unverified
            assert (error_of(up).code, error_of(up).transient) == (1366, False), up.error
            assert storage.holds(name) is None
            (up,) = self.transfer(storage, [self.upload(storage, source, name)], "out")
            assert up.status is Status.DONE, up.error
        (good,) = self.transfer(storage, [self.download(storage, name, tmp_path / "good.dat", md5)], "in")
        assert (good.status, good.checksum, good.verified) == (Status.DONE, md5, True), good.error
        wrong = Checksum("md5", "0123456789abcdef0123456789abcdef")
        (bad,) = self.transfer(storage, [self.download(storage, name, tmp_path / "bad.dat", wrong)], "in")
        error = error_of(bad)
        assert (error.code, error.name, error.transient) == (1145, "GETMD5MISMATCH", False), bad.error
        assert wrong.value in error.message, error.message
        assert md5.value in error.message, error.message
        assert len(bad.attempts) == 1, "a source that is not what the job expects is not retried"
        assert not (tmp_path / "bad.dat").exists()
        self.no_debris(storage, tmp_path)

    def test_an_expected_checksum_is_enforced(self, storage: StorageUnderTest, tmp_path: Path) -> None:
        name = storage.name("expected.dat")
        checksum = storage.put(name, self.SIZE, seed=22)
        (good,) = self.transfer(storage, [self.download(storage, name, tmp_path / "good.dat", checksum)], "in")
        assert (good.status, good.checksum, good.verified) == (Status.DONE, checksum, True), good.error
        wrong = Checksum("adler32", f"{(int(checksum.value, 16) + 1) % (1 << 32):08x}")
        (bad,) = self.transfer(storage, [self.download(storage, name, tmp_path / "bad.dat", wrong)], "in")
        assert bad.status is Status.FAILED
        assert (error_of(bad).code, error_of(bad).transient) == (1171, False), bad.error
        assert len(bad.attempts) == 1, "a source that is not what the job expects is not retried"
        assert not (tmp_path / "bad.dat").exists()
        self.no_debris(storage, tmp_path)

    def test_a_missing_source_is_nosuchfile_and_not_retried(self, storage: StorageUnderTest, tmp_path: Path) -> None:
        missing = storage.name("never-there.dat")
        (down,) = self.transfer(storage, [self.download(storage, missing, tmp_path / "never.dat")], "in")
        assert (error_of(down).code, error_of(down).name) == (1103, "NOSUCHFILE"), down.error
        assert (error_of(down).transient, len(down.attempts)) == (False, 1)
        (up,) = self.transfer(storage, [self.upload(storage, tmp_path / "not-made.dat", missing)], "out")
        assert (error_of(up).code, error_of(up).transient) == (1165, False), up.error
        assert storage.holds(missing) is None
        self.no_debris(storage, tmp_path)

    def test_an_existing_destination_is_left_as_it_was(self, storage: StorageUnderTest, tmp_path: Path) -> None:
        name = storage.name("taken.dat")
        before = storage.put(name, 1000, seed=23)
        source = tmp_path / "other.dat"
        _write(source, 2000, seed=24)
        (up,) = self.transfer(storage, [self.upload(storage, source, name)], "out")
        assert (error_of(up).code, error_of(up).name) == (1221, "FILEEXISTS"), up.error
        assert storage.holds(name) == before
        self.no_debris(storage, tmp_path)

    def test_several_files_at_once_each_arrive_verified(self, storage: StorageUnderTest, tmp_path: Path) -> None:
        names = [storage.name(f"many-{i}.dat") for i in range(12)]
        checksums = {name: storage.put(name, 100_000 + i, seed=30 + i) for i, name in enumerate(names)}
        specs = [self.download(storage, name, tmp_path / name) for name in names]
        reports = self.transfer(storage, specs, "in")
        assert [(r.spec.name, r.status) for r in reports] == [(name, Status.DONE) for name in names]
        assert {name: file_checksum(tmp_path / name) for name in names} == checksums
        self.no_debris(storage, tmp_path)
