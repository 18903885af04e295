"""Nothing leaks, with the local mover and the real CLI: SIGKILL, an earlier run's debris,
hostile work dirs, outputs that are links, bad usage."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import job_params
from pilot_movers import Job, QueueConfig
from pilot_movers.errors import PhaseFailed

QUEUE = {"copytool": "local", "transfer": {"backoff_initial": 0.01, "backoff_jitter": 0.01}}


def _cli(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pilot_movers", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as handle:  # a zombie is dead
        return handle.read().split(")")[-1].split()[0] != "Z"


def _wait_for(predicate, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_the_payload_and_its_children_die_with_a_pilot_killed_by_sigkill(tmp_path):
    (tmp_path / "q.json").write_text(json.dumps(QUEUE))
    pids = tmp_path / "pids"
    script = f"sleep 300 & echo $! > {pids}.child; echo $$ > {pids}.payload; wait"
    pilot = _cli(
        "run",
        "--job-params",
        "",
        "--queue-config",
        str(tmp_path / "q.json"),
        "--workdir",
        str(tmp_path / "w"),
        "--",
        "sh",
        "-c",
        script,
    )
    _wait_for(lambda: Path(f"{pids}.child").exists() and Path(f"{pids}.child").read_text().strip(), 30, "payload")
    payload, child = int(Path(f"{pids}.payload").read_text()), int(Path(f"{pids}.child").read_text())
    pilot.send_signal(signal.SIGKILL)  # no handler runs: only the kernel can tell the payload
    pilot.communicate(timeout=30)
    _wait_for(lambda: not _alive(payload) and not _alive(child), 15, "the payload outlived the pilot")


def test_what_the_payload_leaves_running_is_stopped_when_it_exits(tmp_path):
    queue = QueueConfig.from_dict(QUEUE)
    marker = tmp_path / "straggler.pid"
    with Job(job_params.parse(""), queue, tmp_path / "w") as job:
        job.run_payload(["sh", "-c", f"sleep 300 & echo $! > {marker}"])
    straggler = int(marker.read_text())
    _wait_for(lambda: not _alive(straggler), 10, "a background process of the payload outlived it")


def test_a_job_sweeps_what_a_killed_run_left_in_its_work_dir_and_says_so(tmp_path):
    work = tmp_path / "w"
    work.mkdir(mode=0o700)
    leftovers = [work / "a.dat.pilot-movers-a1-0123abcd.part", work / ".pilot-movers-proxy-0123456789ab.pem"]
    for path in leftovers:
        path.write_text("from an earlier run")
    (work / "user-file.txt").write_text("not ours")
    with Job(job_params.parse(""), QueueConfig.from_dict(QUEUE), work) as job:
        pass
    assert [p.exists() for p in leftovers] == [False, False]
    assert (work / "user-file.txt").exists()
    setup = job.report.to_dict()["setup"]
    assert all(any(str(p) in note for note in setup) for p in leftovers), setup


def test_a_work_dir_others_can_write_is_made_private_before_use(tmp_path):
    work = tmp_path / "shared"
    work.mkdir()
    work.chmod(0o777)
    with Job(job_params.parse(""), QueueConfig.from_dict(QUEUE), work) as job:
        assert work.stat().st_mode & 0o777 == 0o700
    assert any("made private" in note for note in job.report.setup)


def test_an_output_that_is_a_symbolic_link_is_refused_and_its_target_not_uploaded(tmp_path):
    secret = tmp_path / "pilot-proxy.pem"
    secret.write_text("-----BEGIN PRIVATE KEY----- the pilot's")
    (tmp_path / "out").mkdir()
    params = job_params.parse(f"out-mode=local dir-out={tmp_path}/out files-out=result.root,ok.txt")
    with pytest.raises(PhaseFailed) as caught, Job(params, QueueConfig.from_dict(QUEUE), tmp_path / "w") as job:
        job.run_payload(["sh", "-c", f"ln -s {secret} result.root; echo fine > ok.txt"])
        job.stage_out()
    assert (caught.value.name, caught.value.file) == ("UNSAFESOURCE", "result.root")
    assert "symbolic link" in caught.value.message
    assert not (tmp_path / "out" / "result.root").exists()
    assert (tmp_path / "out" / "ok.txt").read_text() == "fine\n"


def test_the_payload_gets_no_credential_the_pilot_used_to_fetch_the_users_proxy(tmp_path, monkeypatch):
    monkeypatch.setenv("MYPROXY_PASSPHRASE", "s3cret-passphrase")
    monkeypatch.setenv("SITE_PASSPHRASE", "other-s3cret")
    queue = QueueConfig.from_dict({**QUEUE, "myproxy": {"passphrase_env": "SITE_PASSPHRASE"}})
    with Job(job_params.parse(""), queue, tmp_path / "w") as job:
        job.run_payload(["sh", "-c", "env > env.txt"])
    env = (tmp_path / "w" / "env.txt").read_text()
    assert "other-s3cret" not in env
    assert "PILOT_MOVERS_WORKDIR" in env


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--job-params", "files-in=a"], "files-in is given but dir-in is not"),
        (["--job-params", "in-mode=local dir-in=relative files-in=a"], "absolute local path"),
        (["--job-params", "dir-in=gsiftp://se/d?x=1 files-in=a"], "query string"),
        (["--job-params", "dir-out=/results files-out=a"], "needs a storage element URL"),
        (["--job-params", "", "--workdir", "/proc/self/pilot"], "is under /proc"),
        (["--job-params", "", "--workdir", "@FILE@"], "exists and is not a directory"),
        (["--job-params", "", "--payload-timeout", "-5"], "--payload-timeout"),
        (["--job-params", "", "--payload-timeout", "nan"], "--payload-timeout"),
        (["--job-params-file", "@NOTUTF8@"], "not UTF-8"),
        (["--job-params-file", "/nonexistent/params"], "cannot read job parameters"),
        (["--job-params", "", "--bogus"], "unrecognized arguments: --bogus"),
        (["--job-params", "globus-user=mxp", "--queue-config", "@MYPROXY@"], "no server is named"),
    ],
)
def test_bad_usage_is_one_sentence_and_exit_2_before_anything_exists(tmp_path, args, message):
    (tmp_path / "q.json").write_text(json.dumps(QUEUE))
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "latin1").write_bytes(b"dir-in=/\xe9 files-in=a")
    (tmp_path / "mp.json").write_text(json.dumps({**QUEUE, "myproxy": {"enabled": True}}))
    replace = {
        "@FILE@": str(tmp_path / "a-file"),
        "@NOTUTF8@": str(tmp_path / "latin1"),
        "@MYPROXY@": str(tmp_path / "mp.json"),
    }
    args = [replace.get(a, a) for a in args]
    if "--queue-config" not in args:
        args += ["--queue-config", str(tmp_path / "q.json")]
    if "--workdir" not in args:
        args += ["--workdir", str(tmp_path / "w")]
    env = {k: v for k, v in os.environ.items() if k != "MYPROXY_SERVER"}
    process = _cli("run", *args, "--", "true", env=env)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 2, err
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "w").exists(), "nothing is made before the job is known to be runnable"
