"""Faults on the real local grid, each injected ``FAULT_RUNS`` times, each outcome counted."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

import job_params
from pilot_movers import Job, QueueConfig
from pilot_movers.checksums import file_checksum
from pilot_movers.errors import MoverError
from tests.faults.conftest import RUNS, Figures, secret_lines
from tests.grid.conftest import Protocol
from tests.helpers import debris, write_file

SIZE = 300_000_000  # long enough to kill the server in the middle, short enough to repeat


def _partial(directory: Path) -> int:
    try:
        return sum(p.stat().st_size for p in directory.glob("*.part") if p.is_file())
    except OSError:
        return 0


def _kill_and_restart_when(proto: Protocol, condition, delay: float = 0.5) -> threading.Event:
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
            time.sleep(0.005)

    threading.Thread(target=watch, daemon=True).start()
    return done


def test_a_server_killed_mid_transfer(proto: Protocol, tmp_path: Path, figures: Figures, all_log_lines):
    """Each run: the server dies (SIGKILL) in the middle of a download, comes back half a second
    later; the job must complete, verified, with no partial file anywhere."""
    source = tmp_path / "source.bin"
    checksum = write_file(source, SIZE, seed=3)
    completed = killed = partial_files = 0
    for run in range(RUNS):
        shutil.copy(source, proto.base / f"big{run}.dat")
        proto._own(proto.base / f"big{run}.dat")
        workdir = tmp_path / f"job{run}"
        params = job_params.parse(f"dir-in={proto.url('')} files-in=big{run}.dat")
        queue = QueueConfig.from_dict(
            {"copytool": proto.name, "transfer": {"backoff_initial": 1.0, "backoff_max": 2.0, "max_attempts": 4}}
        )
        try:
            with proto.grid.throttled("800mbit"), Job(params, queue, workdir, handle_signals=False) as job:
                restarted = _kill_and_restart_when(proto, lambda workdir=workdir: _partial(workdir) > SIZE // 4)
                (report,) = job.stage_in()
            killed += restarted.wait(30)
            completed += report.ok and report.verified and file_checksum(workdir / f"big{run}.dat") == checksum
        except MoverError:
            pass
        if not proto.server.running:
            proto.server.start()
        partial_files += len(debris(workdir)) + len(debris(proto.base))
    figures.record(
        "server killed mid-transfer, restarted",
        proto.name,
        killed=killed,
        completed=completed,
        partial_files_left=partial_files,
    )
    assert killed == RUNS, "the server was not always killed in the middle: the test proves nothing"
    assert (completed, partial_files) == (RUNS, 0)


def test_a_source_corrupted_against_its_expected_checksum(
    proto: Protocol, tmp_path: Path, figures: Figures, all_log_lines
):
    """Each run: one byte of the source flipped at another place after the catalogue took its
    checksum; the job must refuse the file, permanently, every time, leaving nothing."""
    detected = landed = 0
    for run in range(RUNS):
        name = f"rot{run}.dat"
        good = proto.seed(name, 2_000_000, seed=100 + run)
        with open(proto.base / name, "r+b") as handle:
            offset = (run * 611_953) % 2_000_000
            handle.seek(offset)
            byte = handle.read(1)
            handle.seek(offset)
            handle.write(bytes([byte[0] ^ (1 << (run % 8))]))
        params = job_params.parse(f"dir-in={proto.url('')} files-in={name} checksums-in={good}")
        queue = QueueConfig.from_dict({"copytool": proto.name, "transfer": {"backoff_initial": 0.01}})
        try:
            with Job(params, queue, tmp_path / f"w{run}", handle_signals=False) as job:
                job.stage_in()
        except MoverError as exc:
            detected += exc.name in ("GETADMISMATCH", "GETMD5MISMATCH") and not exc.transient
        landed += (tmp_path / f"w{run}" / name).exists()
    figures.record("source corrupted against the expected checksum", proto.name, detected=detected, landed=landed)
    assert (detected, landed) == (RUNS, 0)


PHASE_PAYLOAD = {
    "credentials": None,  # the signal comes while the user's proxy is fetched
    "stage-in": ["true"],
    "payload": ["sleep", "30"],
    "stage-out": ["cp", "big.dat", "out.dat"],
}


@pytest.mark.parametrize("phase", list(PHASE_PAYLOAD))
def test_signals_at_each_phase_leave_nothing(
    grid, proto: Protocol, tmp_path: Path, figures: Figures, phase: str, all_log_lines
):
    """Each run: SIGTERM (then SIGINT, SIGQUIT in turn) in the named phase, through the real CLI,
    on a slowed link; afterwards no proxy, temporary file or payload process may be left."""
    grid.store_credential("mxp-faults")
    source = tmp_path / "big.dat"
    write_file(source, SIZE, seed=4)
    shutil.copy(source, proto.base / "big.dat")
    proto._own(proto.base / "big.dat")
    queue = tmp_path / "q.json"
    queue.write_text(
        json.dumps(
            {
                "copytool": proto.name,
                "myproxy": {"server": "localhost", "port": grid.myproxy_port, "retrieve_with": "pilot-proxy"},
            }
        )
    )
    params = (
        f"globus-user=mxp-faults dir-in={proto.url('')} files-in=big.dat dir-out={proto.url('out/')} files-out=out.dat"
    )
    stopped = left = 0
    outcomes: list[tuple[str, int, str, str]] = []
    names = ["SIGTERM", "SIGINT", "SIGQUIT"]
    for run in range(RUNS):
        number = getattr(signal, names[run % 3])
        work = tmp_path / f"w{run}"
        payload = PHASE_PAYLOAD[phase] or ["true"]
        command = [
            sys.executable,
            "-m",
            "pilot_movers",
            "-v",
            "run",
            "--job-params",
            params,
            "--queue-config",
            str(queue),
            "--workdir",
            str(work),
            "--report",
            str(tmp_path / f"r{run}.json"),
            "--",
            *payload,
        ]
        env = {**os.environ, **grid.client_env(proxy=grid.pilot_proxy)}
        slow = phase in ("stage-in", "stage-out")  # 24 s a transfer: room to land in it under any load
        # -v brings gfal2's and XRootD's debug lines: a pipe nobody reads until the end would
        # fill and hold the job, so the log goes to a file
        throttle = proto.grid.throttled("100mbit") if slow else contextlib.nullcontext()
        with throttle, tempfile.TemporaryFile("w+") as log_file:
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log_file, text=True, env=env)
            deadline = time.monotonic() + 120
            while not _in_phase(phase, work, proto) and process.poll() is None:
                assert time.monotonic() < deadline, f"phase {phase} never came"
                time.sleep(0.005)
            process.send_signal(number)
            process.wait(timeout=120)
            log_file.seek(0)
            err = log_file.read()
        all_log_lines.extend(err.splitlines())  # the CLI's own log, at DEBUG, is scanned too
        assert (tmp_path / f"r{run}.json").exists(), f"run {run}: no report; exit {process.returncode}:\n{err[-3000:]}"
        report = json.loads((tmp_path / f"r{run}.json").read_text())
        phases = ("setup", "credentials") if phase == "credentials" else (phase,)  # the logon follows at once
        ok = process.returncode == 128 + number and report["failed_phase"] in phases
        stopped += ok
        outcomes.append((names[run % 3], process.returncode, report["failed_phase"], report["error"]["name"]))
        left += len(debris(work)) + len(debris(proto.base)) + len(list(work.glob(".pilot-movers-proxy-*")))
        left += _payload_alive(work)
        if (proto.base / "out" / "out.dat").exists():
            (proto.base / "out" / "out.dat").unlink()
    figures.record(f"signal during {phase}", proto.name, stopped=stopped, left_behind=left)
    assert (stopped, left) == (RUNS, 0), outcomes


def _in_phase(phase: str, work: Path, proto: Protocol) -> bool:
    if phase == "credentials":
        return work.exists()
    if phase == "stage-in":
        return _partial(work) > 10_000_000
    if phase == "payload":  # the payload itself runs (the input landing is not enough: stage-in still verifies)
        return _payload_alive(work) > 0
    return _partial(proto.base / "out") > 10_000_000


def _payload_alive(work: Path) -> int:
    """This run's payload processes still running (the payload of the payload phase sleeps 30 s;
    the job runs it by its full path, /usr/bin/sleep, in its work dir: another run's, still being
    stopped, must not count)."""
    found = subprocess.run(["pgrep", "-f", "(^|/)sleep 30$"], capture_output=True, text=True).stdout.split()
    alive = 0
    for pid in found:
        try:
            alive += os.readlink(f"/proc/{pid}/cwd") == str(work)
        except OSError:  # gone meanwhile
            pass
    return alive


def test_no_log_line_of_the_suite_holds_a_secret(grid, figures: Figures, all_log_lines):
    """Runs last in this module: every record every fault test logged, at DEBUG."""
    secrets = secret_lines(grid)
    leaks = sum(1 for line in all_log_lines for secret in secrets if secret in line)
    figures.record("secrets in log lines", "all", lines_scanned=len(all_log_lines), secrets_found=leaks)
    assert len(all_log_lines) > 100, "the logs were captured"
    assert leaks == 0
