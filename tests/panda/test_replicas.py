"""Several replicas per input (issue 21): a list per file in ``--replicas``, a Rucio
``list_replicas`` answer as it comes; tried in order when a replica fails in a way another can
cure (a server down, a file missing, a file rotten at the source), and the report says which
served and why each other did not. Against the real XRootD and GridFTP servers of the local grid."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from pilot_movers.checksums import file_checksum
from pilot_movers.errors import BadJobParameters
from pilot_movers.panda.replicas import parse_replicas
from tests.panda.conftest import GRIDFTP_RSE, XROOTD_RSE, Site, getjob, queuedata, write_json
from tests.panda.test_panda_job import PAYLOAD, run_panda_job, seeded_inputs


def closed_port() -> int:
    """A port nothing listens on: a storage endpoint that is down."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def job_files(site: Site, tmp_path: Path) -> dict[str, Any]:
    inputs = seeded_inputs(site)
    queue = queuedata(site, {"pr": ["xrdcp", "gfal"], "pw": ["xrdcp"]}, transfer={"max_attempts": 2})
    queue["pilot_movers"]["transfer"].update(backoff_initial=0.01, backoff_jitter=0.01, watchdog_interval=0.05)
    return {
        "inputs": inputs,
        "queue": write_json(tmp_path / "queuedata.json", queue),
        "job": write_json(tmp_path / "job.json", getjob(site, inputs, ["HITS.pool.root.1"])),
    }


def run_job(job_files: dict[str, Any], replicas: Any, tmp_path: Path):
    listed = write_json(tmp_path / "replicas.json", replicas)
    done, report = run_panda_job(
        job_files["job"], job_files["queue"], tmp_path / "work", "sh", "-c", PAYLOAD, replicas=listed
    )
    return done, {f["name"]: f for f in report["phases"]["stage-in"]["files"]}


def test_a_replica_on_a_server_that_is_down_and_one_missing_give_way_to_a_good_one(
    site: Site, job_files, tmp_path: Path
):
    first, second = job_files["inputs"]
    down = f"root://localhost:{closed_port()}//data/{first['lfn']}"
    missing = site.grid.gridftp_url(f"rse/{site.name}/no-such-dir/{first['lfn']}")
    good = site.url_of(first["rse"], first["scope"], first["lfn"])
    replicas = {
        first["lfn"]: [down, missing, good],
        second["lfn"]: site.url_of(second["rse"], second["scope"], second["lfn"]),
    }
    done, files = run_job(job_files, replicas, tmp_path)
    assert done.returncode == 0, done.stderr
    assert file_checksum(tmp_path / "work" / first["lfn"]) == first["checksum"]
    served = files[first["lfn"]]
    assert served["status"] == "done" and served["source"] == good and served["verified"]
    ends = served["remote_ends"]
    assert [(e["url"], e["outcome"]) for e in ends] == [(down, "failed"), (missing, "failed"), (good, "served")]
    assert [e["mover"] for e in ends] == ["xrootd", "gridftp", "xrootd"]
    assert ends[0]["error"]["name"] == "SERVICENOTAVAILABLE" and ends[0]["attempts"] == 2
    assert ends[1]["error"]["name"] == "NOSUCHFILE" and ends[1]["attempts"] == 1
    assert "remote_ends" not in files[second["lfn"]], "a file with one replica reports as before"
    assert f"trying {missing}" in done.stderr and f"trying {good}" in done.stderr


def test_a_rotten_replica_gives_way_to_a_sound_one_and_the_rest_are_not_tried(site: Site, job_files, tmp_path: Path):
    first, second = job_files["inputs"]
    rotten = site.path_of(GRIDFTP_RSE, first["scope"], first["lfn"])
    rotten.parent.mkdir(parents=True, exist_ok=True)
    rotten.write_bytes(b"x" * first["size"])  # right size, wrong bytes: the catalogue's checksum catches it
    sound = site.url_of(XROOTD_RSE, first["scope"], first["lfn"])
    spare = site.url_of(GRIDFTP_RSE, "spare", first["lfn"])
    rucio = [  # rucio list-file-replicas --json, as the client returns it: priority decides, tape is left out
        {
            "scope": first["scope"],
            "name": first["lfn"],
            "bytes": first["size"],
            "adler32": first["checksum"].value,
            "pfns": {
                spare: {"priority": 3, "type": "DISK", "rse": "SPARE"},
                "root://tape.example.org//t/x": {"priority": 0, "type": "TAPE", "rse": "TAPE"},
                sound: {"priority": 2, "type": "DISK", "rse": XROOTD_RSE},
                site.url_of(GRIDFTP_RSE, first["scope"], first["lfn"]): {
                    "priority": 1,
                    "type": "DISK",
                    "rse": GRIDFTP_RSE,
                },
            },
            "rses": {},
        },
        {
            "scope": second["scope"],
            "name": second["lfn"],
            "rses": {second["rse"]: [site.url_of(second["rse"], second["scope"], second["lfn"])]},
        },
    ]
    done, files = run_job(job_files, rucio, tmp_path)
    assert done.returncode == 0, done.stderr
    assert file_checksum(tmp_path / "work" / first["lfn"]) == first["checksum"]
    ends = files[first["lfn"]]["remote_ends"]
    assert [e["outcome"] for e in ends] == ["failed", "served", "not tried"]
    assert ends[0]["error_code"] == 1171 and ends[0]["attempts"] == 1, "a checksum mismatch is not retried in place"
    assert ends[2] == {"outcome": "not tried", "url": spare, "why": "an earlier one served"}


def test_every_replica_failing_fails_the_file_with_each_ones_reason(site: Site, job_files, tmp_path: Path):
    first, second = job_files["inputs"]
    down = f"root://localhost:{closed_port()}//data/{first['lfn']}"
    missing = site.grid.xrootd_url(f"rse/{site.name}/nothing/{first['lfn']}")
    replicas = {
        first["lfn"]: [down, missing],
        second["lfn"]: site.url_of(second["rse"], second["scope"], second["lfn"]),
    }
    done, files = run_job(job_files, replicas, tmp_path)
    assert done.returncode == 1
    assert "job failed in stage-in: NOSUCHFILE" in done.stderr, "the last replica's reason is the file's"
    failed = files[first["lfn"]]
    assert failed["status"] == "failed" and failed["source"] == missing
    assert [(e["outcome"], e["error"]["name"]) for e in failed["remote_ends"]] == [
        ("failed", "SERVICENOTAVAILABLE"),
        ("failed", "NOSUCHFILE"),
    ]
    assert not (tmp_path / "work" / first["lfn"]).exists()


def test_replicas_files_that_cannot_be_read_are_refused_naming_the_entry():
    with pytest.raises(BadJobParameters, match="entry 1: a Rucio replica entry needs a 'name'"):
        parse_replicas([{"pfns": {}}])
    with pytest.raises(BadJobParameters, match=r"a.dat: expected a URL or a non-empty list of URLs, got \[\]"):
        parse_replicas({"a.dat": []})
    with pytest.raises(BadJobParameters, match="every replica is on tape"):
        parse_replicas([{"name": "a", "pfns": {"root://t//x": {"type": "TAPE", "priority": 1}}}])
    assert parse_replicas({"a": "root://h//a", "b": ["root://h//b", "davs://i/b", "root://h//b"]}) == {
        "a": ("root://h//a",),
        "b": ("root://h//b", "davs://i/b"),
    }
