"""Nothing leaks on the real grid: signals while the user's proxy is fetched, a full disk when it
is written, temporary files on a server that went down."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from pilot_movers_testkit.grid import LocalGrid

import job_params
from pilot_movers import Job, QueueConfig
from pilot_movers.errors import MoverError
from pilot_movers.ledger import state_dir
from tests.grid.conftest import Protocol
from tests.helpers import debris


@pytest.fixture(scope="module")
def trusted(grid: LocalGrid) -> str:
    grid.store_credential("mxp-leaks")
    return "mxp-leaks"


def _queue(grid: LocalGrid, path: Path) -> Path:
    path.write_text(
        json.dumps(
            {
                "copytool": "gridftp",
                "myproxy": {"server": "localhost", "port": grid.myproxy_port, "retrieve_with": "pilot-proxy"},
            }
        )
    )
    return path


def _proxies(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.glob(".pilot-movers-proxy-*")) if directory.exists() else []


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGINT"])
def test_a_signal_while_the_users_proxy_is_fetched_or_written_leaves_no_proxy(grid, trusted, tmp_path, signal_name):
    """The signal comes at every moment around the MyProxy logon and the proxy's write (spread
    over the time a logon takes on this machine, and just as the proxy's file appears): whenever
    it lands, no proxy is left in the work dir, and when one had been written the report says it
    was removed."""
    queue = _queue(grid, tmp_path / "q.json")
    env = {**os.environ, **grid.client_env(proxy=grid.pilot_proxy)}
    number = getattr(signal, signal_name)

    def run(step: int, fire) -> dict:
        work, report = tmp_path / f"w{step}", tmp_path / f"r{step}.json"
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pilot_movers",
                "run",
                "--job-params",
                f"globus-user={trusted}",
                "--queue-config",
                str(queue),
                "--workdir",
                str(work),
                "--report",
                str(report),
                "--",
                "sleep",
                "30",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        deadline = time.monotonic() + 60
        while not work.exists() and process.poll() is None:  # the job has started: it made its work dir
            assert time.monotonic() < deadline
            time.sleep(0.002)
        started = time.monotonic()
        fire(work)
        process.send_signal(number)
        _, err = process.communicate(timeout=60)
        assert "Traceback" not in err, err
        assert process.returncode == 128 + number, err
        assert _proxies(work) == [], f"a proxy was left after a {signal_name}: {err}"
        return {
            "after": time.monotonic() - started,
            "report": json.loads(report.read_text()) if report.exists() else {},
        }

    def written(work: Path) -> None:  # the moment the proxy's file appears
        deadline = time.monotonic() + 30
        while not _proxies(work) and time.monotonic() < deadline:
            time.sleep(0.0005)

    calibration = run(0, written)
    window = max(0.05, calibration["after"]) * 1.3
    outcomes = [calibration] + [run(step, written) for step in range(1, 4)]
    for step in range(4, 20):
        delay = window * (step - 4) / 15
        outcomes.append(run(step, lambda work, delay=delay: time.sleep(delay)))
    removed = sum(any("removed the user's proxy" in note for note in o["report"].get("cleanup", [])) for o in outcomes)
    assert removed, "no signal came after the proxy was written: the window was never tested"


def test_a_full_disk_while_the_proxy_is_written_leaves_nothing_and_says_nolocalspace(grid, trusted, tmp_path):
    """The work dir is on a 12 KiB file system: the user's proxy (about 5 KiB with its chain) does
    not fit after a filler file. The job ends in the credentials phase with NOLOCALSPACE, one line,
    no traceback, and no partial file holding the private key."""
    queue = _queue(grid, tmp_path / "q.json")
    mount = tmp_path / "small"
    mount.mkdir()
    script = (
        f"mount -t tmpfs -o size=12k tmpfs {mount} && mkdir -m 700 {mount}/w && "
        f"head -c 9000 /dev/zero > {mount}/w/filler && "
        f"{sys.executable} -m pilot_movers run --job-params globus-user={trusted} --queue-config {queue} "
        f"--workdir {mount}/w --report {tmp_path}/r.json -- true; status=$?; "
        f"ls -A {mount}/w > {tmp_path}/left.txt; exit $status"
    )
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, **grid.client_env(proxy=grid.pilot_proxy)},
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert "NOLOCALSPACE (1098)" in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert "job failed in credentials" in done.stderr
    assert (tmp_path / "left.txt").read_text().split() == ["filler"], "nothing but the filler is left"
    report = json.loads((tmp_path / "r.json").read_text())
    assert (report["failed_phase"], report["error"]["name"]) == ("credentials", "NOLOCALSPACE")


def test_temporary_files_on_a_server_that_went_down_are_listed_and_removed_when_it_is_back(
    proto: Protocol, tmp_path: Path, gib_file
):
    source, _ = gib_file
    params = job_params.parse(f"dir-out={proto.url('gone/')} files-out=big.dat")
    queue = QueueConfig.from_dict({"copytool": proto.name, "transfer": {"max_attempts": 1}})
    with Job(params, queue, tmp_path / "w") as job:
        job.run_payload(["cp", str(source), "big.dat"])
        with proto.grid.throttled("400mbit"):
            killer = _kill_when(
                proto, lambda: sum(p.stat().st_size for p in (proto.base / "gone").glob("*.part")) > 10e6
            )
            with pytest.raises(MoverError):
                job.stage_out()
        assert killer.wait(60)
        left = [p for p in (proto.base / "gone").glob("*.part")]
        assert left, "the server kept a partial upload"
        proto.server.start()  # back before the job ends: the cleanup removes what it left
    assert debris(proto.base) == []
    assert any("left by a failed attempt" in note for note in job.report.cleanup), job.report.cleanup
    assert job.report.left_behind == ()


def test_temporary_files_on_a_server_still_down_are_listed_with_url_and_size(proto: Protocol, tmp_path: Path, gib_file):
    source, _ = gib_file
    params = job_params.parse(f"dir-out={proto.url('down/')} files-out=big.dat")
    queue = QueueConfig.from_dict({"copytool": proto.name, "transfer": {"max_attempts": 1}})
    try:
        with pytest.raises(MoverError), Job(params, queue, tmp_path / "w") as job:
            job.run_payload(["cp", str(source), "big.dat"])
            with proto.grid.throttled("100mbit"):  # slow enough for the clocks to see bytes move
                killer = _kill_when(
                    proto, lambda: sum(p.stat().st_size for p in (proto.base / "down").glob("*.part")) > 20e6
                )
                job.stage_out()
        assert killer.wait(60)
        report = job.report.to_dict()
        (item,) = [i for i in report["left_behind"] if i["kind"] == "temporary-file"]
        assert item["name"] == "big.dat" and ".pilot-movers-" in item["location"] and item["size"] > 0
        assert item["location"].startswith(proto.url("down/").split("//")[0])
        assert report["error"]["phase"] == "stage-out" and report["error"]["code"] in (1324, 1137, 1152)
    finally:
        proto.server.start()
        for path in (proto.base / "down").glob("*.part"):
            path.unlink()


def _kill_when(proto: Protocol, condition) -> threading.Event:
    import threading

    done = threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if condition():
                    proto.server.kill()
                    done.set()
                    return
            except OSError:
                pass
            time.sleep(0.01)

    threading.Thread(target=watch, daemon=True).start()
    return done


def test_the_users_proxy_never_reaches_a_log_or_the_report_when_the_job_is_stopped(grid, trusted, tmp_path):
    queue = _queue(grid, tmp_path / "q.json")
    work = tmp_path / "w"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pilot_movers",
            "-v",
            "run",
            "--job-params",
            f"globus-user={trusted}",
            "--queue-config",
            str(queue),
            "--workdir",
            str(work),
            "--report",
            str(tmp_path / "r.json"),
            "--",
            "sh",
            "-c",
            "touch started; sleep 30",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **grid.client_env(proxy=grid.pilot_proxy)},
    )
    deadline = time.monotonic() + 60
    while not (work / "started").exists():
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.05)
    key_lines = [line for line in (work / _proxies(work)[0]).read_text().splitlines() if not line.startswith("-----")]
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    text = out + err + (tmp_path / "r.json").read_text()
    assert "payload started" in text and "SIGTERM received" in text, "the logs were captured"
    assert "PRIVATE KEY" not in text and "BEGIN CERTIFICATE" not in text
    assert not any(line in text for line in key_lines)
    assert _proxies(work) == []


@pytest.mark.parametrize("transport", ["local", "gridftp", "xrootd"])
def test_a_read_only_destination_is_the_same_destination_error_on_every_transport(grid, tmp_path, transport):
    """Not an authentication failure, not a retry: DESTINATIONNOTWRITABLE (9005) everywhere."""
    if transport == "local":
        target, url = tmp_path / "ro", f"{tmp_path}/ro"
    else:
        base = grid.gridftp_dir if transport == "gridftp" else grid.xrootd_dir
        target = base / f"ro-{tmp_path.name}"
        url = (grid.gridftp_url if transport == "gridftp" else grid.xrootd_url)(target.name)
    target.mkdir(mode=0o777)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(target)], check=True)
    try:
        mode = "out-mode=local " if transport == "local" else ""
        params = job_params.parse(f"{mode}dir-out={url} files-out=result.dat")
        queue = QueueConfig.from_dict({"copytool": transport, "transfer": {"backoff_initial": 0.01}})
        with pytest.raises(MoverError) as caught, Job(params, queue, tmp_path / "w") as job:
            job.run_payload(["sh", "-c", "echo data > result.dat"])
            job.stage_out()
        (report,) = job.report.phases[0].results
        assert (caught.value.code, caught.value.name) == (9005, "DESTINATIONNOTWRITABLE")
        assert (report.error.scope.value, report.error.transient, len(report.attempts)) == ("destination", False, 1)
    finally:
        subprocess.run(["umount", str(target)], check=False)


def test_a_killed_jobs_temporary_files_on_the_server_are_removed_by_the_next_job_in_its_work_dir(
    proto: Protocol, tmp_path: Path, gib_file
):
    """SIGKILL in the middle of an upload: no cleanup runs, the server keeps a partial copy. The
    next job (here in the same work dir; any work dir would do) finds it in the killed job's
    ledger record, removes it, and says so."""
    source, _ = gib_file
    queue = tmp_path / "q.json"
    queue.write_text(json.dumps({"copytool": proto.name}))
    work = tmp_path / "w"
    work.mkdir(mode=0o700)
    upload = [
        sys.executable,
        "-m",
        "pilot_movers",
        "run",
        "--job-params",
        f"dir-out={proto.url('killed/')} files-out=big.dat",
        "--queue-config",
        str(queue),
        "--workdir",
        str(work),
        "--",
        "cp",
        str(source),
        "big.dat",
    ]
    partial = lambda: sum(p.stat().st_size for p in (proto.base / "killed").glob("*.part"))  # noqa: E731
    with proto.grid.throttled("100mbit"):
        process = subprocess.Popen(upload, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while partial() < 10_000_000:
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()
            time.sleep(0.01)
        process.kill()
        process.communicate(timeout=30)
    time.sleep(1)
    left = list((proto.base / "killed").glob("*.part"))
    if proto.name == "xrootd" and not left:
        pytest.fail("XRootD removed the partial upload itself (posc): nothing to sweep, nothing to test")
    assert left, "the killed job left a partial copy on the server"
    again = subprocess.run(
        [
            sys.executable,
            "-m",
            "pilot_movers",
            "run",
            "--job-params",
            "",
            "--queue-config",
            str(queue),
            "--workdir",
            str(work),
            "--report",
            str(tmp_path / "r.json"),
            "--",
            "true",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stderr
    assert list((proto.base / "killed").glob("*.part")) == []
    setup = json.loads((tmp_path / "r.json").read_text())["setup"]
    assert any("left by a job that was killed" in note and ".part" in note for note in setup), setup
    assert not list(Path(state_dir(), "jobs").glob("*.record")), "nothing pending: no record left either"
