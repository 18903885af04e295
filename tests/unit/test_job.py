"""The pilot flow with the local mover: end to end, failures, signals, the report and the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

import job_params
from pilot_movers import Job, QueueConfig
from pilot_movers.checksums import file_checksum
from pilot_movers.errors import PayloadFailed, PayloadTimeout, PhaseFailed
from tests.helpers import debris, write_file

QUEUE = {"copytool": "local", "transfer": {"backoff_initial": 0.01, "backoff_jitter": 0.01}}


@pytest.fixture
def site(tmp_path):
    (tmp_path / "shared" / "in").mkdir(parents=True)
    (tmp_path / "shared" / "out").mkdir(parents=True)
    write_file(tmp_path / "shared" / "in" / "a.dat", 100_000, seed=1)
    write_file(tmp_path / "shared" / "in" / "b.dat", 0)
    return tmp_path


def params_for(site: Path, files_in: str = "a.dat,b.dat", files_out: str = "result.txt") -> job_params.JobParams:
    return job_params.parse(
        f"in-mode=local dir-in={site}/shared/in files-in={files_in} "
        f"out-mode=local dir-out={site}/shared/out files-out={files_out}"
    )


def test_a_job_runs_end_to_end_and_reports_every_file(site):
    queue = QueueConfig.from_dict(QUEUE)
    payload = [sys.executable, "-c", "import os; open('result.txt','w').write(str(os.path.getsize('a.dat')))"]
    with Job(params_for(site), queue, site / "work", job_id="42") as job:
        job.stage_in()
        job.run_payload(payload)
        job.stage_out()
    assert (site / "shared" / "out" / "result.txt").read_text() == "100000"
    report = json.loads((site / "work" / "pilot_movers_report.json").read_text())
    assert report["status"] == "succeeded"
    assert report["job_id"] == "42"
    assert report["failed_phase"] is None
    files = {f["name"]: f for phase in report["phases"].values() for f in phase["files"]}
    assert set(files) == {"a.dat", "b.dat", "result.txt"}
    for entry in files.values():
        assert entry["status"] == "done"
        assert entry["checksum"].startswith("adler32:")
        assert entry["attempts"] and entry["error_code"] is None
        assert entry["seconds"] >= 0
    assert files["a.dat"]["bytes"] == 100_000
    assert files["b.dat"]["bytes"] == 0
    assert report["payload"]["exit_code"] == 0
    assert debris(site) == []


def test_the_report_of_a_failed_job_names_file_code_phase_and_attempts(site):
    queue = QueueConfig.from_dict(QUEUE)
    with pytest.raises(PhaseFailed) as caught, Job(params_for(site, "a.dat,missing.dat"), queue, site / "w") as job:
        job.stage_in()
        job.run_payload(["true"])
    assert (caught.value.code, caught.value.name) == (1103, "NOSUCHFILE")
    report = job.report.to_dict()
    assert report["status"] == "failed"
    assert report["failed_phase"] == "stage-in"
    assert report["error"]["code"] == 1103
    assert report["error"]["file"] == "missing.dat"
    stage_in = report["phases"]["stage-in"]
    missing = next(f for f in stage_in["files"] if f["name"] == "missing.dat")
    assert (missing["status"], missing["error_code"]) == ("failed", 1103)
    assert missing["error"]["name"] == "NOSUCHFILE"
    assert missing["error"]["phase"] == "stage-in"
    assert len(missing["attempts"]) == 1
    assert missing["attempts"][0]["error"]["code"] == 1103
    assert report["payload"] is None, "the payload does not run after a failed stage-in"


def test_a_failed_payload_skips_stage_out_and_still_cleans_up(site):
    queue = QueueConfig.from_dict(QUEUE)
    with pytest.raises(PayloadFailed) as caught, Job(params_for(site), queue, site / "w") as job:
        job.stage_in()
        job.run_payload(["sh", "-c", "exit 7"])
        job.stage_out()
    assert (caught.value.code, caught.value.exit_code) == (1305, 7)
    report = job.report.to_dict()
    assert report["failed_phase"] == "payload"
    assert report["payload"]["exit_code"] == 7
    assert "stage-out" not in report["phases"]
    assert job._movers.opened["local"].is_open is False, "movers are closed at cleanup"


def test_a_payload_that_runs_too_long_is_killed(site):
    queue = QueueConfig.from_dict(QUEUE)
    with pytest.raises(PayloadTimeout) as caught, Job(params_for(site), queue, site / "w") as job:
        job.run_payload(["sleep", "30"], timeout=0.5, kill_grace=1)
    assert caught.value.name == "COMMANDTIMEDOUT"
    assert job.report.to_dict()["payload"]["timed_out"] is True


def test_a_missing_output_fails_stage_out_with_missingoutputfile(site):
    queue = QueueConfig.from_dict(QUEUE)
    with pytest.raises(PhaseFailed) as caught, Job(params_for(site), queue, site / "w") as job:
        job.stage_in()
        job.run_payload(["true"])
        job.stage_out()
    assert (caught.value.code, caught.value.name) == (1165, "MISSINGOUTPUTFILE")
    assert job.report.failed_phase == "stage-out"


def test_a_queue_that_names_a_mover_unfit_for_the_url_is_refused(site):
    queue = QueueConfig.from_dict({"copytool": "local"})
    params = job_params.parse("dir-in=gsiftp://se:2811/data files-in=a")
    with pytest.raises(Exception) as caught, Job(params, queue, site / "w") as job:
        job.stage_in()
    assert caught.value.name == "BADQUEUECONFIGURATION"
    assert "gsiftp://se:2811/data/a" in caught.value.message


def _cli(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pilot_movers", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def test_the_cli_runs_a_job_and_exits_zero(site):
    (site / "q.json").write_text(json.dumps(QUEUE))
    params = job_params.format(params_for(site))
    process = _cli(
        "run",
        "--job-params",
        params,
        "--queue-config",
        str(site / "q.json"),
        "--report",
        str(site / "r.json"),
        "--",
        "sh",
        "-c",
        "cat a.dat b.dat > result.txt",
    )
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "job succeeded: 2 file(s) in, 1 out" in out
    assert json.loads((site / "r.json").read_text())["status"] == "succeeded"
    assert (site / "shared" / "out" / "result.txt").stat().st_size == 100_000


def test_the_cli_prints_code_and_name_and_exits_non_zero(site):
    (site / "q.ini").write_text("[queue]\ncopytool = local\n")
    (site / "params.txt").write_text(job_params.format(params_for(site, "nothere.dat")))
    process = _cli(
        "run",
        "--job-params-file",
        str(site / "params.txt"),
        "--queue-config",
        str(site / "q.ini"),
        "--report",
        str(site / "r.json"),
        "--",
        "true",
    )
    _, err = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "job failed in stage-in: NOSUCHFILE (1103)" in err
    assert "nothere.dat" in err


def test_the_cli_rejects_bad_job_parameters_before_anything_runs(site):
    (site / "q.json").write_text(json.dumps(QUEUE))
    process = _cli("run", "--job-params", "in-mode=tape", "--queue-config", str(site / "q.json"), "--", "true")
    _, err = process.communicate(timeout=60)
    assert process.returncode == 2
    assert "BADJOBPARAMETERS (9001)" in err
    assert "in-mode=tape" in err


def test_sigterm_stops_the_payload_cleans_up_and_reports(site):
    (site / "q.json").write_text(json.dumps(QUEUE))
    pidfile = site / "payload.pid"
    process = _cli(
        "run",
        "--job-params",
        job_params.format(params_for(site)),
        "--queue-config",
        str(site / "q.json"),
        "--workdir",
        str(site / "w"),
        "--report",
        str(site / "r.json"),
        "--",
        "sh",
        "-c",
        f"echo $$ > {pidfile}; sleep 60",
    )
    deadline = time.time() + 30
    while not (pidfile.exists() and pidfile.read_text().strip()):
        assert time.time() < deadline, "the payload never started"
        time.sleep(0.05)
    payload_pid = int(pidfile.read_text())
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, err
    assert "SIGTERM (1201)" in err
    report = json.loads((site / "r.json").read_text())
    assert (report["error"]["code"], report["error"]["name"], report["failed_phase"]) == (1201, "SIGTERM", "payload")
    assert report["payload"]["signal"] == "SIGTERM"
    with pytest.raises(ProcessLookupError):
        os.kill(payload_pid, 0)


def test_the_example_pilot_wrapper_runs_a_job(site, tmp_path):
    example = Path(__file__).resolve().parents[2] / "examples" / "pilot_wrapper.py"
    env = {
        **os.environ,
        "JOB_PARAMS": job_params.format(params_for(site)),
        "QUEUE_CONFIG": str(Path(__file__).resolve().parents[2] / "examples" / "queues" / "local.json"),
    }
    done = subprocess.run(
        [sys.executable, str(example), "--workdir", str(tmp_path / "job"), "--", "sh", "-c", "cat a.dat > result.txt"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert (site / "shared" / "out" / "result.txt").stat().st_size == 100_000


def test_the_example_submission_builds_parameters_the_pilot_accepts():
    example = Path(__file__).resolve().parents[2] / "examples" / "send_job.py"
    args = [
        "--user",
        "mxp",
        "--endpoint-in",
        "mxp#MXP_BNL_TEST",
        "--dir-in",
        "/direct/usatlas+u/mxp/",
        "--in",
        "xs.sh",
        "--endpoint-out",
        "mxp#MXP_OU_TEST",
        "--dir-out",
        "/home/usatlas1",
        "--out",
        "xs.sh",
    ]
    done = subprocess.run([sys.executable, str(example), *args], capture_output=True, text=True, check=True)
    params = job_params.parse(done.stdout)
    assert (params.globus_user, params.files_in, params.files_out) == ("mxp", ("xs.sh",), ("xs.sh",))
    refused = subprocess.run(
        [sys.executable, str(example), "--dir-in", "/x", "--in", "../etc"], capture_output=True, text=True
    )
    assert refused.returncode == 2
    assert "files-in=../etc" in refused.stderr


@pytest.mark.parametrize("name", ["local.json", "grid.ini", "globus.ini"])
def test_the_example_queue_configs_load(name):
    queue = QueueConfig.load(Path(__file__).resolve().parents[2] / "examples" / "queues" / name)
    assert queue.copytool


def test_an_input_that_is_not_what_the_job_expects_fails_the_cli_naming_both_values(site):
    (site / "q.json").write_text(json.dumps(QUEUE))
    real = file_checksum(site / "shared" / "in" / "a.dat")
    text = f"in-mode=local dir-in={site}/shared/in files-in=a.dat checksums-in=ad:0badc0de sizes-in=100000"
    process = _cli(
        "run", "--job-params", text, "--queue-config", str(site / "q.json"), "--workdir", str(site / "w"), "--", "true"
    )
    _, err = process.communicate(timeout=60)
    assert process.returncode == 1, err
    assert "GETADMISMATCH (1171)" in err and "a.dat" in err
    assert "0badc0de" in err and real.value in err and f"{site}/shared/in/a.dat" in err
    assert not (site / "w" / "a.dat").exists()
    wrong_size = text.replace("checksums-in=ad:0badc0de ", "").replace("100000", "99999")
    process = _cli("run", "--job-params", wrong_size, "--queue-config", str(site / "q.json"), "--", "true")
    _, err = process.communicate(timeout=60)
    assert process.returncode == 1 and "SIZEMISMATCH" in err and "the job expects 99999" in err, err


def test_one_job_plans_each_phase_once_through_the_command(tmp_path, mocker):
    """Issue 20: one job planned its files 6 times through ``pilot-movers run`` (the command's
    check, the job's check, each phase again). The command's check is the plan the job runs."""
    import json

    import pilot_movers.job
    from pilot_movers.cli import main

    source = tmp_path / "in"
    source.mkdir()
    (source / "a.dat").write_bytes(b"a")
    queue = tmp_path / "q.json"
    queue.write_text(json.dumps({"copytool": "local"}))
    planned = mocker.spy(pilot_movers.job, "plan")
    status = main(
        [
            "run",
            "--job-params",
            f"in-mode=local dir-in={source} files-in=a.dat out-mode=local dir-out={source} files-out=b.dat",
            "--queue-config",
            str(queue),
            "--workdir",
            str(tmp_path / "w"),
            "--",
            "cp",
            "a.dat",
            "b.dat",
        ]
    )
    assert status == 0
    assert [call.args[3].value for call in planned.call_args_list] == ["stage-in", "stage-out"]
    assert (source / "b.dat").read_bytes() == b"a"


def test_files_log_goes_out_after_a_failed_payload_and_a_missing_tarball_log_is_made(site):
    """``files-log=``: the job's logs, staged out in every outcome where that is possible."""
    queue = QueueConfig.from_dict(QUEUE)
    params = job_params.parse(
        f"in-mode=local dir-in={site}/shared/in files-in=a.dat out-mode=local dir-out={site}/shared/out "
        "files-out=result.txt files-log=job.log,job.log.tgz"
    )
    assert params.files_log == ("job.log", "job.log.tgz")
    assert "files-log=job.log,job.log.tgz" in job_params.format(params)
    with pytest.raises(PayloadFailed), Job(params, queue, site / "work") as job:
        job.stage_in()
        job.run_payload(["sh", "-c", "echo 'died in event 7' > job.log; exit 4"])
    report = json.loads((site / "work" / "pilot_movers_report.json").read_text())
    assert report["logs"] == {
        "job.log": "staged out after the job failed in payload",
        "job.log.tgz": (
            "staged out after the job failed in payload; made by the library (the payload had not written it)"
        ),
    }
    assert (site / "shared" / "out" / "job.log").read_text() == "died in event 7\n"
    assert not (site / "shared" / "out" / "result.txt").exists(), "the outputs of a failed job stay"
    with tarfile.open(site / "shared" / "out" / "job.log.tgz") as tar:
        assert sorted(tar.getnames()) == ["pilot_movers_report.json"], (
            "not the input a.dat nor job.log, which goes out itself"
        )


def test_a_log_named_twice_or_without_a_directory_is_refused_naming_the_token():
    with pytest.raises(job_params.JobParamsError, match="files-log is given but dir-out is not"):
        job_params.parse("files-log=job.log")
    with pytest.raises(job_params.JobParamsError, match="'x' is listed twice"):
        job_params.parse("dir-out=/o files-out=x files-log=x")


def test_whatever_breaks_while_the_logs_go_out_the_cleanup_runs_and_the_report_is_written(site):
    """A failure inside the log stage-out after a failed payload (here the progress display
    breaks) neither escapes the cleanup nor replaces the job's own error."""
    from pilot_movers.engine.progress import ProgressObserver
    from pilot_movers.errors import Phase

    class Breaks(ProgressObserver):
        def phase_started(self, phase, specs):
            if phase is Phase.STAGE_OUT:
                raise RuntimeError("the terminal went away")

    params = job_params.parse(
        f"in-mode=local dir-in={site}/shared/in files-in=a.dat out-mode=local dir-out={site}/shared/out "
        "files-log=job.log"
    )
    with (
        pytest.raises(PayloadFailed),
        Job(params, QueueConfig.from_dict(QUEUE), site / "work", progress=Breaks()) as job,
    ):
        job.stage_in()
        job.run_payload(["sh", "-c", "echo x > job.log; exit 2"])
    report = json.loads((site / "work" / "pilot_movers_report.json").read_text())
    assert report["error"]["name"] == "PAYLOADEXECUTIONFAILURE"
    assert report["logs"] == {"job.log": "not staged out after the job failed in payload"}
    assert not (site / "shared" / "out" / "job.log").exists()
