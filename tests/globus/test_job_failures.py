"""Globus jobs that go wrong, through ``pilot-movers run`` (a subprocess, logging at DEBUG): each
ends with a clear error code and exit status, the worker endpoint deleted, GCP stopped, its
private dirs removed, no temporary file left, and no secret in any log line or the report."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import globus_sdk
import pytest
from pilot_movers_testkit.globus import wait_until

from tests.globus.pilots import SENDJOB, WRITE_10MB, Site, error_of, file_errors
from tests.helpers import debris

EXIT_FAILED, EXIT_RETRYABLE = 1, 3


def _seed(site: Site, size: int = 3_000_000) -> bytes:
    data = os.urandom(size)
    site.put("SITE1", "/home/osg_data/panda/0064.file", data)
    return data


def _ended_cleanly(site: Site, done: subprocess.CompletedProcess[str], report: dict) -> None:
    site.assert_nothing_left()
    assert report["left_behind"] == []
    assert debris(site.base) == []
    site.assert_no_secret_in(done.stdout, done.stderr, json.dumps(report))


def test_a_failed_task_is_a_globus_system_error_that_a_retry_may_fix(site: Site) -> None:
    _seed(site)
    site.emulator.fail_task("ENDPOINT_ERROR")
    done, report = site.run(
        SENDJOB, WRITE_10MB, site.base / "job", queue=site.write_queue(transfer={"max_attempts": 2})
    )
    assert done.returncode == EXIT_RETRYABLE, done.stderr
    error = error_of(report)
    assert (error["code"], error["name"], error["transient"], error["phase"]) == (
        1180,
        "GETGLOBUSSYSERR",
        True,
        "stage-in",
    )
    assert "ENDPOINT_ERROR" in error["message"]
    (failure,) = file_errors(report, "stage-in")
    assert failure["type"] == "GlobusSystemError"
    assert len(report["phases"]["stage-in"]["files"][0]["attempts"]) == 2  # the engine retried, once
    assert [t.fatal_error["code"] for t in site.tasks()] == ["ENDPOINT_ERROR", "ENDPOINT_ERROR"]
    assert "GETGLOBUSSYSERR (1180)" in done.stderr
    _ended_cleanly(site, done, report)


def test_a_missing_input_is_nosuchfile_and_is_not_retried(site: Site) -> None:
    done, report = site.run(
        SENDJOB, WRITE_10MB, site.base / "job", queue=site.write_queue(transfer={"max_attempts": 3})
    )
    assert done.returncode == EXIT_FAILED, done.stderr
    error = error_of(report)
    assert (error["code"], error["name"], error["transient"], error["file"]) == (1103, "NOSUCHFILE", False, "0064.file")
    assert "/home/osg_data/panda/0064.file" in error["message"]
    assert len(site.tasks()) == 1
    _ended_cleanly(site, done, report)


def test_a_transfer_past_its_deadline_is_cancelled(site: Site) -> None:
    _seed(site)
    site.emulator.limit_throughput(300_000)
    queue = site.write_queue(transfer={"timeout_base": 1.5, "timeout_per_mb": 0})
    done, report = site.run(SENDJOB, WRITE_10MB, site.base / "job", queue=queue)
    assert done.returncode == EXIT_RETRYABLE, done.stderr
    (error,) = file_errors(report, "stage-in")
    assert (error["code"], error["name"], error["type"]) == (1151, "STAGEINTIMEOUT", "TransferTimeout")
    assert "did not finish within" in error["message"]
    (task,) = site.tasks()
    assert (task.status, task.fatal_error["code"]) == ("FAILED", "CANCELED")
    assert 0 < task.bytes_transferred < 3_000_000 or task.files_transferred == 0
    _ended_cleanly(site, done, report)


def test_a_stalled_transfer_is_cancelled(site: Site) -> None:
    _seed(site)
    site.emulator.stall(after_bytes=1_000_000)
    done, report = site.run(
        SENDJOB, WRITE_10MB, site.base / "job", queue=site.write_queue(transfer={"stall_timeout": 1.5})
    )
    assert done.returncode == EXIT_RETRYABLE, done.stderr
    (error,) = file_errors(report, "stage-in")
    assert (error["code"], error["type"]) == (1151, "TransferStalled")
    assert "no progress for" in error["message"]
    (task,) = site.tasks()
    assert task.fatal_error["code"] == "CANCELED"
    assert "Globus task" in done.stderr and "cancelling" in done.stderr
    _ended_cleanly(site, done, report)


def test_a_bad_client_secret_is_a_permanent_credential_error_and_nothing_is_made(site: Site) -> None:
    _seed(site)
    env = site.env(GLOBUS_CLIENT_SECRET="not-the-secret")
    done, report = site.run(SENDJOB, WRITE_10MB, site.base / "job", env=env)
    assert done.returncode == EXIT_FAILED, done.stderr
    error = error_of(report)
    assert (error["code"], error["name"], error["transient"], error["scope"]) == (
        1338,
        "STAGEINAUTHENTICATIONFAILURE",
        False,
        "credential",
    )
    assert site.globus.client_id in error["message"] and "check the client id and secret" in error["message"]
    assert site.emulator.endpoints.issued_setup_keys() == []  # no endpoint was made
    _ended_cleanly(site, done, report)
    assert "not-the-secret" not in done.stderr + json.dumps(report)


@pytest.mark.parametrize("how", ["expired", "revoked"])
def test_a_dead_refresh_token_says_re_authorise(site: Site, how: str) -> None:
    _seed(site)
    if how == "expired":
        token = site.emulator.register_refresh_token(site.globus.client_id, "mxp", lifetime=0.01)
        time.sleep(0.05)
    else:
        token = site.globus.refresh_token
        site.emulator.revoke_refresh_token(token)
    env = site.env(GLOBUS_REFRESH_TOKEN=token)
    done, report = site.run(SENDJOB, WRITE_10MB, site.base / "job", env=env)
    assert done.returncode == EXIT_FAILED, done.stderr
    error = error_of(report)
    assert (error["code"], error["type"], error["transient"]) == (1338, "CredentialRefused", False)
    assert "invalid_grant" in error["message"] and "re-authorise" in error["message"]
    _ended_cleanly(site, done, report)


def test_a_gcp_that_never_connects_fails_the_job_and_is_removed(site: Site) -> None:
    _seed(site)
    site.emulator.cut_relay()
    done, report = site.run(SENDJOB, WRITE_10MB, site.base / "job", queue=site.write_queue(gcp_connect_timeout=2))
    assert done.returncode == EXIT_RETRYABLE, done.stderr
    error = error_of(report)
    assert (error["code"], error["type"], error["phase"]) == (1180, "WorkerEndpointFailed", "stage-in")
    assert "did not connect within 2 s" in error["message"] and "Globus Online:   disconnected" in error["message"]
    assert len(site.emulator.endpoints.issued_setup_keys()) == 1  # it was made, then deleted
    assert site.tasks() == []
    _ended_cleanly(site, done, report)


def test_a_second_job_of_the_user_on_the_same_node_is_refused_and_leaves_the_first_alone(site: Site) -> None:
    data = _seed(site, 4_000_000)
    site.emulator.limit_throughput(2_000_000)
    first_dir, second_dir = site.base / "job1", site.base / "job2"
    first = subprocess.Popen(
        site.command(SENDJOB, WRITE_10MB, first_dir, site.write_queue("q1.json"), site.base / "r1.json"),
        env=site.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(site.tasks, timeout=60, what="the first job transferring")
        second, report = site.run(SENDJOB, WRITE_10MB, second_dir, queue=site.write_queue("q2.json"))
        assert first.poll() is None, "the first job must still be running"
    finally:
        out, err = first.communicate(timeout=120)
    assert second.returncode == EXIT_RETRYABLE, second.stderr
    error = error_of(report)
    assert (error["code"], error["type"]) == (1180, "WorkerEndpointFailed")
    assert "another Globus Connect Personal" in error["message"] and "another node" in error["message"]
    assert len(site.emulator.endpoints.issued_setup_keys()) == 1  # the second job made no endpoint
    assert first.returncode == 0, err
    assert (first_dir / "0064.file").read_bytes() == data
    first_report = json.loads((site.base / "r1.json").read_text())
    assert first_report["error"] is None
    _ended_cleanly(site, second, report)
    site.assert_no_secret_in(out, err, json.dumps(first_report))


def test_sigterm_during_stage_in_cancels_the_task_and_cleans_up(site: Site) -> None:
    _seed(site, 5_000_000)
    site.emulator.limit_throughput(500_000)
    workdir, report_path = site.base / "job", site.base / "report.json"
    pilot = subprocess.Popen(
        site.command(SENDJOB, WRITE_10MB, workdir, site.write_queue(), report_path),
        env=site.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: any(t.bytes_transferred > 500_000 for t in site.tasks()), timeout=60, what="bytes moving")
        pilot.send_signal(signal.SIGTERM)
        out, err = pilot.communicate(timeout=120)
    finally:
        if pilot.poll() is None:
            pilot.kill()
    assert pilot.returncode == 128 + signal.SIGTERM, err
    report = json.loads(report_path.read_text())
    error = error_of(report)
    assert (error["code"], error["name"], error["phase"]) == (1201, "SIGTERM", "stage-in")
    (task,) = site.tasks()
    assert (task.status, task.fatal_error["code"]) == ("FAILED", "CANCELED")
    assert task.bytes_transferred < 5_000_000
    assert not (workdir / "0064.file").exists()
    assert debris(workdir) == []
    site.assert_nothing_left()
    site.assert_no_secret_in(out, err, json.dumps(report))


def test_a_transfer_between_two_personal_endpoints_is_refused_before_submission(site: Site) -> None:
    tc = _client_of(site)
    laptop = tc.post(
        "/v0.10/endpoint", data={"DATA_TYPE": "endpoint", "display_name": "LAPTOP", "is_globus_connect": True}
    )
    params = "--StageinGOsrc=LAPTOP:/home/me/0064.file --WorkingendpointGO=OSGDEV"
    done, report = site.run(params, ["true"], site.base / "job")
    assert done.returncode == EXIT_FAILED, done.stderr
    (error,) = file_errors(report, "stage-in")
    assert (error["code"], error["name"], error["type"]) == (9006, "TRANSFERREFUSED", "TransferRefused")
    assert f"LAPTOP ({laptop['id']}) -> OSGDEV (" in error["message"]
    assert site.tasks() == []  # nothing was submitted
    tc.delete_endpoint(laptop["id"])
    _ended_cleanly(site, done, report)


def test_an_unknown_endpoint_name_is_a_job_parameter_error(site: Site) -> None:
    done, report = site.run("--StageinGOsrc=NOSUCH:/f.dat --WorkingendpointGO=OSGDEV", ["true"], site.base / "job")
    assert done.returncode == EXIT_FAILED, done.stderr
    (error,) = file_errors(report, "stage-in")
    assert (error["code"], error["type"]) == (9001, "UnknownEndpoint")
    assert "no Globus endpoint is called 'NOSUCH'" in error["message"]
    _ended_cleanly(site, done, report)


def _client_of(site: Site) -> globus_sdk.TransferClient:
    """A TransferClient of the pilot's OAuth2 client (what the mover authenticates as)."""
    env = site.env()
    auth = globus_sdk.ConfidentialAppAuthClient(
        env["GLOBUS_CLIENT_ID"], env["GLOBUS_CLIENT_SECRET"], base_url=site.globus.url
    )
    authorizer = globus_sdk.ClientCredentialsAuthorizer(auth, globus_sdk.TransferClient.scopes.all)
    return globus_sdk.TransferClient(authorizer=authorizer, base_url=site.globus.url)


def test_an_offline_endpoint_is_said_as_such_not_as_a_stall(site: Site) -> None:
    """Issue 22: a task waiting on an endpoint that does not answer (CONNECT_FAILED) was reported
    as a stall (1151), losing the detail; it is GETGLOBUSSYSERR (1180), naming the endpoint."""
    _seed(site)
    site.emulator.take_offline("SITE1")
    done, report = site.run(
        SENDJOB, WRITE_10MB, site.base / "job", queue=site.write_queue(transfer={"stall_timeout": 3})
    )
    assert done.returncode == EXIT_RETRYABLE, done.stderr
    (error,) = file_errors(report, "stage-in")
    assert (error["code"], error["name"], error["type"]) == (1180, "GETGLOBUSSYSERR", "EndpointNotAnswering")
    assert "CONNECT_FAILED" in error["message"] and "SITE1" in error["message"], error["message"]
    assert error_of(report)["code"] == 1180
    site.assert_nothing_left()


def test_a_payload_that_is_not_there_is_refused_before_anything_is_set_up(site: Site) -> None:
    """Issue 22: ``./run.sh`` was found missing only after GCP was set up and the inputs were
    staged in. A payload neither in the work dir nor staged in is refused first (exit 2)."""
    _seed(site)
    report = site.base / "r.json"
    done = subprocess.run(
        site.command(SENDJOB, ["./run.sh"], site.base / "job", site.write_queue(), report),
        env=site.env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "payload ./run.sh: not in the work dir, and the job stages in no file of that name" in done.stderr
    assert "(its inputs: 0064.file)" in done.stderr
    assert site.emulator.endpoints.issued_setup_keys() == [] and site.tasks() == []
    assert not (site.base / "job").exists() and not report.exists()
    staged = SENDJOB.replace("0064.file", "run.sh")  # a payload the job stages in is fine
    site.put("SITE1", "/home/osg_data/panda/run.sh", b"#!/bin/sh\necho hi > 10mb-file.bin\n")
    command = site.command(staged, ["./run.sh"], site.base / "job2", site.write_queue(), report)
    command.insert(command.index("run") + 1, "--dry-run")
    checked = subprocess.run(
        command,
        env=site.env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert checked.returncode == 0, checked.stderr
