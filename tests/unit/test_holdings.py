"""What a killed job held beyond files (issue 22): the next job stops its process group, removes
its directory, and takes over what only a mover can remove (a Globus worker endpoint), keeping it
in its own record until a job whose mover can. Real processes, a real ledger, a real Job."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import job_params
from pilot_movers import Job, QueueConfig
from pilot_movers.holdings import stop_group
from pilot_movers.ledger import STATE_DIR_VARIABLE, Ledger


def sleeper(marker: str) -> subprocess.Popen[bytes]:
    """A process group of its own whose command line carries ``marker``."""
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", marker], start_new_session=True)


def test_a_group_is_stopped_only_when_it_still_runs_the_marked_command(tmp_path: Path):
    marked, other = sleeper(str(tmp_path / "pilot-movers-gcp-x")), sleeper("someone-else")
    try:
        assert stop_group(other.pid, str(tmp_path / "pilot-movers-gcp-x")) is None, "a reused group id is left alone"
        assert other.poll() is None
        said = stop_group(marked.pid, str(tmp_path / "pilot-movers-gcp-x"))
        assert said is not None and said.startswith(f"process group {marked.pid} ")
        assert marked.wait(timeout=10) is not None
    finally:
        for process in (marked, other):
            process.kill()
            process.wait()


def test_the_next_job_removes_what_a_killed_job_held_and_keeps_what_only_a_mover_can_remove(tmp_path, monkeypatch):
    monkeypatch.setenv(STATE_DIR_VARIABLE, str(tmp_path / "state"))
    ledger = Ledger()
    left_dir = tmp_path / "pilot-movers-gcp-abc123"
    (left_dir / "config").mkdir(parents=True)
    gcp = sleeper(str(left_dir))
    try:
        record = ledger.record(str(tmp_path / "dead-job"))
        record.hold("directory", str(left_dir))
        record.hold("process-group", f"{gcp.pid} {left_dir}")
        record.hold("globus-endpoint", "5a1f-endpoint-of-the-dead-job")
        record.close()  # as the kernel would release a killed job's lock: the record stays

        (tmp_path / "in").mkdir()
        (tmp_path / "in" / "a.dat").write_bytes(b"a")
        params = job_params.parse(f"in-mode=local dir-in={tmp_path}/in files-in=a.dat")
        with Job(params, QueueConfig.from_dict({"copytool": "local"}), tmp_path / "work") as job:
            job.stage_in()
        assert gcp.wait(timeout=10) is not None, "the dead job's GCP group was stopped"
        assert not left_dir.exists()
        assert job.report is not None
        notes = job.report.setup
        assert f"removed {left_dir}, left by a job that was killed" in notes
        assert any(n.startswith(f"removed process group {gcp.pid} ") for n in notes), notes
    finally:
        gcp.kill()
        gcp.wait()
    time.sleep(0.05)
    (kept,) = ledger.dead_records()  # this job (no Globus mover) kept the endpoint for the next
    assert kept.held == [("globus-endpoint", "5a1f-endpoint-of-the-dead-job")]
    kept.done([], ledger, kept.held)


def test_lines_a_payload_forged_stop_no_job_and_remove_nothing_but_gcp_state(tmp_path, monkeypatch):
    """The payload (same uid) can read the ledger's key and forge lines: a group id that is not a
    number, this very process's group, a directory of the library's that is not a GCP state dir,
    an endpoint: the next job runs, stops nothing of its own, removes none of them."""
    import os

    monkeypatch.setenv(STATE_DIR_VARIABLE, str(tmp_path / "state"))
    ledger = Ledger()
    keep = tmp_path / "pilot-movers-job-precious"
    keep.mkdir()
    gcp_like = tmp_path / "pilot-movers-gcp-forged"
    record = ledger.record(str(tmp_path / "forger"))
    record.hold("process-group", "\u00b2\u00b2 anything")
    record.hold("process-group", f"{os.getpgid(0)} {gcp_like} {sys.argv[0]}")
    record.hold("process-group", f"{os.getsid(0)} {gcp_like}")
    record.hold("directory", str(keep))
    record.hold("directory", str(ledger.directory))
    record.close()
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.dat").write_bytes(b"a")
    params = job_params.parse(f"in-mode=local dir-in={tmp_path}/in files-in=a.dat")
    with Job(params, QueueConfig.from_dict({"copytool": "local"}), tmp_path / "work") as job:
        job.stage_in()
    assert job.report is not None and job.report.error is None
    assert keep.is_dir() and os.path.isdir(ledger.directory)
    assert not any(note.startswith("removed") for note in job.report.setup), job.report.setup
