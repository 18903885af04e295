"""The catalogue's checksum is what a copy is checked against, every time.

Found while measuring against Pilot 3's own copytools: its ``xrdcp`` copytool overwrites the
catalogue value with the checksum xrdcp printed for the copy, then compares the copy with itself,
so a wrong catalogue value never fails (``pilot/copytool/xrdcp.py`` in 3.7). The movers must catch
it on every file, on every transport, through every way in (a PanDA job, Pilot 3's client).
An expected checksum also saves the source checksum call per file."""

from __future__ import annotations

import logging
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pilot.api.data import StageInClient
from pilot.common.exception import PilotException
from pilot.copytool import xrdcp as pilot3_xrdcp
from pilot.info import FileSpec as PilotFileSpec

from pilot_movers import Job, QueueConfig
from pilot_movers.checksums import Checksum, file_checksum
from pilot_movers.errors import PhaseFailed
from pilot_movers.integrations import pilot3
from tests.panda.conftest import GRIDFTP_RSE, XROOTD_RSE, Site, getjob, pilot3_infosys, queuedata

WRONG = 25  # files per transport, each catalogued with a wrong checksum


class TraceStandIn(dict):
    """What Pilot 3's copytools need of a trace report: update, get_value, send."""

    def get_value(self, key: str) -> Any:
        return self.get(key)

    def send(self) -> bool:
        return True


def catalogued_wrongly(site: Site, rse: str, count: int) -> list[dict[str, Any]]:
    """Replicas that are fine, each listed with a checksum that is not theirs."""
    rng = random.Random(rse)
    files = []
    for number in range(count):
        lfn = f"wrong.{number:03d}.root"
        good = site.seed(rse, "mc23_13p6TeV", lfn, 10_000 + number, seed=number)
        wrong = Checksum.adler32_of_int(int(good.value, 16) ^ rng.randrange(1, 1 << 32))
        files.append({"lfn": lfn, "scope": "mc23_13p6TeV", "rse": rse, "size": 10_000 + number, "checksum": wrong})
    return files


@pytest.mark.parametrize("rse", [XROOTD_RSE, GRIDFTP_RSE], ids=["xrootd", "gridftp"])
def test_a_wrong_catalogue_checksum_fails_every_file_of_a_panda_job(site: Site, tmp_path: Path, rse: str):
    inputs = catalogued_wrongly(site, rse, WRONG)
    data = queuedata(site, {"pr": ["xrdcp", "gfal"], "pw": ["xrdcp"]})
    data["pilot_movers"]["transfer"]["breaker_min_transfers"] = 1000  # every file is tried, none given up on
    queue = QueueConfig.from_dict(data)
    with pytest.raises(PhaseFailed) as caught, Job.from_panda(getjob(site, inputs, []), queue, tmp_path / "w") as job:
        job.stage_in()
    assert len(caught.value.failures) == WRONG
    assert job.report is not None
    results = job.report.phases[0].results
    assert [(r.error.name, r.error.transient, len(r.attempts)) for r in results if r.error] == [
        ("GETADMISMATCH", False, 1)
    ] * WRONG
    assert sorted(p.name for p in (tmp_path / "w").iterdir()) == [
        "log.4242._000001.job.log.tgz.1",  # the job's log, made and staged out after the failure
        "pilot_movers_report.json",
    ], "no input landed"
    assert job.report.logs == {
        "log.4242._000001.job.log.tgz.1": (
            "staged out after the job failed in stage-in; made by the library (the payload had not written it)"
        )
    }


@pytest.mark.usefixtures("pilot3_registry")
def test_a_wrong_catalogue_checksum_fails_every_file_through_pilot3s_client(site: Site, tmp_path: Path):
    inputs = catalogued_wrongly(site, XROOTD_RSE, WRONG)
    queue = queuedata(site, {"pr": ["pilot_movers"], "pw": ["pilot_movers"]})
    queue["pilot_movers"]["transfer"]["breaker_min_transfers"] = 1000  # every file is tried
    pilot3.register(queue=QueueConfig.from_dict(queue))
    from pilot.info.jobdata import JobData

    job = JobData(getjob(site, inputs, []))
    job.init(pilot3_infosys(site, queue))
    for fspec in job.indata:
        fspec.replicas = [
            {"ddmendpoint": XROOTD_RSE, "pfn": site.url_of(XROOTD_RSE, fspec.scope, fspec.lfn), "domain": "lan"}
        ]
    with pytest.raises(PilotException) as caught:
        StageInClient(logger=logging.getLogger("t")).transfer(
            job.indata, activity="pr", workdir=str(tmp_path), use_vp=False
        )
    assert caught.value.get_error_code() == 1171
    assert [(f.status, f.status_code) for f in job.indata] == [("failed", 1171)] * WRONG
    assert list(tmp_path.iterdir()) == []


@pytest.mark.usefixtures("pilot3_registry")
def test_pilot3s_own_xrdcp_copytool_lets_a_wrong_catalogue_checksum_through(site: Site, tmp_path: Path):
    """A characterisation of Pilot 3.7's xrdcp copytool, the reason for the tests above."""
    (item,) = catalogued_wrongly(site, XROOTD_RSE, 1)
    fspec = PilotFileSpec(
        filetype="input",
        lfn=item["lfn"],
        scope=item["scope"],
        guid="00000000-0000-0000-0000-000000000001",
        filesize=item["size"],
        checksum=f"ad:{item['checksum'].value}",
        ddmendpoint=XROOTD_RSE,
    )
    fspec.turl = site.url_of(XROOTD_RSE, item["scope"], item["lfn"])
    pilot3_xrdcp.copy_in([fspec], workdir=str(tmp_path), trace_report=TraceStandIn())
    assert fspec.status == "transferred", "Pilot 3's xrdcp copytool accepted the file"
    assert fspec.checksum["adler32"] == file_checksum(tmp_path / item["lfn"]).value != item["checksum"].value


def test_an_expected_checksum_saves_the_source_checksum_query_on_xrootd(site: Site, tmp_path: Path):
    """The XRootD client asks the server for the source's checksum (kXR_Qcksum) only when the
    job gives none (its client log, at Dump level, shows each request)."""
    checksum = site.seed(XROOTD_RSE, "s", "q.root", 50_000)
    url = site.url_of(XROOTD_RSE, "s", "q.root")
    code = (
        "import sys; from pilot_movers.registry import get_mover_class; from pilot_movers.values import *;"
        "from pilot_movers.checksums import Checksum;"
        "c = Checksum.parse(sys.argv[3]) if sys.argv[3] != '-' else None;"
        "s = FileSpec('q', Location.parse(sys.argv[1]), Location.local(sys.argv[2]), Role.INPUT, None, c);"
        "r = get_mover_class('xrootd')().stage_in([s])[0]; assert r.ok and r.verified, r.error"
    )
    queries = []
    for number, expected in enumerate(("-", str(checksum))):
        done = subprocess.run(
            [sys.executable, "-c", code, url, str(tmp_path / f"q{number}"), expected],
            capture_output=True,
            text=True,
            env={**os.environ, "XRD_LOGLEVEL": "Dump"},
            check=True,
        )
        queries.append(sum("Sending kXR_query (code: kXR_Qcksum" in line for line in done.stderr.splitlines()))
    assert queries[0] >= 1 and queries[1] == 0, queries


def test_an_expected_checksum_saves_the_source_checksum_call_on_gridftp(site: Site, tmp_path: Path, monkeypatch):
    """The gridftp mover fetches the source's checksum (a CKSM on the server) only when the job
    gives none; with one, gfal2 verifies the copy against it (the GridFTP server's command log,
    at level ALL, shows no CKSM for the source then: docs/panda.md)."""
    from pilot_movers.gridftp.namespace import Gfal2Namespace
    from pilot_movers.registry import get_mover_class
    from pilot_movers.values import FileSpec, Location, Role

    calls: list[str] = []
    original = Gfal2Namespace.checksum

    def counted(self: Any, location: Any, algorithm: str) -> Checksum:
        calls.append(location.url)
        return original(self, location, algorithm)

    monkeypatch.setattr(Gfal2Namespace, "checksum", counted)
    checksums = [site.seed(GRIDFTP_RSE, "s", f"g{n}.root", 30_000, seed=n) for n in range(3)]
    specs = [
        FileSpec(
            f"g{n}.root",
            Location.parse(site.url_of(GRIDFTP_RSE, "s", f"g{n}.root")),
            Location.local(str(tmp_path / f"g{n}")),
            Role.INPUT,
            None,
            c,
        )
        for n, c in enumerate(checksums)
    ]
    mover = get_mover_class("gridftp")()
    assert all(r.ok and r.verified for r in mover.stage_in(specs))
    assert calls == []
    plain = [FileSpec(s.name, s.source, Location.local(str(tmp_path / f"p-{s.name}")), Role.INPUT) for s in specs]
    assert all(r.ok for r in mover.stage_in(plain))
    assert len(calls) == 3
