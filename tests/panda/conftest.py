"""A PanDA site on the local grid: two storage endpoints laid out the way Rucio lays them out, the
job the dispatcher would send, the queuedata the site maintains, and the real Pilot 3's view of
the same queue (its InfoService, fed by a provider instead of CRIC)."""

from __future__ import annotations

import json
import os
import pwd
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest
from pilot_movers_testkit.grid import LocalGrid

from pilot_movers.checksums import Checksum
from pilot_movers.panda.rucio_paths import rucio_path
from tests.helpers import write_file

XROOTD_RSE = "LOCAL_XROOTD_DATADISK"
GRIDFTP_RSE = "LOCAL_GRIDFTP_DATADISK"


@dataclass
class Site:
    """Two storage endpoints of one site: XRootD and GridFTP, each a directory of the grid's
    servers holding files at their Rucio paths."""

    grid: LocalGrid
    name: str

    def rse_dir(self, rse: str) -> Path:
        root = self.grid.xrootd_dir if rse == XROOTD_RSE else self.grid.gridftp_dir
        return root / "rse" / self.name / rse.lower()

    def prefix(self, rse: str) -> str:
        """The endpoint's URL prefix (what the queue's ``storages`` rule says)."""
        relative = f"rse/{self.name}/{rse.lower()}"
        return self.grid.xrootd_url(relative) if rse == XROOTD_RSE else self.grid.gridftp_url(relative)

    def endpoint(self, rse: str) -> tuple[str, str]:
        """(endpoint, path): how CRIC's ddmendpoints describe it to Pilot 3."""
        url = self.prefix(rse)
        scheme, _, rest = url.partition("://")
        host, _, path = rest.partition("/")
        return f"{scheme}://{host}", "/" + path.lstrip("/")

    def path_of(self, rse: str, scope: str, lfn: str) -> Path:
        return self.rse_dir(rse) / rucio_path(scope, lfn)

    def url_of(self, rse: str, scope: str, lfn: str) -> str:
        return f"{self.prefix(rse)}/{rucio_path(scope, lfn)}"

    def seed(self, rse: str, scope: str, lfn: str, size: int, seed: int = 0) -> Checksum:
        """Put a replica on the endpoint, where Rucio would have put it."""
        path = self.path_of(rse, scope, lfn)
        checksum = write_file(path, size, seed)
        self.own(rse)
        return checksum

    def own(self, rse: str) -> None:
        """XRootD runs as nobody: it must own what it serves and where it writes."""
        if rse != XROOTD_RSE:
            return
        nobody = pwd.getpwnam("nobody")
        for path in [self.rse_dir(rse).parent, self.rse_dir(rse), *self.rse_dir(rse).rglob("*")]:
            os.chown(path, nobody.pw_uid, nobody.pw_gid)

    @property
    def storages(self) -> dict[str, str]:
        return {rse: self.prefix(rse) for rse in (XROOTD_RSE, GRIDFTP_RSE)}


@pytest.fixture
def site(request: pytest.FixtureRequest, grid: LocalGrid) -> Site:
    for server in ("xrootd", "gridftp"):
        if not grid.servers[server].running:  # a previous test may have left it down
            grid.servers[server].start()
    site = Site(grid, re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name))
    for rse in (XROOTD_RSE, GRIDFTP_RSE):
        site.rse_dir(rse).mkdir(parents=True, exist_ok=True)
        site.own(rse)
    return site


def queuedata(site: Site, acopytools: dict[str, list[str]], **own: Any) -> dict[str, Any]:
    """A queue's queuedata, shaped like CRIC's, plus this library's own section."""
    return {
        "nickname": "LOCAL_GRID_TEST",
        "panda_resource": "LOCAL_GRID_TEST",
        "atlas_site": "LOCAL",
        "state": "ACTIVE",
        "status": "online",
        "copytools": {name: {"setup": ""} for names in acopytools.values() for name in names},
        "acopytools": acopytools,
        "astorages": {"pr": [XROOTD_RSE], "pw": [XROOTD_RSE], "read_lan": [XROOTD_RSE], "write_lan": [XROOTD_RSE]},
        "maxwdir": 14336,
        "timefloor": 0,
        "maxinputsize": 0,
        "corecount": 1,
        "direct_access_lan": False,
        "direct_access_wan": False,
        "pilot_movers": {
            "storages": site.storages,
            "transfer": {"backoff_initial": 0.01, "backoff_jitter": 0.01, "watchdog_interval": 0.05},
            **own,
        },
    }


def getjob(site: Site, inputs: list[dict[str, Any]], outputs: list[str], **extra: Any) -> dict[str, Any]:
    """The dispatcher's answer for one job, in its comma-list shape."""
    log = "log.4242._000001.job.log.tgz.1"
    return {
        "PandaID": 4242000001,
        "jobPars": extra.pop("jobPars", "--maxEvents=10 --outputHITSFile=HITS.pool.root.1"),
        "transformation": "Sim_tf.py",
        "inFiles": ",".join(i["lfn"] for i in inputs),
        "fsize": ",".join(str(i["size"]) for i in inputs),
        "checksum": ",".join(f"ad:{i['checksum'].value}" for i in inputs),
        "scopeIn": ",".join(i["scope"] for i in inputs),
        "GUID": ",".join(i.get("guid", f"A0B1C2D3-0000-0000-0000-{n:012d}") for n, i in enumerate(inputs)),
        "realDatasetsIn": ",".join(i.get("dataset", "mc23_13p6TeV.801234.EVNT.e1234_tid00001_00") for i in inputs),
        "ddmEndPointIn": ",".join(i["rse"] for i in inputs),
        "prodDBlockToken": ",".join("NULL" for _ in inputs),
        "outFiles": ",".join([*outputs, log]),
        "scopeOut": ",".join("mc23_13p6TeV" for _ in outputs),
        "realDatasets": ",".join(
            [*("mc23_13p6TeV.801234.simul.HITS.e1234_s4000_tid00002_00" for _ in outputs), "mc23.log_tid00002_00"]
        ),
        "ddmEndPointOut": ",".join(XROOTD_RSE for _ in [*outputs, log]),
        "logFile": log,
        "logGUID": "F0E1D2C3-B4A5-9687-7869-5A4B3C2D1E0F",
        "scopeLog": "mc23_13p6TeV",
        "destinationSE": "LOCAL_GRID_TEST",
        "StatusCode": 0,
        **extra,
    }


class StorageProvider:
    """What Pilot 3's InfoService asks CRIC for (queuedata, ddmendpoints), answered locally."""

    def __init__(self, queue: dict[str, Any], storages: dict[str, Any]) -> None:
        self.queue, self.storages = queue, storages

    def resolve_queuedata(self, pandaqueue: str, schedconf_priority: Any = None) -> dict[str, Any]:
        return {pandaqueue: self.queue}

    def resolve_storage_data(self, ddmendpoints: Any = ()) -> dict[str, Any]:
        return self.storages


def pilot3_infosys(site: Site, queue: dict[str, Any]) -> Any:
    """Pilot 3's InfoService for the queue, its storages described the way CRIC describes them:
    the process-wide one, which parts of Pilot 3 read directly (as ``pilot.info.set_info`` does)."""
    from pilot.info import infosys

    storages = {}
    for number, rse in enumerate((XROOTD_RSE, GRIDFTP_RSE), start=1):
        endpoint, path = site.endpoint(rse)
        protocol = [{"endpoint": endpoint, "path": path, "flavour": endpoint.split(":")[0].upper(), "id": number}]
        storages[rse] = {
            "name": rse,
            "id": number,
            "type": "DATADISK",
            "is_deterministic": True,
            "arprotocols": {a: protocol for a in ("read_lan", "write_lan", "read_wan", "write_wan")},
        }
    infosys.init(queue["nickname"], extinfo=StorageProvider(queue, storages))
    return infosys


@pytest.fixture
def pilot3_registry() -> Iterator[None]:
    """Leave Pilot 3's copytool table and sys.modules as they were after each test."""
    from pilot.api.data import StagingClient

    saved = dict(StagingClient.copytool_modules)
    modules = {name for name in sys.modules if name.startswith("pilot.copytool.")}
    try:
        yield
    finally:
        StagingClient.copytool_modules.clear()
        StagingClient.copytool_modules.update(saved)
        for name in [n for n in sys.modules if n.startswith("pilot.copytool.") and n not in modules]:
            del sys.modules[name]


@pytest.fixture(autouse=True)
def no_rucio_traces(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pilot 3 would POST each trace to CERN's Rucio: nothing leaves this machine."""
    monkeypatch.setenv("PILOT_USE_RUCIO_TRACES", "False")


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data, indent=2))
    return path
