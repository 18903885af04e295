"""The seed's two Globus jobs, as written in 2012, through ``pilot-movers run`` (a subprocess, as a
shell wrapper runs it) and through ``Job`` (as a Python pilot does), with the real globus-sdk
against the emulator and the stand-in GCP: the inputs arrive through the worker's personal
endpoint, the outputs reach their endpoints, the endpoint is made and removed, GCP is stopped,
and no secret is in any log line or report."""

from __future__ import annotations

import json
import os
from pathlib import Path

import job_params
from pilot_movers import Job, QueueConfig
from tests.globus.pilots import KEY_VALUE, SENDJOB, WRITE_10MB, Site, given_name
from tests.helpers import debris

XS_SH = b"echo hello from xs.sh\n"
#: Runs the input, then changes it: the output xs.sh is the input plus a line.
RUN_XS = ["sh", "-c", "sh xs.sh && echo 'payload ran' >> xs.sh"]


def _seed_sendjob_input(site: Site) -> bytes:
    data = os.urandom(3_000_000)
    site.put("SITE1", "/home/osg_data/panda/0064.file", data)
    return data


def _check_sendjob(site: Site, workdir: Path, data: bytes, report: dict) -> None:
    assert report["error"] is None, report["error"]
    assert (workdir / "0064.file").read_bytes() == data
    landed = site.directory("SITE1") / "home/osg_data/panda/10mb-file.bin"
    assert landed.read_bytes() == (workdir / "10mb-file.bin").read_bytes()
    assert landed.stat().st_size == 10_000_000
    # OSGDEV was the worker's endpoint for both phases, and is gone
    assert {given_name(t.destination.display_name) for t in site.tasks()} == {"OSGDEV", "SITE1"}
    assert {given_name(t.source.display_name) for t in site.tasks()} == {"SITE1", "OSGDEV"}
    assert all(t.verify_checksum for t in site.tasks())
    site.assert_nothing_left()
    assert report["left_behind"] == []
    files = [f for phase in report["phases"].values() for f in phase["files"]]
    assert [(f["name"], f["status"], f["mover"], f["verified"]) for f in files] == [
        ("0064.file", "done", "globus", True),
        ("10mb-file.bin", "done", "globus", True),
    ]
    assert debris(workdir) == []
    assert debris(site.directory("SITE1")) == []


def test_the_sendjob_seed_job_runs_through_the_command_line(site: Site) -> None:
    data = _seed_sendjob_input(site)
    workdir = site.base / "job-sendjob"
    done, report = site.run(SENDJOB, WRITE_10MB, workdir)
    assert done.returncode == 0, done.stderr
    assert "job succeeded: 1 file(s) in, 1 out" in done.stdout
    _check_sendjob(site, workdir, data, report)
    assert "worker endpoint OSGDEV" in done.stderr and "deleted" in done.stderr
    site.assert_no_secret_in(done.stdout, done.stderr, json.dumps(report))


def test_the_sendjob_seed_job_runs_through_job(site: Site, pilot_env: dict[str, str]) -> None:
    data = _seed_sendjob_input(site)
    workdir = site.base / "job-sendjob"
    queue = QueueConfig.from_dict(site.queue())
    with Job(job_params.parse(SENDJOB), queue, workdir, job_id="sendjob") as job:
        job.stage_in()
        assert site.personal_endpoints() == ["OSGDEV"]
        job.run_payload(WRITE_10MB)
        job.stage_out()
    assert job.report is not None
    _check_sendjob(site, workdir, data, job.report.to_dict())


def _check_key_value(site: Site, workdir: Path, report: dict) -> None:
    assert report["error"] is None, report["error"]
    assert (workdir / "xs.sh").read_bytes() == XS_SH + b"payload ran\n"
    assert (site.directory("mxp#MXP_OU_TEST") / "home/usatlas1/xs.sh").read_bytes() == XS_SH + b"payload ran\n"
    # the worker endpoint took the display name MXP_BNL_TEST, yet the input came from the
    # site's mxp#MXP_BNL_TEST: the job's own endpoint is never the answer to a name
    (stage_in, stage_out) = sorted(site.tasks(), key=lambda t: t.request_time)
    assert (stage_in.source.canonical_name, stage_in.destination.is_globus_connect) == ("mxp#MXP_BNL_TEST", True)
    # named so that it never makes the user's own MXP_BNL_TEST ambiguous to another job
    assert stage_in.destination.display_name.startswith("MXP_BNL_TEST pilot-movers-job-")
    assert (stage_out.source.is_globus_connect, stage_out.destination.canonical_name) == (True, "mxp#MXP_OU_TEST")
    site.assert_nothing_left()
    assert debris(workdir) == []


def test_the_key_value_seed_job_with_three_endpoints_runs_through_the_command_line(site: Site) -> None:
    site.put("mxp#MXP_BNL_TEST", "/direct/usatlas+u/mxp/xs.sh", XS_SH)
    workdir = site.base / "job-kv"
    done, report = site.run(KEY_VALUE, RUN_XS, workdir)
    assert done.returncode == 0, done.stderr
    _check_key_value(site, workdir, report)
    site.assert_no_secret_in(done.stdout, done.stderr, json.dumps(report))


def test_the_key_value_seed_job_runs_through_job(site: Site, pilot_env: dict[str, str]) -> None:
    site.put("mxp#MXP_BNL_TEST", "/direct/usatlas+u/mxp/xs.sh", XS_SH)
    workdir = site.base / "job-kv"
    with Job(job_params.parse(KEY_VALUE), QueueConfig.from_dict(site.queue()), workdir, job_id="kv") as job:
        job.stage_in()
        job.run_payload(RUN_XS)
        env = job.payload_environment()
        job.stage_out()
    assert job.report is not None
    _check_key_value(site, workdir, job.report.to_dict())
    assert not {"GLOBUS_CLIENT_ID", "GLOBUS_CLIENT_SECRET", "GLOBUS_REFRESH_TOKEN"} & set(env)
    site.assert_no_secret_in(json.dumps(env))


def test_globus_connect_personal_runs_without_the_pilots_secrets(site: Site) -> None:
    """Issue 19: GCP's environment held the pilot's OAuth2 client secret (and refresh token, when
    the pilot has one). GCP's environment is read as it runs (as root, /proc/PID/environ of any
    process), by a process of its own: the emulator serves from this one."""
    import shlex
    import subprocess

    _seed_sendjob_input(site)
    workdir = site.base / "job-gcp-environment"
    report = workdir.parent / "gcp-environment-report.json"
    seen = site.base / "gcp-environments"
    seen.mkdir()
    env = site.env()
    watcher = subprocess.Popen(
        [
            "sh",
            "-c",
            "while :; do for p in $(pgrep -f globusconnectpersonal); do "
            f"cat /proc/$p/environ > {seen}/$p.environ 2>/dev/null; done; sleep 0.05; done",
        ]
    )
    try:
        done = subprocess.run(
            site.command(
                SENDJOB, ["sh", "-c", "sleep 3; " + shlex.join(WRITE_10MB)], workdir, site.write_queue(), report
            ),
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
    finally:
        watcher.kill()
        watcher.wait()
    assert done.returncode == 0, done.stderr
    environments = [path.read_bytes() for path in seen.glob("*.environ") if path.stat().st_size]
    assert environments, "GCP was never seen running"
    assert all(env["GLOBUS_CLIENT_SECRET"].encode() not in environ for environ in environments), (
        "the pilot's client secret reached GCP"
    )
