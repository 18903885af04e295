"""The shared transfer engine, driven through real Mover subclasses on local files."""

from __future__ import annotations

import dataclasses
import logging
import threading
import zlib
from pathlib import Path

import pytest

from pilot_movers import Copied
from pilot_movers.checksums import Checksum
from pilot_movers.engine.engine import TransferEngine
from pilot_movers.errors import (
    AuthenticationFailed,
    Phase,
    ProxyExpired,
    ServiceUnavailable,
    SourceNotFound,
    TransferFailed,
)
from pilot_movers.local.mover import LocalMover
from pilot_movers.values import Role, Status
from tests.doubles import LossyRenameMover, LossyRenameNamespace, ScriptedMover, StallingMover
from tests.helpers import FAST, debris, local_spec, write_file


@pytest.fixture
def dirs(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    return src, dst


def test_a_file_is_copied_verified_and_placed(dirs):
    src, dst = dirs
    checksum = write_file(src / "a.dat", 3_000_000)
    (result,) = LocalMover(FAST).stage_in([local_spec(src / "a.dat", dst / "a.dat", checksum=checksum)])
    assert result.status is Status.DONE
    assert (result.bytes, result.checksum) == (3_000_000, checksum)
    assert (dst / "a.dat").read_bytes() == (src / "a.dat").read_bytes()
    assert len(result.attempts) == 1
    assert result.attempts[0].bytes == 3_000_000
    assert result.attempts[0].started <= result.attempts[0].ended
    assert debris(dst) == []


def test_a_checksum_mismatch_is_caught_and_leaves_no_file(dirs):
    src, dst = dirs
    write_file(src / "a.dat", 100_000)
    wrong = Checksum("adler32", "00000001")
    mover = ScriptedMover(FAST)
    (result,) = mover.stage_in([local_spec(src / "a.dat", dst / "a.dat", checksum=wrong)])
    assert result.status is Status.FAILED
    assert (result.error.code, result.error.name) == (1171, "GETADMISMATCH")
    assert result.error.transient is False
    assert mover.calls["a.dat"] == 1, "a checksum mismatch is not retried"
    assert list(dst.iterdir()) == [], "neither the file nor a temporary copy is left"


def test_an_md5_mismatch_on_stage_out_has_the_stage_out_code(dirs):
    src, dst = dirs
    write_file(src / "out.root", 1000)
    wrong = Checksum("md5", "0" * 32)
    spec = local_spec(src / "out.root", dst / "out.root", role=Role.OUTPUT, checksum=wrong)
    (result,) = LocalMover(FAST).stage_out([spec])
    assert (result.error.code, result.error.name) == (1141, "PUTMD5MISMATCH")
    assert list(dst.iterdir()) == []


def test_a_transient_error_is_retried_and_the_file_arrives(dirs):
    src, dst = dirs
    write_file(src / "a.dat", 5000)
    mover = ScriptedMover(FAST, script={"a.dat": [ServiceUnavailable("connection refused"), None]})
    (result,) = mover.stage_in([local_spec(src / "a.dat", dst / "a.dat")])
    assert result.status is Status.DONE
    assert mover.calls["a.dat"] == 2
    assert [a.error.name if a.error else None for a in result.attempts] == ["SERVICENOTAVAILABLE", None]
    assert (dst / "a.dat").stat().st_size == 5000


def test_a_permanent_error_is_not_retried(dirs):
    src, dst = dirs
    write_file(src / "a.dat", 10)
    mover = ScriptedMover(FAST, script={"a.dat": [AuthenticationFailed("530 Login incorrect")] * 3})
    (result,) = mover.stage_in([local_spec(src / "a.dat", dst / "a.dat")])
    assert result.status is Status.FAILED
    assert mover.calls["a.dat"] == 1
    assert (result.error.code, result.error.name) == (1338, "STAGEINAUTHENTICATIONFAILURE")


def test_a_missing_source_is_never_retried(dirs):
    src, dst = dirs
    mover = ScriptedMover(FAST)
    (result,) = mover.stage_in([local_spec(src / "missing", dst / "missing")])
    assert (result.error.code, result.error.name, result.error.transient) == (1103, "NOSUCHFILE", False)
    assert mover.total_calls == 0
    assert len(result.attempts) == 1
    (out,) = mover.stage_out([local_spec(src / "missing", dst / "missing", role=Role.OUTPUT)])
    assert (out.error.code, out.error.name) == (1165, "MISSINGOUTPUTFILE")


def test_transient_errors_stop_after_max_attempts(dirs):
    src, dst = dirs
    write_file(src / "a.dat", 10)
    mover = ScriptedMover(FAST.replace(max_attempts=3), script={"a.dat": [ServiceUnavailable("busy")] * 5})
    (result,) = mover.stage_in([local_spec(src / "a.dat", dst / "a.dat")])
    assert result.status is Status.FAILED
    assert mover.calls["a.dat"] == 3
    assert len(result.attempts) == 3
    assert result.error.transient is True
    assert debris(dst) == []


def test_an_existing_destination_is_not_overwritten_unless_asked(dirs):
    src, dst = dirs
    write_file(src / "a.dat", 10, seed=1)
    (dst / "a.dat").write_bytes(b"precious")
    mover = ScriptedMover(FAST)
    (result,) = mover.stage_in([local_spec(src / "a.dat", dst / "a.dat")])
    assert (result.error.code, result.error.name) == (1221, "FILEEXISTS")
    assert mover.total_calls == 0
    assert (dst / "a.dat").read_bytes() == b"precious"
    (again,) = LocalMover(FAST.replace(overwrite=True)).stage_in([local_spec(src / "a.dat", dst / "a.dat")])
    assert again.status is Status.DONE
    assert (dst / "a.dat").read_bytes() == (src / "a.dat").read_bytes()


def test_a_stalled_transfer_is_cancelled_by_the_stall_clock(dirs):
    src, dst = dirs
    write_file(src / "a.dat", 10)
    mover = StallingMover(FAST.replace(stall_timeout=0.3, max_attempts=2))
    (result,) = mover.stage_in([local_spec(src / "a.dat", dst / "a.dat")])
    assert result.status is Status.FAILED
    assert (result.error.code, result.error.name, result.error.__class__.__name__) == (
        1151,
        "STAGEINTIMEOUT",
        "TransferStalled",
    )
    assert "no progress" in result.error.message
    assert len(result.attempts) == 2, "a stall is transient: retried"
    assert mover.cancel_hook_called.is_set(), "the transport was told to cancel"
    assert list(dst.iterdir()) == []


def test_a_transfer_that_trickles_forever_is_stopped_by_the_total_clock(dirs):
    src, dst = dirs
    write_file(src / "a.dat", 10)
    settings = FAST.replace(stall_timeout=5, timeout_base=0.4, timeout_per_mb=0, max_attempts=1)
    (result,) = StallingMover(settings, trickle=True).stage_out(
        [local_spec(src / "a.dat", dst / "a.dat", role=Role.OUTPUT)]
    )
    assert (result.error.name, result.error.__class__.__name__) == ("STAGEOUTTIMEOUT", "TransferTimeout")
    assert result.attempts[0].bytes > 0
    assert list(dst.iterdir()) == []


def test_the_total_timeout_scales_with_size():
    assert FAST.total_timeout(None) == 400
    assert FAST.total_timeout(1_000_000_000) == 1400
    assert FAST.total_timeout(10**13) == 3 * 3600


def test_a_retry_after_an_ambiguous_failure_looks_at_the_destination_first(dirs):
    src, dst = dirs
    checksum = write_file(src / "a.dat", 4096)
    namespace = LossyRenameNamespace(lambda: ServiceUnavailable("connection reset during rename"))
    mover = LossyRenameMover(FAST, namespace=namespace)
    (result,) = mover.stage_in([local_spec(src / "a.dat", dst / "a.dat", checksum=checksum)])
    assert result.status is Status.ALREADY_DONE
    assert mover.calls["a.dat"] == 1, "the file is not copied a second time"
    assert result.attempts[-1].note == "found complete at the destination"
    assert (dst / "a.dat").read_bytes() == (src / "a.dat").read_bytes()


def test_a_phase_stops_early_when_most_transfers_fail(dirs):
    src, dst = dirs
    specs = []
    for i in range(30):
        write_file(src / f"f{i}", 10, seed=i)
        specs.append(local_spec(src / f"f{i}", dst / f"f{i}"))
    settings = FAST.replace(concurrency=1, breaker_min_transfers=10, max_attempts=3)
    mover = ScriptedMover(settings, script={f"f{i}": [ServiceUnavailable("down")] * 3 for i in range(30)})
    results = mover.stage_in(specs)
    assert mover.total_calls < 30, "transfers stop being started once the breaker trips"
    assert all(r.status in (Status.FAILED, Status.SKIPPED) for r in results)
    assert any(r.status is Status.SKIPPED for r in results)
    assert max(mover.calls.values()) == 1, "nothing is retried after the breaker tripped"


def test_concurrency_is_bounded(dirs):
    src, dst = dirs
    specs = []
    for i in range(40):
        write_file(src / f"f{i}", 100, seed=i)
        specs.append(local_spec(src / f"f{i}", dst / f"f{i}"))
    mover = ScriptedMover(FAST.replace(concurrency=5))
    mover.delay = 0.01
    results = mover.stage_in(specs)
    assert all(r.status is Status.DONE for r in results)
    assert 1 < mover.max_active <= 5
    assert [r.spec.name for r in results] == [s.name for s in specs], "results come back in input order"


def test_credentials_are_checked_again_before_a_retry(dirs):
    src, dst = dirs
    write_file(src / "a.dat", 10)
    checks = []

    def check():
        checks.append(1)
        if len(checks) > 1:
            raise ProxyExpired("proxy expired at 12:00")

    mover = ScriptedMover(FAST, script={"a.dat": [ServiceUnavailable("busy")]})
    with mover:
        engine = TransferEngine(mover, Phase.STAGE_IN, credential_check=check)
        (result,) = engine.run([local_spec(src / "a.dat", dst / "a.dat")])
    assert len(checks) == 2
    assert mover.calls["a.dat"] == 1, "no transfer is attempted with an expired proxy"
    assert (result.error.code, result.error.name) == (1373, "CERTIFICATEHASEXPIRED")


def test_progress_is_logged_with_bytes_and_rate(dirs, caplog, monkeypatch):
    src, dst = dirs
    write_file(src / "a.dat", 20_000_000)
    caplog.set_level(logging.INFO, logger="pilot_movers")
    LocalMover(dataclasses.replace(FAST, progress_interval=0.001), block_size=1 << 20).stage_in(
        [local_spec(src / "a.dat", dst / "a.dat")]
    )
    progress = [r.getMessage() for r in caplog.records if r.name == "pilot_movers.progress"]
    assert progress
    assert any("of 20000000 bytes" in line and "MB/s" in line for line in progress)


def test_a_transport_bug_fails_one_file_not_the_phase(dirs):
    src, dst = dirs
    write_file(src / "a", 10)
    write_file(src / "b", 10)

    def boom(request, copy):
        raise RuntimeError("bug in transport")

    mover = ScriptedMover(FAST, script={"a": [boom]})
    a, b = mover.stage_in([local_spec(src / "a", dst / "a"), local_spec(src / "b", dst / "b")])
    assert (a.status, a.error.name) == (Status.FAILED, "INTERNALPILOTPROBLEM")
    assert b.status is Status.DONE


def test_a_truncated_copy_is_detected_and_retried(dirs):
    src, dst = dirs
    write_file(src / "a.dat", 10_000)

    def truncate(request, copy):
        outcome = copy()
        with open(request.target.path, "r+b") as handle:
            handle.truncate(5000)
        return outcome

    mover = ScriptedMover(FAST, script={"a.dat": [truncate, None]})
    (result,) = mover.stage_in([local_spec(src / "a.dat", dst / "a.dat")])
    assert result.status is Status.DONE
    assert result.attempts[0].error.name == "SIZEMISMATCH"
    assert (dst / "a.dat").stat().st_size == 10_000
    assert debris(dst) == []


def test_errors_name_the_file_and_the_endpoint(dirs):
    src, dst = dirs
    write_file(src / "a.dat", 10)
    mover = ScriptedMover(FAST, script={"a.dat": [TransferFailed("disk on fire")]})
    (result,) = mover.stage_in([local_spec(src / "a.dat", dst / "a.dat")])
    assert result.error.file == "a.dat"
    assert result.error.endpoint == "local disk"
    assert result.error.phase.value == "stage-in"
    assert result.error.scope.value == "transfer"


def test_a_missing_source_found_by_the_transport_is_not_retried(dirs):
    src, dst = dirs
    write_file(src / "a.dat", 10)
    mover = ScriptedMover(FAST, script={"a.dat": [SourceNotFound("gone on the server")]})
    (result,) = mover.stage_in([local_spec(src / "a.dat", dst / "a.dat")])
    assert mover.calls["a.dat"] == 1
    assert result.error.name == "NOSUCHFILE"


def test_the_engine_runs_no_thread_after_a_phase(dirs):
    src, dst = dirs
    write_file(src / "a.dat", 10)
    before = {t.name for t in threading.enumerate()}
    LocalMover(FAST).stage_in([local_spec(src / "a.dat", dst / "a.dat")])
    assert {t.name for t in threading.enumerate()} - before == set()


def test_a_stage_out_cleanup_warning_carries_a_stage_out_code(dirs, caplog):
    src, dst = dirs
    write_file(src / "a.dat", 10)

    class StuckNamespace(LossyRenameNamespace):
        def remove(self, location):
            if ".pilot-movers-" in location.path:
                raise TransferFailed("the server keeps the file")
            super().remove(location)

    namespace = StuckNamespace(lambda: ServiceUnavailable("reply lost"), times=0)
    mover = LossyRenameMover(FAST.replace(max_attempts=1), namespace=namespace, script={"a.dat": [TransferFailed("x")]})
    caplog.set_level(logging.WARNING)
    (result,) = mover.stage_out([local_spec(src / "a.dat", dst / "a.dat", role=Role.OUTPUT)])
    warnings = [r.getMessage() for r in caplog.records if "could not remove temporary file" in r.getMessage()]
    assert warnings and all("STAGEOUTFAILED (1137)" in w for w in warnings), warnings
    assert result.error.code == 1137


def test_a_damaged_copy_never_lands_even_when_its_transport_did_not_verify_it(dirs):
    """A transport hands back a copy it did not verify (damaged on the way, its checksum that of
    the damage): the engine compares it with its source, and retries."""
    src, dst = dirs
    write_file(src / "a.dat", 50_000)

    def damaged(request, copy):
        copy()
        with open(request.target.path, "r+b") as handle:
            handle.seek(1000)
            handle.write(b"\x00\x01\x02")
        seen = Checksum.adler32_of_int(zlib.adler32(Path(request.target.path).read_bytes()))
        return Copied(50_000, (seen,), verified=False)

    mover = ScriptedMover(FAST, script={"a.dat": [damaged, None]})
    (result,) = mover.stage_in([local_spec(src / "a.dat", dst / "a.dat")])
    assert result.status is Status.DONE and result.verified
    first = result.attempts[0].error
    assert (first.name, first.transient) == ("GETADMISMATCH", True)
    assert "the source has" in first.message
    assert (dst / "a.dat").read_bytes() == (src / "a.dat").read_bytes()
