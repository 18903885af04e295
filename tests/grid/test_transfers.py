"""The gridftp and xrootd movers against real servers on loopback (GSI, throwaway CA)."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import pytest

import job_params
from pilot_movers import Job, QueueConfig
from pilot_movers.checksums import Checksum, file_checksum
from pilot_movers.errors import PhaseFailed
from pilot_movers.values import Status
from tests.grid.conftest import GIB, Protocol
from tests.helpers import FAST, debris, write_file


def test_a_1_gib_file_makes_the_round_trip(proto: Protocol, tmp_path: Path, gib_file):
    """Files of other sizes, md5 expectations and reported checksums are the conformance kit's
    (tests/conformance: MoverBehaviourSuite on every network mover)."""
    source, checksum = gib_file
    mover = proto.mover()
    (up,) = mover.stage_out([proto.upload(source, "data.bin")])
    assert up.status is Status.DONE, up.error
    assert (up.bytes, up.checksum) == (GIB, checksum)
    assert file_checksum(proto.base / "data.bin") == checksum

    target = tmp_path / "in" / "data.bin"
    (down,) = mover.stage_in([proto.download("data.bin", target, checksum=checksum)])
    assert down.status is Status.DONE, down.error
    assert (down.bytes, down.checksum) == (GIB, checksum)
    assert file_checksum(target) == checksum
    assert debris(tmp_path) == [] and debris(proto.base) == []


def test_an_unauthorised_user_fails_with_an_authentication_error_not_retried(
    proto: Protocol, tmp_path: Path, monkeypatch
):
    proto.seed("secret.dat", 1000)
    monkeypatch.setenv("X509_USER_PROXY", str(proto.grid.unauthorised_proxy))
    (result,) = proto.mover().stage_in([proto.download("secret.dat", tmp_path / "secret.dat")])
    assert result.status is Status.FAILED
    assert (result.error.code, result.error.name) == (1338, "STAGEINAUTHENTICATIONFAILURE")
    assert result.error.transient is False
    assert len(result.attempts) == 1
    assert not (tmp_path / "secret.dat").exists()

    source = tmp_path / "o.dat"
    write_file(source, 10)
    (out,) = proto.mover().stage_out([proto.upload(source, "o.dat")])
    assert (out.error.code, out.error.name) == (1383, "STAGEOUTAUTHENTICATIONFAILURE")
    assert not (proto.base / "o.dat").exists()


def test_a_file_corrupted_on_the_server_never_lands(proto: Protocol, tmp_path: Path):
    checksum = proto.seed("victim.dat", 2_000_000, seed=11)
    with open(proto.base / "victim.dat", "r+b") as handle:  # bit rot after the catalogue entry
        handle.seek(1_000_000)
        byte = handle.read(1)
        handle.seek(1_000_000)
        handle.write(bytes([byte[0] ^ 0xFF]))
    mover = proto.mover()
    (result,) = mover.stage_in([proto.download("victim.dat", tmp_path / "victim.dat", checksum=checksum)])
    assert result.status is Status.FAILED
    assert (result.error.code, result.error.name) == (1171, "GETADMISMATCH")
    assert len(result.attempts) == 1, "a checksum mismatch is not retried"
    assert list(tmp_path.iterdir()) == [], "neither the file nor a partial copy is left"


def test_a_job_catches_a_source_that_is_not_what_its_parameters_expect(proto: Protocol, tmp_path: Path):
    """The job's own parameters carry the expected checksum and size: a source corrupted before
    the job is a permanent error naming the file, both values and the source, on every transport."""
    good = proto.seed("catalogued.dat", 300_000, seed=21)
    proto.seed("resized.dat", 1000, seed=22)
    with open(proto.base / "catalogued.dat", "r+b") as handle:
        handle.seek(100)
        byte = handle.read(1)
        handle.seek(100)
        handle.write(bytes([byte[0] ^ 0x01]))
    corrupt = file_checksum(proto.base / "catalogued.dat")
    params = job_params.parse(
        f"dir-in={proto.url('')} files-in=catalogued.dat,resized.dat "
        f"checksums-in={good},{file_checksum(proto.base / 'resized.dat')} sizes-in=300000,999"
    )
    queue = QueueConfig.from_dict({"copytool": proto.name, "transfer": {"backoff_initial": 0.01, "max_attempts": 3}})
    with pytest.raises(PhaseFailed), Job(params, queue, tmp_path / "work") as job:
        job.stage_in()
    bad_sum, bad_size = job.report.phases[0].results
    assert (bad_sum.error.name, bad_sum.error.transient, bad_sum.error.scope.value) == (
        "GETADMISMATCH",
        False,
        "source",
    )
    assert bad_sum.error.file == "catalogued.dat"
    assert good.value in bad_sum.error.message and corrupt.value in bad_sum.error.message
    assert proto.url("catalogued.dat").rstrip("/") in bad_sum.error.message.replace("///", "//")
    assert len(bad_sum.attempts) == 1, "a source that is not what the job expects is not retried"
    assert (bad_size.error.name, bad_size.error.transient) == ("SIZEMISMATCH", False)
    assert "1000 bytes, the job expects 999" in bad_size.error.message
    assert len(bad_size.attempts) == 1
    assert debris(tmp_path) == [] and not (tmp_path / "work" / "catalogued.dat").exists()


def test_many_small_files_move_in_one_call_with_bounded_concurrency(proto: Protocol, tmp_path: Path):
    """XRootD: 200 files in one CopyProcess; GridFTP's gfal2 lanes (the pipelined path off):
    80 files in lanes of bulk calls. Never more than ``concurrency`` at once."""
    count = 200 if proto.name == "xrootd" else 80
    expected = {f"f{i:03d}.dat": proto.seed(f"f{i:03d}.dat", 10_000 + i, seed=i) for i in range(count)}
    settings = FAST.replace(concurrency=4)
    options = {"bulk_size": 10, "pipelined": False} if proto.name == "gridftp" else {}
    mover = proto.mover(settings, **options)
    started = time.monotonic()
    results = mover.stage_in([proto.download(name, tmp_path / name) for name in expected])
    elapsed = time.monotonic() - started
    assert [r.status for r in results] == [Status.DONE] * count, [r.error for r in results if r.error][:3]
    assert {r.spec.name: r.checksum for r in results} == expected
    assert 1 < mover.peak_parallel <= 4
    print(f"{proto.name}: {count} files in {elapsed:.1f} s ({count / elapsed:.0f} files/s)")


@pytest.mark.parametrize("direction", ["download", "upload"])
def test_gridftp_small_files_go_through_the_pipelined_engine_verified_and_failures_typed(
    grid, tmp_path: Path, direction: str
):
    """Many small files: globus-url-copy's pipelined engine moves them; each is still verified
    (a corrupted source caught against the job's checksum), and a file it could not move gets
    its typed error from gfal2 (NOSUCHFILE / MISSINGOUTPUTFILE), nothing retried for nothing."""
    from pilot_movers import Checksum, FileSpec, Location, Role
    from pilot_movers.registry import get_mover_class

    base = grid.gridftp_dir / f"pipelined-{direction}"
    local = tmp_path / "local"
    names = [f"f{i:03d}.dat" for i in range(60)]
    specs, expected = [], {}
    for index, name in enumerate(names):
        if direction == "download":
            expected[name] = write_file(base / name, 5000 + index, seed=index)
            specs.append(
                FileSpec(
                    name,
                    Location.parse(grid.gridftp_url(f"{base.name}/{name}")),
                    Location.local(str(local / name)),
                    Role.INPUT,
                )
            )
        else:
            expected[name] = write_file(local / name, 5000 + index, seed=index)
            specs.append(
                FileSpec(
                    name,
                    Location.local(str(local / name)),
                    Location.parse(grid.gridftp_url(f"{base.name}/{name}")),
                    Role.OUTPUT,
                )
            )
    if direction == "download":  # one missing, one corrupted against the job's expectation
        (base / names[0]).unlink()
        specs[1] = FileSpec(
            names[1], specs[1].source, specs[1].destination, Role.INPUT, checksum=Checksum("adler32", "00000001")
        )
    else:
        (local / names[0]).unlink()
    mover = get_mover_class("gridftp")(FAST.replace(max_attempts=2))
    results = mover.stage_in(specs) if direction == "download" else mover.stage_out(specs)
    assert mover.peak_parallel <= 1, "small files did not take the gfal2 path"
    by_name = {r.spec.name: r for r in results}
    assert by_name[names[0]].error.name in ("NOSUCHFILE", "MISSINGOUTPUTFILE")
    assert len(by_name[names[0]].attempts) == 1
    if direction == "download":
        assert (by_name[names[1]].error.name, by_name[names[1]].error.scope.value) == ("GETADMISMATCH", "source")
    good = [r for r in results if r.spec.name not in names[:2]]
    assert all(r.status is Status.DONE and r.verified for r in good), [r.error for r in good if r.error][:3]
    assert all(r.checksum == expected[r.spec.name] for r in good)
    assert debris(tmp_path) == [] and debris(base) == []


def test_a_server_killed_mid_transfer_is_retried_the_job_completes_and_leaves_no_partial_file(
    proto: Protocol, tmp_path: Path, gib_file
):
    source, checksum = gib_file
    shutil.copy(source, proto.base / "big.dat")
    proto._own(proto.base / "big.dat")
    workdir = tmp_path / "job"
    out_url = proto.url("out/")
    params = job_params.parse(f"dir-in={proto.url('')} files-in=big.dat dir-out={out_url} files-out=copy.dat")
    queue = QueueConfig.from_dict(
        {"copytool": proto.name, "transfer": {"backoff_initial": 3.0, "backoff_max": 5.0, "max_attempts": 3}}
    )
    with Job(params, queue, workdir) as job:
        restarted = _kill_and_restart_when(proto, lambda: _partial_size(workdir) > 100_000_000)
        (down,) = job.stage_in()
        assert restarted.wait(60), "the server was never killed: the download ended too soon"
        job.run_payload(["cp", "big.dat", "copy.dat"])
        restarted = _kill_and_restart_when(proto, lambda: _partial_size(proto.base / "out") > 100_000_000)
        (up,) = job.stage_out()
        assert restarted.wait(60), "the server was never killed: the upload ended too soon"
    assert job.report.ok
    for result in (down, up):
        assert len(result.attempts) >= 2, result.attempts
        assert result.attempts[0].error.transient is True
        assert result.checksum == checksum
    assert file_checksum(proto.base / "out" / "copy.dat") == checksum
    assert debris(tmp_path) == [] and debris(proto.base) == []


def _partial_size(directory: Path) -> int:
    try:
        return sum(p.stat().st_size for p in directory.glob("*.part") if p.is_file())
    except OSError:  # a temporary file renamed or removed while we looked
        return 0


def _kill_and_restart_when(proto: Protocol, condition, delay: float = 1.0) -> threading.Event:
    """In the background: once ``condition()`` holds, kill the server (SIGKILL, children too),
    wait ``delay`` seconds, start it again on the same port."""
    done = threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if condition():
                proto.server.kill()
                time.sleep(delay)
                proto.server.start()
                done.set()
                return
            time.sleep(0.01)

    threading.Thread(target=watch, daemon=True).start()
    return done


def test_checksums_are_normalised_to_eight_hex_digits(proto: Protocol, tmp_path: Path):
    # adler32 of "\x00" * 3 is 0x00030001: seven significant digits, one leading zero
    (proto.base / "zeros").write_bytes(b"\x00" * 3)
    proto._own(proto.base / "zeros")
    (result,) = proto.mover().stage_in([proto.download("zeros", tmp_path / "zeros")])
    assert result.checksum == Checksum("adler32", "00030001")
    assert str(result.checksum) == "adler32:00030001"


@pytest.mark.parametrize("direction", ["download", "upload"])
def test_sigterm_on_a_slow_link_starts_the_cleanup_within_a_second_and_leaves_nothing(
    proto: Protocol, tmp_path: Path, gib_file, direction: str
):
    """The pilot is told to stop in the middle of a 1 GiB transfer over a slow link (200 Mbit/s:
    the file would take 40 s more): the job cancels the transport and starts its cleanup within a
    second, whatever the transport, and leaves no partial file on either side."""
    import json
    import re
    import signal
    import subprocess
    import sys

    source, _ = gib_file
    workdir = tmp_path / "work"
    if direction == "download":
        shutil.copy(source, proto.base / "big.dat")
        proto._own(proto.base / "big.dat")
        params = f"dir-in={proto.url('')} files-in=big.dat"
        payload = ["true"]
        partial = lambda: _partial_size(workdir)  # noqa: E731
    else:
        params = f"dir-out={proto.url('up/')} files-out=big.dat"
        payload = ["cp", str(source), "big.dat"]
        partial = lambda: _partial_size(proto.base / "up")  # noqa: E731
    queue = tmp_path / "q.json"
    queue.write_text(json.dumps({"copytool": proto.name}))
    command = [
        sys.executable,
        "-m",
        "pilot_movers",
        "run",
        "--job-params",
        params,
        "--queue-config",
        str(queue),
        "--workdir",
        str(workdir),
        "--report",
        str(tmp_path / "r.json"),
        "--",
        *payload,
    ]
    with proto.grid.throttled("200mbit"):
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while partial() < 20_000_000:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the transfer never started"
            time.sleep(0.01)
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
        stopped_after = time.monotonic() - signalled
    assert process.returncode == 128 + signal.SIGTERM, err
    stamps = {}
    for line in err.splitlines():
        found = re.match(r"\S+ (\d\d):(\d\d):(\d\d),(\d\d\d) ", line)
        if found and ("SIGTERM received" in line or "cleanup started" in line):
            h, m, sec, ms = map(int, found.groups())
            stamps.setdefault("received" if "received" in line else "cleanup", h * 3600 + m * 60 + sec + ms / 1000)
    waited = stamps["cleanup"] - stamps["received"]
    assert waited < 1.0, f"the cleanup started {waited:.2f} s after SIGTERM"
    assert stopped_after < 3, f"the job took {stopped_after:.1f} s to stop"
    report = json.loads((tmp_path / "r.json").read_text())
    phase = "stage-in" if direction == "download" else "stage-out"
    assert (report["error"]["name"], report["failed_phase"]) == ("SIGTERM", phase)
    time.sleep(1)  # a server may finish removing an abandoned upload (posc) just after the client left
    assert debris(workdir) == [] and debris(proto.base) == []
    assert (
        not (workdir / "big.dat").exists() if direction == "download" else not (proto.base / "up" / "big.dat").exists()
    )


def test_gridftp_copies_server_to_server_with_progress_from_gfal2s_monitor(grid, tmp_path, caplog):
    """A third-party copy (neither end local): only gfal2's monitor callback can report progress.
    The server sends a performance marker every few seconds: the link is slowed so that the copy
    lasts long enough for one before the end (on loopback it ends in about a second)."""
    import logging

    from pilot_movers.registry import get_mover_class
    from pilot_movers.values import FileSpec, Location, Role

    base = grid.gridftp_dir / "third-party"
    checksum = write_file(base / "a.dat", 200_000_000, seed=5)
    caplog.set_level(logging.INFO, logger="pilot_movers.progress")
    spec = FileSpec(
        "a.dat",
        Location.parse(grid.gridftp_url("third-party/a.dat")),
        Location.parse(grid.gridftp_url("third-party/copy/a.dat")),
        Role.OUTPUT,
    )
    with grid.throttled("200mbit"):
        (result,) = get_mover_class("gridftp")(FAST.replace(progress_interval=0.001)).stage_out([spec])
    assert result.status is Status.DONE, result.error
    assert result.checksum == checksum
    assert file_checksum(base / "copy" / "a.dat") == checksum
    midway = [r.getMessage() for r in caplog.records if r.getMessage().startswith("stage-out a.dat: ")]
    assert any("MB/s" in line and "100%" not in line for line in midway), midway
    assert debris(base) == []


def test_a_davs_url_is_served_by_an_installed_mover_without_queue_config(grid, tmp_path):
    """No table in the core names movers: the scheme's default comes from what is installed
    (here gfal2's http plugin, through the gridftp mover), and the transfer really happens."""
    from pilot_movers.registry import get_mover_class, mover_for_scheme

    name = mover_for_scheme("davs")
    assert "davs" in get_mover_class(name).schemes
    base = grid.xrootd_dir / "davs-default"
    base.mkdir(exist_ok=True)
    checksum = write_file(base / "w.dat", 300_000, seed=9)
    os.chown(base, 65534, 65534)
    os.chown(base / "w.dat", 65534, 65534)
    url = grid.https_url("davs-default/").replace("https://", "davs://")
    params = job_params.parse(f"dir-in={url} files-in=w.dat")
    with Job(params, QueueConfig(), tmp_path / "work") as job:
        (result,) = job.stage_in()
    assert (result.status, result.mover, result.checksum) == (Status.DONE, name, checksum)


def test_a_refused_root_url_through_the_gridftp_mover_fails_within_15_seconds(grid, tmp_path):
    """Issue 18: gfal2's xrootd plugin (root:// through the gridftp mover) tried a refused
    connection for 8 minutes (XrdCl's default connection windows), deaf to every cancel; with
    default settings the job now fails within 15 s, as the xrootd mover does."""
    import json
    import subprocess
    import sys

    from pilot_movers_testkit.grid import free_port

    queue = tmp_path / "q.json"
    queue.write_text(json.dumps({"copytool": "gridftp"}))
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pilot_movers",
            "run",
            "--queue-config",
            str(queue),
            "--job-params",
            f"dir-in=root://localhost:{free_port()}//tmp/nowhere/ files-in=a.dat",
            "--workdir",
            str(tmp_path / "w"),
            "--report",
            str(tmp_path / "r.json"),
            "--",
            "true",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    took = time.monotonic() - started
    assert done.returncode == 3, done.stderr
    assert took < 15, f"a refused root:// connection took {took:.0f} s to fail the job"
    report = json.loads((tmp_path / "r.json").read_text())
    (only,) = report["phases"]["stage-in"]["files"]
    assert only["mover"] == "gridftp" and only["error"]["transient"] is True


def test_globus_url_copy_runs_without_the_pilots_secrets(grid, tmp_path):
    """Issue 19: globus-url-copy (the gridftp mover's engine for small files) got the whole pilot
    environment, the MyProxy passphrase and the Globus client secret included. Read as it runs."""
    import json
    import subprocess
    import sys

    base = grid.gridftp_dir / "guc-environment"
    names = [f"s{i:03d}.dat" for i in range(120)]
    for number, name in enumerate(names):
        write_file(base / name, 100_000, seed=number)
    queue = tmp_path / "q.json"
    queue.write_text(json.dumps({"copytool": "gridftp"}))
    secrets = {"MYPROXY_PASSPHRASE": "passphrase-7751", "GLOBUS_CLIENT_SECRET": "secret-7752", "BEARER_TOKEN": "t-7753"}
    seen: dict[int, bytes] = {}
    with grid.throttled("20mbit"):  # 12 MB: long enough to read the program's environment
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pilot_movers",
                "run",
                "--queue-config",
                str(queue),
                "--job-params",
                f"dir-in={grid.gridftp_url('guc-environment/')} files-in={','.join(names)}",
                "--workdir",
                str(tmp_path / "w"),
                "--",
                "true",
            ],
            env={**os.environ, **secrets},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        while process.poll() is None:
            found = subprocess.run(["pgrep", "-x", "globus-url-copy"], capture_output=True, text=True).stdout
            for pid in (int(p) for p in found.split()):
                try:
                    seen[pid] = Path(f"/proc/{pid}/environ").read_bytes()
                except OSError:
                    pass
            time.sleep(0.02)
        _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert seen, "globus-url-copy was never seen running"
    for environ in seen.values():
        assert not [v for v in secrets.values() if v.encode() in environ], "a secret of the pilot reached it"
        assert b"X509_USER_PROXY=" in environ, "what it needs, it gets"
