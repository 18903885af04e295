"""Where a PanDA job's files are and go, without glue a site writes by hand (issue 21): CRIC's own
storage description (``ddmendpoints``, its ``arprotocols`` per activity) read as Pilot 3 reads it,
and outputs sent to the queue's other storages (queuedata ``astorages``) when their own fails.
Driven through the real CLI against the local grid's XRootD and GridFTP servers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pilot_movers.checksums import file_checksum
from tests.panda.conftest import GRIDFTP_RSE, XROOTD_RSE, Site, getjob, queuedata, write_json
from tests.panda.test_panda_job import PAYLOAD, run_panda_job, seeded_inputs
from tests.panda.test_replicas import closed_port

DOWN_RSE = "LOCAL_DOWN_DATADISK"


def protocol(url: str) -> dict[str, Any]:
    """One CRIC protocol entry for a URL prefix: its endpoint and path, as CRIC splits them."""
    scheme, _, rest = url.partition("://")
    host, _, path = rest.partition("/")
    return {"endpoint": f"{scheme}://{host}", "path": "/" + path.lstrip("/"), "flavour": scheme.upper(), "id": 1}


def cric_ddmendpoints(site: Site, extra_read: dict[str, list[str]]) -> dict[str, Any]:
    """CRIC's description of the site's endpoints: each endpoint's prefix for every activity,
    with ``extra_read`` prefixes tried before it for reading."""
    described = {}
    for rse in (XROOTD_RSE, GRIDFTP_RSE):
        read = [protocol(url) for url in [*extra_read.get(rse, []), site.prefix(rse)]]
        write = [protocol(site.prefix(rse))]
        described[rse] = {
            "name": rse,
            "type": "DATADISK",
            "is_deterministic": True,
            "arprotocols": {"read_lan": read, "read_wan": read, "write_lan": write, "write_wan": write},
        }
    return described


def run(queue: dict[str, Any], job: dict[str, Any], tmp_path: Path):
    job_file, queue_file = write_json(tmp_path / "job.json", job), write_json(tmp_path / "queuedata.json", queue)
    done, report = run_panda_job(job_file, queue_file, tmp_path / "work", "sh", "-c", PAYLOAD)
    return done, report


def test_crics_own_storage_description_says_where_files_are_with_no_storages_rule(site: Site, tmp_path: Path):
    """No ``storages`` at all: the endpoints come from CRIC's ddmendpoints file, each protocol of
    the read activity a URL to try in order (the first here is a door that is down)."""
    inputs = seeded_inputs(site)
    down = f"root://localhost:{closed_port()}//nowhere"
    ddm = write_json(tmp_path / "cric_ddmendpoints.json", cric_ddmendpoints(site, {XROOTD_RSE: [down]}))
    queue = queuedata(site, {"pr": ["xrdcp", "gfal"], "pw": ["xrdcp"]})
    queue["pilot_movers"].pop("storages")
    queue["pilot_movers"]["panda"] = {"ddmendpoints": str(ddm)}
    done, report = run(queue, getjob(site, inputs, ["HITS.pool.root.1"]), tmp_path)
    assert done.returncode == 0, done.stderr
    files = {f["name"]: f for f in report["phases"]["stage-in"]["files"]}
    first = files[inputs[0]["lfn"]]
    assert [e["outcome"] for e in first["remote_ends"]] == ["failed", "served"]
    assert first["remote_ends"][0]["url"].startswith(down + "/")
    assert first["source"] == site.url_of(XROOTD_RSE, inputs[0]["scope"], inputs[0]["lfn"])
    for item in inputs:
        assert file_checksum(tmp_path / "work" / item["lfn"]) == item["checksum"]
    hits = site.path_of(XROOTD_RSE, "mc23_13p6TeV", "HITS.pool.root.1")
    assert hits.stat().st_size == 300_001, "the output went where CRIC's write protocol says"


def test_an_output_whose_storage_is_down_goes_to_the_queues_next_output_storage(site: Site, tmp_path: Path):
    """queuedata ``astorages.pw`` lists the storages outputs may go to; the job's own
    (ddmEndPointOut) is down, so the output and the log go to the next, and the report says where."""
    inputs = seeded_inputs(site)
    queue = queuedata(site, {"pr": ["xrdcp", "gfal"], "pw": ["xrdcp"]})
    queue["astorages"]["pw"] = [DOWN_RSE, XROOTD_RSE, "CERN-PROD_DATADISK"]
    queue["pilot_movers"]["storages"][DOWN_RSE] = f"root://localhost:{closed_port()}//down/rucio"
    job = getjob(site, inputs, ["HITS.pool.root.1"])
    job["ddmEndPointOut"] = ",".join([DOWN_RSE, DOWN_RSE])
    done, report = run(queue, job, tmp_path)
    assert done.returncode == 0, done.stderr
    out = {f["name"]: f for f in report["phases"]["stage-out"]["files"]}
    hits = out["HITS.pool.root.1"]
    assert [(e["outcome"], (e.get("error") or {}).get("name")) for e in hits["remote_ends"]] == [
        ("failed", "SERVICENOTAVAILABLE"),
        ("served", None),
    ]
    assert hits["destination"] == site.url_of(XROOTD_RSE, "mc23_13p6TeV", "HITS.pool.root.1")
    assert site.path_of(XROOTD_RSE, "mc23_13p6TeV", "HITS.pool.root.1").stat().st_size == 300_001
    assert out["log.4242._000001.job.log.tgz.1"]["status"] == "done"
    assert any("CERN-PROD_DATADISK not used as output storages" in note for note in report["setup"])
