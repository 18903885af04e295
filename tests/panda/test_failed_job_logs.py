"""A job's log goes out in every outcome (issue 21): Pilot 3 always stages the log out, because it
is what a shifter reads when a job failed. After a failed stage-in or payload the log files alone
are staged out; a tarball log the payload never wrote is made of the work dir, holding the job's
report and nothing secret. Driven through the real CLI against the local grid's servers."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

from pilot_movers.checksums import Checksum, file_checksum
from tests.panda.conftest import XROOTD_RSE, Site
from tests.panda.test_panda_job import PAYLOAD, run_panda_job
from tests.panda.test_replicas import job_files  # noqa: F401 (a fixture)

LOG = "log.4242._000001.job.log.tgz.1"


def run(job_files: dict[str, Any], tmp_path: Path, *payload: str):  # noqa: F811
    return run_panda_job(job_files["job"], job_files["queue"], tmp_path / "work", *payload)


def landed_log(site: Site) -> Path:
    return site.path_of(XROOTD_RSE, "mc23_13p6TeV", LOG)


def test_after_a_failed_stage_in_the_log_is_made_and_staged_out_alone(
    site: Site,
    job_files,  # noqa: F811
    tmp_path: Path,
):
    first = job_files["inputs"][0]
    site.path_of(first["rse"], first["scope"], first["lfn"]).unlink()  # the input is gone
    (tmp_path / "work").mkdir()
    work = tmp_path / "work"
    (work / "hardlinked.pem").hardlink_to(site.grid.user_proxy)  # no secret may leak into a log
    (work / "copied.proxy").write_bytes(site.grid.user_proxy.read_bytes())  # a plain copy holds the key
    (work / "setup.log").write_text("the wrapper's own log\n")
    done, report = run(job_files, tmp_path, "sh", "-c", PAYLOAD)
    assert done.returncode == 1 and "job failed in stage-in: NOSUCHFILE (1103)" in done.stderr
    assert report["failed_phase"] == "stage-in" and report["payload"] is None
    stage_out = report["phases"]["stage-out"]["files"]
    assert [(f["name"], f["status"]) for f in stage_out] == [(LOG, "done")], "the log alone, not HITS"
    assert report["logs"] == {
        LOG: "staged out after the job failed in stage-in; made by the library (the payload had not written it)"
    }
    landed = landed_log(site)
    assert file_checksum(landed) == Checksum.parse(stage_out[0]["checksum"])
    with tarfile.open(landed) as tar:
        names = tar.getnames()
        inside = json.loads(tar.extractfile("pilot_movers_report.json").read())  # type: ignore[union-attr]
    assert first["lfn"] not in names and "hardlinked.pem" not in names and "copied.proxy" not in names
    assert "setup.log" in names
    assert not any(".pilot-movers-" in name for name in names), "no proxy, no temporary copy"
    second = job_files["inputs"][1]["lfn"]
    assert second in names or second not in report["phases"]["stage-in"]["files"]
    assert inside["error"]["name"] == "NOSUCHFILE" and inside["failed_phase"] == "stage-in"


def test_after_a_failed_payload_the_log_it_wrote_is_staged_out(
    site: Site,
    job_files,  # noqa: F811
    tmp_path: Path,
):
    done, report = run(
        job_files, tmp_path, "sh", "-c", f"echo 'segfault in event 7' > x.txt; tar czf {LOG} x.txt; exit 3"
    )
    assert done.returncode == 1 and "job failed in payload" in done.stderr
    assert report["logs"] == {LOG: "staged out after the job failed in payload"}
    with tarfile.open(landed_log(site)) as tar:
        assert tar.getnames() == ["x.txt"], "the payload's own log, as it wrote it"


def test_a_log_that_cannot_be_staged_out_says_why_and_the_jobs_error_stays_the_first(
    site: Site,
    job_files,  # noqa: F811
    tmp_path: Path,
):
    site.grid.servers["xrootd"].stop()  # the log's storage is down as well
    try:
        done, report = run(job_files, tmp_path, "sh", "-c", "exit 5")
    finally:
        site.grid.servers["xrootd"].start()
    assert done.returncode == 3 and "job failed in stage-in" in done.stderr, "retryable: a server was down"
    assert report["failed_phase"] == "stage-in"
    assert report["logs"][LOG].startswith("not staged out after the job failed in stage-in; made by the library")
    assert "SERVICENOTAVAILABLE" in report["logs"][LOG]


def test_a_successful_job_whose_payload_wrote_no_log_gets_one(
    site: Site,
    job_files,  # noqa: F811
    tmp_path: Path,
):
    done, report = run(job_files, tmp_path, "sh", "-c", "cat EVNT.* > HITS.pool.root.1")
    assert done.returncode == 0, done.stderr
    assert report["logs"] == {LOG: "staged out; made by the library (the payload had not written it)"}
    with tarfile.open(landed_log(site)) as tar:
        names = set(tar.getnames())
    assert "pilot_movers_report.json" in names and "HITS.pool.root.1" not in names, "outputs go out on their own"


def test_sigterm_while_the_log_goes_out_to_a_frozen_server_ends_the_job_at_once_and_says_so(site: Site, tmp_path: Path):
    """The log's storage stopped answering (SIGSTOP) after a failed stage-in: SIGTERM during the
    log's stage-out stops it within seconds; the report's error is the signal, and its logs say
    the log was not staged out because the job was stopped."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.panda.conftest import GRIDFTP_RSE, getjob, queuedata, write_json

    missing = {"lfn": "EVNT.99.pool.root.1", "scope": "user.jdoe", "rse": GRIDFTP_RSE, "size": 10}
    missing["checksum"] = Checksum("adler32", "00000001")
    queue = write_json(tmp_path / "q.json", queuedata(site, {"pr": ["gfal"], "pw": ["xrdcp"]}))
    job = write_json(tmp_path / "j.json", getjob(site, [missing], ["HITS.pool.root.1"]))
    xrootd = os.getpgid(site.grid.servers["xrootd"].pid or 0)
    os.killpg(xrootd, signal.SIGSTOP)
    try:
        pilot = subprocess.Popen(
            [
                *(sys.executable, "-m", "pilot_movers", "run", "--panda-job", str(job)),
                *("--queue-config", str(queue), "--workdir", str(tmp_path / "work"), "--", "true"),
            ],
            stderr=subprocess.PIPE,
            text=True,
        )
        said = ""
        assert pilot.stderr is not None
        for line in pilot.stderr:  # until the log's stage-out has started against the frozen server
            said += line
            if "staging out its log file(s) alone" in line:
                break
        time.sleep(1.0)
        sent = time.monotonic()
        pilot.send_signal(signal.SIGTERM)
        rest, _ = pilot.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        os.killpg(xrootd, signal.SIGCONT)
    assert pilot.returncode == 128 + signal.SIGTERM, said + rest
    assert took < 40, f"the job took {took:.1f} s to end after SIGTERM"
    report = json.loads((tmp_path / "work" / "pilot_movers_report.json").read_text())
    assert report["error"]["name"] == "SIGTERM"
    assert report["logs"][LOG].startswith("not staged out after the job failed in stage-in"), report["logs"]
    assert report["logs"][LOG].endswith("the job was stopped (SIGTERM)"), report["logs"]
