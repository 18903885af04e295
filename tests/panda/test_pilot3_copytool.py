"""The movers inside the real PanDA Pilot 3 (``panda-pilot`` from PyPI): its StageInClient and
StageOutClient move a job's files through them on the local grid, with the job read by Pilot 3's
own JobData, its queue by its own InfoService, and its FileSpecs, traces and exceptions."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pilot.api.data import StageInClient, StageOutClient, StagingClient
from pilot.common.errorcodes import ErrorCodes
from pilot.common.exception import PilotException
from pilot.info import FileSpec as PilotFileSpec
from pilot.info.jobdata import JobData
from pilot.util.tracereport import TraceReport

from pilot_movers.checksums import Checksum, file_checksum
from pilot_movers.integrations import pilot3
from tests.helpers import write_file
from tests.panda.conftest import GRIDFTP_RSE, XROOTD_RSE, Site, getjob, pilot3_infosys, queuedata

pytestmark = pytest.mark.usefixtures("pilot3_registry")
log = logging.getLogger("pilot3-test")


class RecordedTraces(TraceReport):
    """Pilot 3's own trace report, keeping each trace it would send."""

    def __init__(self) -> None:
        super().__init__(pq="LOCAL_GRID_TEST", ipv="IPv4")
        self.sent: list[dict[str, Any]] = []

    def send(self) -> bool:
        self.sent.append(dict(self))
        return True


def inputs_on(site: Site) -> list[dict[str, Any]]:
    """Two inputs, one on each endpoint, with their catalogue values."""
    files = []
    for number, (rse, scope) in enumerate([(XROOTD_RSE, "mc23_13p6TeV"), (GRIDFTP_RSE, "user.jdoe")]):
        lfn = f"EVNT.000{number}.pool.root.1"
        checksum = site.seed(rse, scope, lfn, 200_000 + number, seed=number)
        files.append({"lfn": lfn, "scope": scope, "rse": rse, "size": 200_000 + number, "checksum": checksum})
    return files


def replicas_for(site: Site, job: JobData) -> None:
    """What Pilot 3's Rucio lookup would put on each input FileSpec (no Rucio here)."""
    for fspec in job.indata:
        url = site.url_of(fspec.ddmendpoint, fspec.scope, fspec.lfn)
        fspec.replicas = [{"ddmendpoint": fspec.ddmendpoint, "pfn": url, "domain": "lan"}]


def pilot3_job(site: Site, data: dict[str, Any], queue: dict[str, Any]) -> tuple[JobData, Any]:
    infosys = pilot3_infosys(site, queue)
    job = JobData(data)
    job.init(infosys)
    return job, infosys


def test_pilot3_stages_a_jobs_files_in_and_out_through_the_movers(site: Site, tmp_path: Path):
    pilot3.register()  # what a VO's pilot plugin does, once
    queue = queuedata(site, {"pr": ["pilot_movers"], "pw": ["pilot_movers"], "pl": ["pilot_movers"]})
    inputs = inputs_on(site)
    job, infosys = pilot3_job(site, getjob(site, inputs, ["HITS.pool.root.1"]), queue)
    replicas_for(site, job)
    workdir = tmp_path / "work"
    workdir.mkdir()

    traces = RecordedTraces()
    stage_in = StageInClient(infosys, logger=log, trace_report=traces, workdir=str(workdir))
    stage_in.transfer(job.indata, activity="pr", workdir=str(workdir), use_vp=False)

    for fspec, expected in zip(job.indata, inputs):
        assert (fspec.status, fspec.status_code) == ("transferred", 0)
        assert fspec.turl.startswith("root://" if expected["rse"] == XROOTD_RSE else "gsiftp://")
        assert file_checksum(workdir / fspec.lfn) == expected["checksum"]
    assert [t["clientState"] for t in traces.sent] == ["DONE", "DONE"]
    assert {t["filename"] for t in traces.sent} == {i["lfn"] for i in inputs}
    assert {t["scope"] for t in traces.sent} == {"mc23_13p6TeV", "user.jdoe"}
    assert traces.sent[0]["guid"] == "A0B1C2D3000000000000000000000000"  # Pilot 3 sends GUIDs without dashes

    # the payload writes its output and the pilot its log tarball
    write_file(workdir / "HITS.pool.root.1", 300_000, seed=9)
    write_file(workdir / job.logdata[0].lfn, 1000, seed=10)
    stage_out = StageOutClient(infosys, logger=log, trace_report=RecordedTraces(), workdir=str(workdir))
    for files, activity in ((job.outdata, ["pw", "w"]), (job.logdata, ["pl", "pw", "w"])):
        stage_out.prepare_destinations(files, activity)
        stage_out.transfer(files, activity=activity, workdir=str(workdir))
    for fspec in job.outdata + job.logdata:
        assert (fspec.status, fspec.status_code) == ("transferred", 0)
        landed = site.path_of(XROOTD_RSE, fspec.scope, fspec.lfn)
        assert file_checksum(landed) == Checksum("adler32", fspec.checksum["adler32"])


def test_an_input_that_is_not_what_the_catalogue_says_fails_with_pilot3s_mismatch_code(site: Site, tmp_path: Path):
    pilot3.register()
    queue = queuedata(site, {"pr": ["pilot_movers"], "pw": ["pilot_movers"]})
    inputs = inputs_on(site)
    inputs[0]["checksum"] = Checksum("adler32", "0badc0de")  # the catalogue is wrong (or the replica rotted)
    job, infosys = pilot3_job(site, getjob(site, inputs, ["HITS.pool.root.1"]), queue)
    replicas_for(site, job)
    traces = RecordedTraces()
    with pytest.raises(PilotException) as caught:
        StageInClient(infosys, logger=log, trace_report=traces).transfer(
            job.indata, activity="pr", workdir=str(tmp_path), use_vp=False
        )
    assert caught.value.get_error_code() == ErrorCodes.GETADMISMATCH == 1171
    assert "0badc0de" in caught.value.get_last_error()
    bad, good = job.indata
    assert (bad.status, bad.status_code) == ("failed", 1171)
    assert (good.status, good.status_code) == ("transferred", 0), "the other file still had its turn"
    assert not (tmp_path / bad.lfn).exists()
    assert [t["clientState"] for t in traces.sent] == ["AD_MISMATCH", "DONE"]


def test_a_missing_input_is_pilot3s_missinginputfile(site: Site, tmp_path: Path):
    pilot3.register()
    queue = queuedata(site, {"pr": ["pilot_movers"], "pw": ["pilot_movers"]})
    inputs = inputs_on(site)
    site.path_of(XROOTD_RSE, inputs[0]["scope"], inputs[0]["lfn"]).unlink()
    job, infosys = pilot3_job(site, getjob(site, inputs, ["HITS.pool.root.1"]), queue)
    replicas_for(site, job)
    with pytest.raises(PilotException) as caught:
        StageInClient(infosys, logger=log, trace_report=RecordedTraces()).transfer(
            job.indata, activity="pr", workdir=str(tmp_path), use_vp=False
        )
    assert caught.value.get_error_code() == ErrorCodes.MISSINGINPUTFILE == 1331
    assert job.indata[0].status_code == 1331


def test_pilot3_falls_back_to_its_next_copytool_for_files_the_movers_cannot_serve(tmp_path: Path):
    module = pilot3.register("pm_xrootd_only", movers=["xrootd"])
    files = [PilotFileSpec(filetype="input", lfn="a.dat", turl="gsiftp://se.example.org:2811/data/a.dat")]
    assert module.is_valid_for_copy_in(files) is False
    assert module.allowed_schemas[0] == "root" and "gsiftp" not in module.allowed_schemas
    escaping = [PilotFileSpec(filetype="input", lfn="../a.dat", turl="root://se.example.org//data/a.dat")]
    assert pilot3.is_valid_for_copy_in(escaping) is False
    unparsable = [PilotFileSpec(filetype="input", lfn="a.dat", turl="root://se//a", checksum="ad:nothex!")]
    assert pilot3.is_valid_for_copy_in(unparsable) is False
    fine = [PilotFileSpec(filetype="input", lfn="a.dat", turl="root://se.example.org//data/a.dat", checksum="ad:1")]
    assert module.is_valid_for_copy_in(fine) is True


def test_a_file_whose_default_mover_cannot_run_here_is_valid_and_its_copy_says_1211(monkeypatch, tmp_path: Path):
    """Review: the files were judged invalid when their scheme's mover could not run here, and Pilot
    3 failed them with its own 1301 before any copy; as before, the copy says why, with 1211."""
    from pilot_movers.registry import get_mover_class
    from pilot_movers.xrootd.mover import XRootDMover

    monkeypatch.setattr(XRootDMover, "availability_problem", classmethod(lambda cls: "no XRootD bindings here"))
    get_mover_class.cache_clear()  # the registry keeps what it loaded
    try:
        files = [PilotFileSpec(filetype="input", lfn="a.dat", turl="root://se.example.org//data/a.dat")]
        assert pilot3.is_valid_for_copy_in(files) is True
        with pytest.raises(PilotException) as caught:
            pilot3.copy_in(files, workdir=str(tmp_path))
        assert caught.value.get_error_code() == ErrorCodes.MISSINGINSTALLATION == 1211
        assert "no XRootD bindings here" in caught.value.get_last_error()
    finally:
        monkeypatch.undo()
        get_mover_class.cache_clear()


def test_register_refuses_a_name_pilot3_already_has_and_is_idempotent_for_its_own():
    with pytest.raises(ValueError, match="already has a copytool named 'xrdcp'"):
        pilot3.register("xrdcp")
    with pytest.raises(ValueError, match="identifier"):
        pilot3.register("pilot-movers")
    first = pilot3.register("pm")
    again = pilot3.register("pm", movers=["gridftp"])
    assert StagingClient.copytool_modules["pm"] == {"module_name": "pm"}
    assert sys.modules["pilot.copytool.pm"] is again is not first
    assert again.settings.movers == ("gridftp",)


def test_importing_the_library_and_the_integration_does_not_import_pilot3():
    code = (
        "import sys, pilot_movers, pilot_movers.integrations.pilot3, pilot_movers.panda.jobdesc;"
        "from pilot_movers import Job, QueueConfig;"
        "assert not [m for m in sys.modules if m == 'pilot' or m.startswith('pilot.')], 'pilot imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_inside_pilot3_an_input_whose_first_replica_is_gone_is_served_by_its_next(site: Site, tmp_path: Path):
    """Pilot 3 resolves a list of replicas per input (``fspec.replicas``) and hands its copytool
    the first as ``turl``; its own copytools use that one only. The movers try the others."""
    pilot3.register()
    queue = queuedata(site, {"pr": ["pilot_movers"], "pw": ["pilot_movers"]})
    inputs = inputs_on(site)
    first = inputs[0]
    spare = site.path_of(GRIDFTP_RSE, first["scope"], first["lfn"])
    spare.parent.mkdir(parents=True, exist_ok=True)
    spare.write_bytes(site.path_of(XROOTD_RSE, first["scope"], first["lfn"]).read_bytes())
    site.path_of(XROOTD_RSE, first["scope"], first["lfn"]).unlink()  # the first replica is gone
    job, infosys = pilot3_job(site, getjob(site, inputs, ["HITS.pool.root.1"]), queue)
    replicas_for(site, job)
    job.indata[0].replicas.append(
        {"ddmendpoint": GRIDFTP_RSE, "pfn": site.url_of(GRIDFTP_RSE, first["scope"], first["lfn"]), "domain": "lan"}
    )
    traces = RecordedTraces()
    StageInClient(infosys, logger=log, trace_report=traces).transfer(
        job.indata, activity="pr", workdir=str(tmp_path), use_vp=False
    )
    moved = job.indata[0]
    assert (moved.status, moved.status_code) == ("transferred", 0)
    assert file_checksum(tmp_path / moved.lfn) == first["checksum"]
    assert moved.turl == site.url_of(GRIDFTP_RSE, first["scope"], first["lfn"]), (
        "the turl names the replica that served"
    )
    assert traces.sent[0]["url"] == moved.turl and traces.sent[0]["clientState"] == "DONE"


@pytest.mark.parametrize("given", ["", "NULL"])
def test_inside_pilot3_an_empty_or_null_catalogue_checksum_means_none_as_on_the_command_line(
    site: Site, tmp_path: Path, given: str
):
    """Pilot 3 turns an empty or NULL checksum of a job description into ``{'adler32': ''}`` or
    ``{'adler32': 'NULL'}``: the file is staged, as the CLI stages it, verified by size."""
    pilot3.register()
    queue = queuedata(site, {"pr": ["pilot_movers"], "pw": ["pilot_movers"]})
    inputs = inputs_on(site)
    data = getjob(site, inputs, ["HITS.pool.root.1"])
    data["checksum"] = ",".join([given, data["checksum"].split(",")[1]])
    job, infosys = pilot3_job(site, data, queue)
    replicas_for(site, job)
    assert job.indata[0].checksum == {"adler32": given}, "as Pilot 3 holds it"
    StageInClient(infosys, logger=log, trace_report=RecordedTraces()).transfer(
        job.indata, activity="pr", workdir=str(tmp_path), use_vp=False
    )
    assert [(f.status, f.status_code) for f in job.indata] == [("transferred", 0), ("transferred", 0)]
    assert file_checksum(tmp_path / inputs[0]["lfn"]) == inputs[0]["checksum"]


@pytest.mark.parametrize("where", ["top level", "params"])
def test_the_queuedatas_own_section_governs_the_movers_inside_pilot3(site: Site, tmp_path: Path, caplog, where):
    """Pilot 3's QueueData drops keys it does not know: the pilot_movers section (top level, or
    CRIC's free-form params) is read from Pilot 3's own view of the queue. With max_attempts = 1
    there, a file on a server that is down is tried once, not three times."""
    pilot3.register()
    queue = queuedata(site, {"pr": ["pilot_movers"], "pw": ["pilot_movers"]})
    queue["pilot_movers"]["transfer"]["max_attempts"] = 1
    if where == "params":
        queue["params"] = {"pilot_movers": queue.pop("pilot_movers")}
    inputs = inputs_on(site)
    job, infosys = pilot3_job(site, getjob(site, inputs, ["HITS.pool.root.1"]), queue)
    replicas_for(site, job)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    job.indata[0].replicas = [{"ddmendpoint": XROOTD_RSE, "pfn": f"root://localhost:{closed}//x/a", "domain": "lan"}]
    caplog.set_level(logging.INFO, logger="pilot_movers")
    with pytest.raises(PilotException) as caught:
        StageInClient(infosys, logger=log, trace_report=RecordedTraces()).transfer(
            job.indata, activity="pr", workdir=str(tmp_path), use_vp=False
        )
    assert caught.value.get_error_code() == ErrorCodes.SERVICENOTAVAILABLE
    said = [record.getMessage() for record in caplog.records]
    assert not any("attempt 1 of" in message for message in said), "one attempt, as the section says"
    expected = "[params.pilot_movers]" if where == "params" else "[pilot_movers]"
    assert any(f"pilot-movers settings from the queuedata of LOCAL_GRID_TEST {expected}" in m for m in said), said


def test_another_copytool_after_the_movers_is_warned_about_at_registration(site: Site, caplog):
    """acopytools.pr = [pilot_movers, xrdcp]: a corrupt input the movers refuse goes on to xrdcp,
    which lands it; the site hears so once."""
    queue = queuedata(site, {"pr": ["pilot_movers", "xrdcp"], "pw": ["pilot_movers"]})
    pilot3_infosys(site, queue)
    caplog.set_level(logging.WARNING, logger="pilot_movers")
    pilot3.register()
    pilot3.register()
    warned = [r.getMessage() for r in caplog.records if "goes on to xrdcp" in r.getMessage()]
    assert len(warned) == 1 and warned[0].startswith("acopytools.pr = pilot_movers, xrdcp: a file the movers refuse")
