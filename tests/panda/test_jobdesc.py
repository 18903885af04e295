"""PanDA's job description (the getJob answer, as Pilot 3 reads it) into a job: what is read, what
is refused and how it says so, and how its files are planned."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from job_params import JobParams, JobParamsError
from pilot_movers import QueueConfig
from pilot_movers.checksums import Checksum
from pilot_movers.errors import ConfigurationError, Phase
from pilot_movers.panda.jobdesc import PandaJob, PandaJobError
from pilot_movers.panda.rucio_paths import rucio_path
from pilot_movers.panda.trust import PandaOptions
from pilot_movers.planner import plan
from pilot_movers.values import Role
from tests.doubles import StandInCatalog

JOB: dict[str, Any] = {
    "PandaID": "6543210987",
    "jobPars": "--inputEVNTFile=EVNT.01.pool.root.1 --maxEvents=100 'quoted words' files-out=extra.txt dir-out=/x",
    "inFiles": "EVNT.01.pool.root.1,EVNT.02.pool.root.1",
    "fsize": "118612262,5",
    "checksum": "ad:0a1b2c3d,md5:0123456789abcdef0123456789abcdef",
    "scopeIn": "mc23_13p6TeV,user.jdoe",
    "GUID": "BEA4C016-E37E-0841-A448-8D664E8CD570,NULL",
    "realDatasetsIn": "mc23_13p6TeV.801234.EVNT.e1_tid01_00,user.jdoe.test",
    "ddmEndPointIn": "CERN-PROD_DATADISK,BNL-OSG2_DATADISK",
    "prodDBlockToken": "NULL,NULL",
    "outFiles": "HITS.02.pool.root.1,log.02.job.log.tgz.1",
    "scopeOut": "mc23_13p6TeV",
    "realDatasets": "mc23.HITS.s4000_tid02_00,mc23.log.s4000_tid02_00",
    "ddmEndPointOut": "CERN-PROD_DATADISK,CERN-PROD_SCRATCHDISK",
    "logFile": "log.02.job.log.tgz.1",
    "logGUID": "F0E1D2C3-B4A5-9687-7869-5A4B3C2D1E0F",
    "scopeLog": "mc23_13p6TeV",
    "destinationSE": "CERN-PROD",
    "StatusCode": 0,
}


def changed(**changes: Any) -> dict[str, Any]:
    return {**JOB, **changes}


def test_the_job_description_is_read_as_pilot3_reads_it():
    job = PandaJob.from_dict(JOB)
    assert job.panda_id == 6543210987
    assert job.jobpars == JOB["jobPars"]
    honoured = job.steering(PandaOptions(data_in_jobpars=True))
    assert honoured.params.passthrough[:3] == ("--inputEVNTFile=EVNT.01.pool.root.1", "--maxEvents=100", "quoted words")
    assert honoured.params.files_out == ("extra.txt",), "job_params' own keys in jobPars count where the queue says so"
    assert honoured.from_user is True
    first, second = job.inputs
    assert (first.lfn, first.size, first.checksum) == (
        "EVNT.01.pool.root.1",
        118612262,
        Checksum("adler32", "0a1b2c3d"),
    )
    assert (first.scope, first.guid, first.ddmendpoint) == (
        "mc23_13p6TeV",
        "BEA4C016-E37E-0841-A448-8D664E8CD570",
        "CERN-PROD_DATADISK",
    )
    assert second.checksum == Checksum("md5", "0123456789abcdef0123456789abcdef")
    assert second.guid is None, "NULL is no value"
    (output,) = job.outputs
    assert (output.lfn, output.scope, output.ddmendpoint) == (
        "HITS.02.pool.root.1",
        "mc23_13p6TeV",
        "CERN-PROD_DATADISK",
    )
    assert job.log is not None
    assert (job.log.kind, job.log.scope, job.log.guid, job.log.ddmendpoint) == (
        "log",
        "mc23_13p6TeV",
        "F0E1D2C3-B4A5-9687-7869-5A4B3C2D1E0F",
        "CERN-PROD_SCRATCHDISK",
    )
    assert job.metadata() == {"source": "panda", "panda_id": 6543210987, "destination_se": "CERN-PROD"}


@pytest.mark.parametrize(
    "shape",
    [
        lambda job: job,
        lambda job: {"StatusCode": 0, "jobs": [job]},
        lambda job: {str(job["PandaID"]): job},
        lambda job: {**job, "inFiles": job["inFiles"].split(","), "fsize": [118612262, 5], "PandaID": 6543210987},
    ],
    ids=["the job", "the dispatcher's answer", "keyed by id", "JSON lists"],
)
def test_every_shape_a_job_arrives_in_reads_the_same(shape):
    assert PandaJob.from_dict(shape(dict(JOB))) == PandaJob.from_dict(JOB)


@pytest.mark.parametrize(
    ("field", "value", "lengths"),
    [
        ("fsize", "1,2,3", ("3 value(s)", "lists 2 file(s)")),
        ("checksum", "ad:0a1b2c3d", ("1 value(s)", "lists 2")),
        ("scopeIn", "a,b,c", ("3 value(s)", "lists 2")),
        ("GUID", "x,y,z", ("3 value(s)", "lists 2")),
        ("realDatasetsIn", "a,b,c", ("3 value(s)", "lists 2")),
        ("ddmEndPointIn", "X,Y,Z", ("3 value(s)", "lists 2")),
        ("ddmEndPointOut", "A,B,C", ("3 value(s)", "outFiles lists 2")),
        ("scopeOut", "a,b,c", ("3 value(s)", "1 file(s) besides the log")),
    ],
)
def test_lists_that_disagree_in_length_are_refused_naming_the_field_and_both_lengths(field, value, lengths):
    with pytest.raises(PandaJobError) as caught:
        PandaJob.from_dict(changed(**{field: value}))
    error = caught.value
    assert error.field == field and all(part in error.message for part in lengths), error.message
    assert (error.code, error.name, error.transient) == (9001, "BADJOBPARAMETERS", False)


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"fsize": "12,many"}, "fsize", "'many' is not a size"),
        ({"checksum": "ad:xyz,ad:1"}, "checksum", "not a valid adler32"),
        ({"checksum": "sha1:0a1b,ad:1"}, "checksum", "unknown checksum algorithm"),
        ({"inFiles": "../etc/passwd,b"}, "inFiles", "would escape the work dir"),
        ({"outFiles": "a/b,log.02.job.log.tgz.1"}, "outFiles", "would escape"),
        ({"PandaID": "12x"}, "PandaID", "not a job id"),
        ({"PandaID": None}, "PandaID", "missing"),
        ({"logFile": "other.tgz"}, "logFile", "not among outFiles"),
        ({"fsize": "12.5,1"}, "fsize", "'12.5' is not a size"),
    ],
)
def test_a_description_that_cannot_be_used_is_refused_saying_why(changes, field, words):
    data = changed(**changes)
    if data["PandaID"] is None:
        del data["PandaID"]
    with pytest.raises(PandaJobError) as caught:
        PandaJob.from_dict(data)
    assert caught.value.field == field and words in caught.value.message, caught.value.message


def test_an_answer_without_a_job_says_so():
    with pytest.raises(PandaJobError, match="answered 20"):
        PandaJob.from_dict({"StatusCode": 20})


def test_null_and_repeated_inputs_are_skipped_as_pilot3_skips_them():
    job = PandaJob.from_dict(
        changed(inFiles="a.root,NULL,a.root", fsize="1,0,1", checksum="ad:1,NULL,ad:1", scopeIn="s,s,s", GUID="g,h,g")
        | {"realDatasetsIn": "d,d,d", "ddmEndPointIn": "E,E,E"}
    )
    assert [f.lfn for f in job.inputs] == ["a.root"]


def test_a_job_without_inputs_or_outputs_is_fine():
    job = PandaJob.from_dict({"PandaID": 1, "jobPars": "", "inFiles": "NULL", "outFiles": ""})
    assert (job.inputs, job.outputs, job.log, job.listed_files()) == ((), (), None, ())


def test_a_file_that_cannot_be_read_is_a_bad_description(tmp_path: Path):
    path = tmp_path / "job.json"
    path.write_bytes(b"\xff{}")
    with pytest.raises(PandaJobError, match="not UTF-8"):
        PandaJob.load(path)
    path.write_text("[1]")
    with pytest.raises(PandaJobError, match="must be an object"):
        PandaJob.load(path)
    with pytest.raises(PandaJobError, match="cannot read"):
        PandaJob.load(tmp_path / "missing.json")
    path.write_text(json.dumps(JOB))
    assert PandaJob.load(path).panda_id == 6543210987


QUEUE = {
    "copytool": "xrootd, gridftp",
    "storages": {
        "CERN-PROD_DATADISK": "root://eos.example.org:1094//eos/atlas/datadisk/rucio",
        "cern-prod_scratchdisk": "root://eos.example.org:1094//eos/atlas/scratchdisk/rucio",
        "BNL-OSG2_DATADISK": "gsiftp://dcdoor.example.org:2811/pnfs/usatlas/datadisk/rucio/",
    },
}


def test_listed_files_are_planned_on_their_storage_at_their_rucio_path_with_what_to_expect(tmp_path: Path):
    job = PandaJob.from_dict(changed(jobPars="--maxEvents=1"))
    queue = QueueConfig.from_dict(QUEUE)
    files = job.listed_files()
    stage_in = plan(job.steering(PandaOptions()).params, queue, str(tmp_path), Phase.STAGE_IN, files=files)
    first, second = (item.spec for item in stage_in)
    assert first.source.url == (
        "root://eos.example.org:1094//eos/atlas/datadisk/rucio/" + rucio_path("mc23_13p6TeV", "EVNT.01.pool.root.1")
    )
    assert first.destination.path == str(tmp_path / "EVNT.01.pool.root.1")
    assert (first.size, first.checksum) == (118612262, Checksum("adler32", "0a1b2c3d"))
    assert first.metadata == {
        "kind": "input",
        "scope": "mc23_13p6TeV",
        "guid": "BEA4C016-E37E-0841-A448-8D664E8CD570",
        "dataset": "mc23_13p6TeV.801234.EVNT.e1_tid01_00",
        "ddmendpoint": "CERN-PROD_DATADISK",
    }
    assert first.to_dict()["metadata"]["guid"] == "BEA4C016-E37E-0841-A448-8D664E8CD570"
    assert second.source.url.startswith("gsiftp://dcdoor.example.org:2811/pnfs/usatlas/datadisk/rucio/user/jdoe/")
    assert [item.mover.name for item in stage_in] == ["xrootd", "gridftp"], (
        "each file: the first listed mover for its URL"
    )
    stage_out = plan(job.steering(PandaOptions()).params, queue, str(tmp_path), Phase.STAGE_OUT, files=files)
    assert [(i.spec.name, i.spec.role, i.spec.source.path) for i in stage_out] == [
        ("HITS.02.pool.root.1", Role.OUTPUT, str(tmp_path / "HITS.02.pool.root.1")),
        ("log.02.job.log.tgz.1", Role.OUTPUT, str(tmp_path / "log.02.job.log.tgz.1")),
    ]
    assert "/scratchdisk/rucio/mc23_13p6TeV/" in stage_out[1].spec.destination.url, "storage names are case-insensitive"


def test_a_replica_given_for_a_file_wins_over_its_storage(tmp_path: Path):
    job = PandaJob.from_dict(changed(jobPars=""))
    turl = "https://webdav.example.org:443/atlas/EVNT.01"
    files = job.listed_files({"EVNT.01.pool.root.1": turl})
    specs = [
        item.spec
        for item in plan(
            job.steering(PandaOptions()).params,
            QueueConfig.from_dict({"storages": QUEUE["storages"]}),
            str(tmp_path),
            Phase.STAGE_IN,
            files=files,
            catalog=_everything(),
        )
    ]
    assert specs[0].source.url == turl
    with pytest.raises(PandaJobError, match=r"EVNT\.09: not a file of job 6543210987"):
        job.listed_files({"EVNT.09": turl})


def test_a_storage_the_queue_does_not_know_is_a_configuration_error_naming_the_known_ones(tmp_path: Path):
    job = PandaJob.from_dict(changed(jobPars="", ddmEndPointIn="CERN-PROD_DATADISK,NOWHERE_DATADISK"))
    with pytest.raises(ConfigurationError) as caught:
        plan(
            job.steering(PandaOptions()).params,
            QueueConfig.from_dict(QUEUE),
            str(tmp_path),
            Phase.STAGE_IN,
            files=job.listed_files(),
        )
    assert "no storage named 'NOWHERE_DATADISK'" in caught.value.message
    assert "cern-prod_datadisk" in caught.value.message and caught.value.code == 1341


def test_a_file_on_no_mover_of_the_queue_is_refused_naming_each_movers_schemes(tmp_path: Path):
    job = PandaJob.from_dict(changed(jobPars=""))
    queue = QueueConfig.from_dict({"copytool": "xrootd", "storages": QUEUE["storages"]})
    with pytest.raises(ConfigurationError) as caught:
        plan(job.steering(PandaOptions()).params, queue, str(tmp_path), Phase.STAGE_IN, files=job.listed_files())
    assert "copytool = xrootd, but EVNT.02.pool.root.1 is at gsiftp://" in caught.value.message


def test_rucio_paths_are_where_rucio_puts_replicas_and_where_pilot3_writes_outputs():
    from pilot.api.data import StageOutClient

    assert rucio_path("mc23_13p6TeV", "EVNT.01.pool.root.1").startswith("mc23_13p6TeV/")
    for scope in ("mc23_13p6TeV", "user.jdoe", "group.phys-higgs"):
        assert rucio_path(scope, "f.root") == StageOutClient.get_path(scope, "f.root")
    # Rucio keeps the dots of other scopes; Pilot 3 would not: Rucio's layout says where replicas are
    assert rucio_path("valid1.x", "f.root").startswith("valid1.x/")


def _everything() -> StandInCatalog:
    """A mover catalog where one mover handles every scheme (plans without installed movers)."""
    return StandInCatalog(lambda name: ("https", "root", "gsiftp", "file"), lambda scheme: "any")


def test_jobpars_steers_no_data_movement_unless_the_queue_says_so():
    """Issue 19: jobPars is the payload's command line, which a user writes for analysis jobs;
    its job parameter tokens moved data with the pilot's credential."""
    hostile = changed(
        jobPars="--maxEvents=1 dir-in=gsiftp://se.example.org/etc/ files-in=hostname "
        "dir-out=root://se.example.org//any/path/ files-out=X myproxy-server=evil.example.org:7512"
    )
    steering = PandaJob.from_dict(hostile).steering(PandaOptions())
    assert steering.params == JobParams()
    assert steering.from_user is False
    assert "files-in=hostname" in steering.ignored and "myproxy-server=evil.example.org:7512" in steering.ignored
    assert "not honoured" in (steering.note or "")


def test_a_bad_token_in_jobpars_is_the_payloads_business_unless_the_queue_honours_jobpars():
    job = PandaJob.from_dict(changed(jobPars="files-in=a files-in=b"))
    assert job.steering(PandaOptions()).params == JobParams()
    with pytest.raises(PandaJobError) as caught:
        job.steering(PandaOptions(data_in_jobpars=True))
    assert caught.value.field == "jobPars" and "duplicate key" in caught.value.message


def test_pilot3s_own_fake_job_is_read_as_pilot3_reads_it():
    """Pilot 3's ``get_fake_job()`` (its own test job) gives one ``realDatasets`` for an output and
    the log: it holds for both, and the reader says so."""
    from pilot.control.job import get_fake_job

    data = get_fake_job(input=True)
    job = PandaJob.from_dict(data)
    (output,) = job.outputs
    assert job.log is not None and output.dataset == job.log.dataset == data["realDatasets"]
    assert job.assumed == ("realDatasets: one value for 2 files in outFiles: taken for each",)
    assert [f.lfn for f in job.inputs] == [data["inFiles"]] and job.inputs[0].size == int(data["fsize"])


def test_where_pilot3_is_lenient_the_reader_is_too_and_says_what_it_assumed():
    job = PandaJob.from_dict(
        changed(
            inFiles="zip://a.zip,b.root,a.zip",
            fsize="100000.0,5,7",
            checksum="ad:1,ad:2,ad:3",
            scopeIn="mc23",
            GUID="g-1",
            realDatasetsIn="ds",
            ddmEndPointIn="DISK",
        )
        | {"outFiles": "h.root,log.1.job.log.tgz.1", "scopeOut": "out,logscope", "logFile": "log.1.job.log.tgz.1"}
        | {"scopeLog": "NULL", "realDatasets": "d", "ddmEndPointOut": "DISK"}
    )
    assert [(f.lfn, f.size, f.scope, f.guid, f.dataset, f.ddmendpoint) for f in job.inputs] == [
        ("a.zip", 100000, "mc23", "g-1", "ds", "DISK"),
        ("b.root", 5, "mc23", None, "ds", "DISK"),
    ], "the first listing of a.zip, every file in the one scope"
    assert (job.outputs[0].scope, job.log.scope if job.log else None) == ("out", "logscope")
    assert set(job.assumed) == {
        "inFiles: zip://a.zip: the file a.zip (a zip of files, as Pilot 3 reads it)",
        "fsize: '100000.0' read as 100000 bytes",
        "scopeIn: one value for 3 files in inFiles: taken for each",
        "GUID: one value for 3 files in inFiles: the first file's, the others have none",
        "realDatasetsIn: one value for 3 files in inFiles: taken for each",
        "ddmEndPointIn: one value for 3 files in inFiles: taken for each",
        "inFiles: a.zip is listed twice (guid, size, checksum differ): the first listing is used",
        "realDatasets: one value for 2 files in outFiles: taken for each",
        "ddmEndPointOut: one value for 2 files in outFiles: taken for each",
        "scopeOut: one value per outFiles entry, the log's included: read by position",
    }


def test_an_input_without_a_storage_endpoint_is_refused_in_one_plain_sentence(tmp_path: Path):
    data = changed(ddmEndPointIn="CERN-PROD_DATADISK,")
    queue = QueueConfig.from_dict({"storages": {"CERN-PROD_DATADISK": "root://se.example.org//atlas"}})
    with pytest.raises(JobParamsError) as caught:
        plan(JobParams(), queue, str(tmp_path), Phase.STAGE_IN, files=PandaJob.from_dict(data).listed_files())
    assert caught.value.message == (
        "bad job parameter 'EVNT.02.pool.root.1': no storage endpoint for it in the job description "
        "(ddmEndPointIn is empty for this file) and no replica given (--replicas)"
    )
