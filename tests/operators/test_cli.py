"""The console command as a site admin and a pilot author meet it, from a shell: --version,
--help, run --dry-run, run --json, the summary, live progress, --log-file, progress log lines,
each failure said once, and a queue config that is no regular file refused at once."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pilot_movers.version import __version__

SIZE = 3_000_000


def command() -> str:
    found = shutil.which("pilot-movers", path=os.path.dirname(sys.executable))
    assert found, "the pilot-movers console script is installed beside this Python"
    return found


def shell(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([command(), *args], capture_output=True, text=True, timeout=120, cwd=cwd)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "in" / "a.dat").write_bytes(os.urandom(SIZE))
    (tmp_path / "in" / "b.dat").write_bytes(b"b" * 1000)
    (tmp_path / "queue.json").write_text(
        json.dumps(
            {
                "copytool": "local",
                "transfer": {
                    "max_attempts": 2,
                    "backoff_initial": 0.01,
                    "backoff_jitter": 0.01,
                    "progress_interval": 0.001,
                },
                "movers": {"local": {"kernel_copy_size": 1 << 40}},  # Python copies, with progress per block
            }
        )
    )
    return tmp_path


def params(site: Path, files_in: str = "a.dat,b.dat") -> str:
    return (
        f"in-mode=local dir-in={site}/in files-in={files_in} sizes-in={SIZE},1000 "
        f"out-mode=local dir-out={site}/out files-out=c.dat"
    )


def run(site: Path, *extra: str, files_in: str = "a.dat,b.dat") -> subprocess.CompletedProcess[str]:
    return shell(
        "run",
        "--queue-config",
        str(site / "queue.json"),
        "--job-params",
        params(site, files_in),
        "--workdir",
        str(site / "work"),
        *extra,
        "--",
        "sh",
        "-c",
        "cp a.dat c.dat",
    )


def test_version_and_help():
    version = shell("--version")
    assert version.returncode == 0 and version.stdout.startswith(f"pilot-movers {__version__} ")
    for args in (["--help"], ["run", "--help"], ["doctor", "--help"]):
        helped = shell(*args)
        assert helped.returncode == 0
        assert "``" not in helped.stdout and ":class:" not in helped.stdout  # no reST markup
        assert "128+N" in helped.stdout and "retry may help" in helped.stdout  # the exit statuses


def dry_run(site: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return shell(
        "run",
        "--queue-config",
        str(site / "queue.json"),
        "--job-params",
        params(site),
        "--workdir",
        str(site / "work"),
        "--dry-run",
        *extra,
    )


def test_dry_run_prints_the_plan_and_makes_nothing(site):
    done = dry_run(site)
    assert done.returncode == 0, done.stderr
    assert f"from file://{site}/in/a.dat" in done.stdout and "[local]" in done.stdout
    assert f"{SIZE} bytes" in done.stdout and "c.dat" in done.stdout
    assert not (site / "work").exists() and not list((site / "out").iterdir())
    plan = json.loads(dry_run(site, "--json").stdout)
    assert [f["name"] for f in plan["phases"]["stage-in"]] == ["a.dat", "b.dat"]
    assert plan["phases"]["stage-in"][0]["size"] == SIZE and plan["phases"]["stage-in"][0]["mover"] == "local"
    assert plan["phases"]["stage-out"][0]["destination"] == f"file://{site}/out/c.dat"


def test_dry_run_refuses_a_bad_queue_config_as_a_run_would(site):
    (site / "bad.json").write_text(json.dumps({"copytool": "local", "transfer": {"concurency": 4}}))
    done = shell("run", "--queue-config", str(site / "bad.json"), "--job-params", params(site), "--dry-run")
    assert done.returncode == 2 and "concurency" in done.stderr and "Traceback" not in done.stderr


def test_a_fifo_given_as_queue_config_is_refused_in_one_line_at_once(tmp_path):
    fifo = tmp_path / "queue.json"
    os.mkfifo(fifo)  # nothing ever writes to it: reading it would wait forever
    argv = ["run", "--dry-run", "--queue-config", str(fifo), "--job-params", "dir-in=/tmp files-in=a"]
    done = subprocess.run([sys.executable, "-m", "pilot_movers", *argv], capture_output=True, text=True, timeout=10)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        f"pilot-movers: BADQUEUECONFIGURATION (1341): cannot read queue config {fifo}: "
        "it is a FIFO (named pipe), not a regular file"
    ]


def test_json_summary_progress_and_log_file(site):
    log_file = site / "job.log"
    done = run(site, "--json", "--summary", "always", "--progress", "always", "--job-id", "j-7")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)  # stdout holds the report, nothing else
    stage_in = report["phases"]["stage-in"]
    assert stage_in["bytes"] == SIZE + 1000 and stage_in["attempts"] == 2 and stage_in["throughput_mb_per_s"] > 0
    assert report["job_id"] == "j-7"
    assert "stage-in     2/2" in done.stderr and "attempts" in done.stderr  # the summary table
    assert "2/2 files" in done.stderr and "stage-out" in done.stderr  # the live line
    (site / "out" / "c.dat").unlink()
    logged = shell(
        "--log-file",
        str(log_file),
        "run",
        "--queue-config",
        str(site / "queue.json"),
        "--job-params",
        params(site),
        "--workdir",
        str(site / "work2"),
        "--",
        "sh",
        "-c",
        "cp a.dat c.dat",
    )
    assert logged.returncode == 0, logged.stderr
    text = log_file.read_text()
    assert "stage-in a.dat: done" in text and "job" in text
    # progress lines of a file whose size is known: percent and total
    assert "% (" in text and f"of {SIZE} bytes)" in text, text


def test_a_failure_is_said_once_at_error(site):
    done = run(site, files_in="a.dat,missing.dat")
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and "missing.dat" in errors[0], done.stderr
    assert done.stderr.count("pilot-movers: job failed in stage-in") == 1


def test_no_summary_off_a_terminal_by_default(site):
    done = run(site)
    assert done.returncode == 0, done.stderr
    assert "attempts" not in done.stdout and "files]" not in done.stderr


def test_a_signal_after_the_job_ended_does_not_change_the_exit_status(tmp_path):
    """Issue 18: a SIGTERM landing after the job had restored its signal handlers killed the
    command by the default action (exit -15), the report saying the job succeeded. The job's
    --json report (300 files, more than a pipe holds) is left unread so the command waits in its
    last write, after the job ended; SIGTERM then; the exit status is the report's."""
    import signal
    import threading
    import time

    source = tmp_path / "in"
    source.mkdir()
    names = [f"file-with-a-long-name-to-fill-the-report-{i:04d}.dat" for i in range(300)]
    for name in names:
        (source / name).write_bytes(b"x")
    (tmp_path / "queue.json").write_text(json.dumps({"copytool": "local"}))
    report = tmp_path / "report.json"
    process = subprocess.Popen(
        [
            command(),
            "run",
            "--json",
            "--queue-config",
            str(tmp_path / "queue.json"),
            "--job-params",
            f"in-mode=local dir-in={source} files-in={','.join(names)}",
            "--workdir",
            str(tmp_path / "work"),
            "--report",
            str(report),
            "--",
            "true",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    errors: list[str] = []
    reader = threading.Thread(target=lambda: errors.extend(process.stderr.readlines()), daemon=True)
    reader.start()
    deadline = time.monotonic() + 60
    while not report.exists():
        assert process.poll() is None and time.monotonic() < deadline, "".join(errors)
        time.sleep(0.02)
    time.sleep(0.5)  # the report is written: the command is in its last write, to a full pipe
    assert process.poll() is None, "the command did not wait on its output: the test proves nothing"
    process.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    out = process.stdout.read()
    status = process.wait(30)
    reader.join(5)
    assert status == 0, "".join(errors)
    assert json.loads(out)["status"] == "succeeded"
    assert any("SIGTERM received after the job ended" in line for line in errors), errors


def test_a_near_miss_of_a_key_is_refused_naming_the_key_it_resembles_and_payload_arguments_pass(site: Path):
    """Issue 24: ``file-in=a.dat`` was kept for the payload; the dry run showed 0 inputs and run
    started the payload without its input and exited 0."""
    typo = f"in-mode=local dir-in={site}/in file-in=a.dat"
    for args in (["--dry-run"], ["--workdir", str(site / "w"), "--", "true"]):
        done = shell("run", "--queue-config", str(site / "queue.json"), "--job-params", typo, *args)
        assert done.returncode == 2, done.stderr
        assert "bad job parameter 'file-in=a.dat': unknown key 'file-in': did you mean files-in?" in done.stderr
    assert not (site / "w").exists()
    sendjob = f"{params(site)} --maxEvents=10 --outputHITSFile=HITS.pool.root.1 -j 4"
    assert (
        shell("run", "--dry-run", "--queue-config", str(site / "queue.json"), "--job-params", sendjob).returncode == 0
    )
    nothing = shell("run", "--dry-run", "--queue-config", str(site / "queue.json"), "--job-params=--maxEvents=10")
    assert nothing.returncode == 0 and "this job moves no file: no job parameter names an input" in nothing.stdout


def test_logging_options_work_after_the_subcommand_and_a_usage_error_has_one_prefix(site: Path):
    """Issue 24: ``run -q`` printed ``pilot-movers: pilot-movers run: ...``; -v/-q are accepted
    after the subcommand too, and a job without an id is logged as such."""
    bad = shell("run", "-q", "--job-params")
    assert bad.returncode == 2 and bad.stderr.startswith("pilot-movers: run: argument --job-params: expected one")
    payload = ("--", "sh", "-c", "echo c > c.dat")
    quiet = shell("run", "-q", "--queue-config", str(site / "queue.json"), "--job-params", params(site), *payload)
    assert quiet.returncode == 0, quiet.stderr
    assert " INFO " not in quiet.stderr, "quiet after the subcommand"
    (site / "out" / "c.dat").unlink()
    loud = shell("run", "-v", "--queue-config", str(site / "queue.json"), "--job-params", params(site), *payload)
    assert loud.returncode == 0 and "job (no id) succeeded" in loud.stderr


def test_every_command_answers_version():
    """Issue 24: datahost and datahost-server did not answer --version."""
    from pilot_movers.version import __version__

    for name in ("pilot-movers", "datahost", "datahost-server"):
        program = shutil.which(name, path=os.path.dirname(sys.executable))
        assert program, f"{name} is installed beside this Python"
        done = subprocess.run([program, "--version"], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and __version__ in done.stdout, (name, done.stdout, done.stderr)


def test_without_the_https_extra_datahost_is_unusable_in_one_sentence_not_a_traceback(tmp_path: Path):
    """Issue 24: with a base install (no extras) ``movers`` listed datahost as usable, doctor said
    ok, then run died with a ModuleNotFoundError traceback. Here requests cannot be imported (as
    in a base install: a sitecustomize on the path blocks it) and the real command runs."""
    blocker = tmp_path / "site"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        "import sys\n"
        "class _NoRequests:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'requests' or name.startswith('requests.'):\n"
        "            raise ModuleNotFoundError(\"No module named 'requests'\", name='requests')\n"
        "        return None\n"
        "sys.meta_path.insert(0, _NoRequests())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(blocker)}
    movers = subprocess.run([command(), "movers", "--json"], capture_output=True, text=True, timeout=60, env=env)
    assert movers.returncode == 0, movers.stderr
    by_name = {m["name"]: m for m in json.loads(movers.stdout)}
    assert not by_name["datahost"]["usable"] and not by_name["https"]["usable"]
    assert "pip install 'pilot-movers[https]'" in by_name["datahost"]["problem"], by_name["datahost"]
    queue = tmp_path / "q.json"
    queue.write_text(json.dumps({"copytool": "datahost"}))
    done = subprocess.run(
        [
            command(),
            "run",
            "--dry-run",
            "--queue-config",
            str(queue),
            "--job-params",
            "files-in=a dir-in=datahost://h/x",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "the 'datahost' mover needs the Python module 'requests'" in done.stderr
    datahost = shutil.which("datahost", path=os.path.dirname(sys.executable))
    assert datahost
    client = subprocess.run(
        [datahost, "--address", "localhost:1", "--cert", str(queue), "ssl-get", "x"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert client.returncode == 2 and "Traceback" not in client.stderr, client.stderr
    assert "it needs the Python module 'requests', which is not installed: pip install 'pilot-movers[https]'" in (
        client.stderr
    )
