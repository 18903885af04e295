"""PanDA queuedata as a queue config: Pilot 3's copytools per activity become movers per phase,
what no mover stands for is said, and this library's own INI/JSON keep working."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pilot_movers import QueueConfig
from pilot_movers.errors import ConfigurationError, Phase, UnknownMover
from pilot_movers.panda.queuedata import COPYTOOL_MOVERS, read_queuedata

#: The keys of a CRIC pandaqueue entry that matter here, with some that do not.
CRIC: dict[str, Any] = {
    "nickname": "CERN-PROD_UCORE",
    "panda_resource": "CERN-PROD_UCORE",
    "atlas_site": "CERN-PROD",
    "cloud": "CERN",
    "state": "ACTIVE",
    "status": "online",
    "catchall": "",
    "container_type": "singularity:pilot",
    "copytools": {"rucio": {"setup": ""}, "xrdcp": {"setup": "/cvmfs/atlas.cern.ch/xrootd/setup.sh"}, "gfalcopy": {}},
    "acopytools": {"pr": ["rucio", "xrdcp"], "pw": ["gfalcopy"], "pl": ["rucio"]},
    "astorages": {"pr": ["CERN-PROD_DATADISK"], "pw": ["CERN-PROD_DATADISK"]},
    "acopytools_schemas": {},
    "maxwdir": 14336,
    "timefloor": "60",
    "maxinputsize": 14336,
    "corecount": 8,
    "direct_access_lan": True,
}


def test_a_queuedata_json_selects_movers_per_activity(tmp_path: Path):
    path = tmp_path / "queuedata.json"
    path.write_text(json.dumps(CRIC))
    queue = QueueConfig.load(path)
    assert queue.mover_names(Phase.STAGE_IN) == ("xrootd",)
    assert queue.mover_names(Phase.STAGE_OUT) == ("gridftp",)
    notes = "\n".join(queue.notes)
    assert "acopytools.pr: copytool 'rucio' skipped (stage-in): no mover does what rucio does" in notes
    assert "registers outputs there" in notes
    assert "copytools.xrdcp.setup = '/cvmfs/atlas.cern.ch/xrootd/setup.sh' is not sourced" in notes

    read = read_queuedata(CRIC)
    assert read.name == "CERN-PROD_UCORE"
    assert read.limits["maxwdir"] == 14336 and read.limits["timefloor"] == 60
    assert read.choices[Phase.STAGE_IN].source == "acopytools.pr"


@pytest.mark.parametrize(
    ("acopytools", "stage_in", "stage_out"),
    [
        ({"read_lan": ["xrdcp"], "write_lan": ["gfal"]}, ("xrootd",), ("gridftp",)),
        ({"pr": ["xrdcp", "gfal"], "w": ["mv"]}, ("xrootd", "gridftp"), ("local",)),
        ({"default": ["gfalcopy", "xrdcp"]}, ("gridftp", "xrootd"), ("gridftp", "xrootd")),
        ({"pr": ["pilot_movers"], "pw": ["xrdcp", "pilot_movers"]}, (), ()),
    ],
    ids=["lan activities", "a preference list", "default", "the integration's own name: by scheme"],
)
def test_activities_are_asked_in_pilot3s_order(acopytools, stage_in, stage_out):
    queue = QueueConfig.from_dict({**CRIC, "acopytools": acopytools})
    assert (queue.mover_names(Phase.STAGE_IN), queue.mover_names(Phase.STAGE_OUT)) == (stage_in, stage_out)


def test_without_acopytools_the_copytools_keys_are_used_as_pilot3_does():
    queue = QueueConfig.from_dict({**CRIC, "acopytools": {}, "copytools": {"rucio": {}, "xrdcp": {}}})
    assert queue.mover_names(Phase.STAGE_IN) == ("xrootd",) == queue.mover_names(Phase.STAGE_OUT)


def test_an_activity_no_mover_stands_for_is_refused_saying_what_each_copytool_is():
    with pytest.raises(UnknownMover) as caught:
        QueueConfig.from_dict({**CRIC, "acopytools": {"pr": ["rucio", "lsm", "mycp"], "pw": ["xrdcp"]}})
    error = caught.value
    assert (error.code, error.name) == (1323, "UNKNOWNCOPYTOOL")
    assert "acopytools.pr = rucio, lsm, mycp, and no mover stands for any of them" in error.message
    assert "lsm: no mover does what lsm does: it runs the site's own lsm-get/lsm-put scripts" in error.message
    assert "mycp: Pilot 3 has no copytool of that name" in error.message
    assert "pilot_movers.copytoolin" in error.message


def test_an_activity_acopytools_does_not_name_is_refused():
    with pytest.raises(ConfigurationError, match=r"names no copytool for stage-out \(looked for pw, w, write_lan"):
        QueueConfig.from_dict({**CRIC, "acopytools": {"pr": ["xrdcp"]}})


def test_the_sites_own_section_sets_movers_storages_and_settings():
    data = {
        **CRIC,
        "acopytools": {"pr": ["rucio"], "pw": ["rucio"]},
        "pilot_movers": {
            "copytool": "xrootd",
            "storages": {"CERN-PROD_DATADISK": "root://eos.example.org//eos/rucio"},
            "transfer": {"max_attempts": 5},
            "movers": {"xrootd": {}},
        },
    }
    queue = QueueConfig.from_dict(data)
    assert queue.mover_names(Phase.STAGE_IN) == ("xrootd",) == queue.mover_names(Phase.STAGE_OUT)
    assert queue.storage_url("cern-prod_datadisk") == "root://eos.example.org//eos/rucio"
    assert queue.transfer.max_attempts == 5
    with pytest.raises(ConfigurationError, match=r"\[transfer\]: unknown setting 'nope'"):
        QueueConfig.from_dict({**data, "pilot_movers": {"copytool": "xrootd", "transfer": {"nope": 1}}})


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"acopytools": "{'pr': ['xrdcp'"}, "acopytools = \"{'pr': ['xrdcp'\" is neither an object nor Python-literal"),
        ({"acopytools": {"pr": "xrdcp", "pw": [1]}}, "acopytools.pw must be a list of names"),
        ({"copytools": ["xrdcp"]}, "copytools must be an object"),
        ({"pilot_movers": ["x"]}, "pilot_movers must be an object"),
    ],
)
def test_queuedata_that_cannot_be_used_is_refused_naming_the_key(changes, words):
    with pytest.raises(ConfigurationError) as caught:
        QueueConfig.from_dict({**CRIC, **changes}, source="q.json")
    assert caught.value.message.startswith("q.json: ") and words in caught.value.message, caught.value.message


def test_a_file_of_one_queue_keyed_by_its_name_is_read(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("PANDA_QUEUE", raising=False)
    path = tmp_path / "cric_pandaqueues.json"
    path.write_text(json.dumps({"CERN-PROD_UCORE": CRIC}))
    assert QueueConfig.load(path).mover_names(Phase.STAGE_IN) == ("xrootd",)


def test_this_librarys_own_ini_and_json_keep_working(tmp_path: Path):
    ini = tmp_path / "q.ini"
    ini.write_text("[queue]\ncopytool = xrootd, gridftp\n[storages]\nCERN-PROD_DATADISK = root://eos//rucio\n")
    queue = QueueConfig.load(ini)
    assert queue.mover_names(Phase.STAGE_OUT) == ("xrootd", "gridftp") and queue.notes == ()
    assert queue.storage_url("CERN-PROD_DATADISK") == "root://eos//rucio"
    as_json = tmp_path / "q.json"
    as_json.write_text(json.dumps({"copytool": "local", "storages": {"X": "file:///data/x"}}))
    assert QueueConfig.load(as_json).mover_name(Phase.STAGE_IN) == "local"
    with pytest.raises(ConfigurationError, match=r"\[storages\] X = 'nowhere'"):
        QueueConfig.from_dict({"storages": {"X": "nowhere"}})
    with pytest.raises(ConfigurationError, match="named twice"):
        QueueConfig.from_dict({"storages": {"X": "file:///a", "x": "file:///b"}})
    with pytest.raises(UnknownMover, match="no mover named 'nope'"):
        QueueConfig.from_dict({"copytool": "xrootd, nope"})


def test_every_pilot3_copytool_is_mapped_or_explained():
    from pilot.api.data import StagingClient

    from pilot_movers.panda.queuedata import WHY_NO_MOVER

    assert set(StagingClient.copytool_modules) == set(COPYTOOL_MOVERS)
    assert {name for name, mover in COPYTOOL_MOVERS.items() if mover is None} == set(WHY_NO_MOVER)


def test_queuedata_as_pilot3_accepts_it_is_accepted_and_what_was_assumed_is_said(tmp_path: Path):
    """Python-literal text for acopytools (as CRIC's older exports give it), a float maxwdir, an
    acopytools with only its ``default`` key."""
    data = {
        **CRIC,
        "acopytools": "{'default': ['rucio', 'xrdcp']}",
        "copytools": "{'rucio': {'setup': ''}, 'xrdcp': {'setup': ''}}",
        "maxwdir": 14336.0,
        "timefloor": "sixty",
    }
    queue = read_queuedata(data)
    assert queue.choices[Phase.STAGE_IN].movers == queue.choices[Phase.STAGE_OUT].movers == ("xrootd",)
    assert queue.limits["maxwdir"] == 14336 and queue.limits["timefloor"] is None
    assert "timefloor = 'sixty' is not a number: ignored (Pilot 3 uses its default)" in queue.notes
    assert any(note.startswith("acopytools given as text: read as Pilot 3 reads it") for note in queue.notes)


def test_the_queue_is_picked_by_name_from_crics_dump_of_every_queue(tmp_path: Path, monkeypatch):
    """The CVMFS file of every queue (cric_pandaqueues.json): the queue named by --panda-queue or
    $PANDA_QUEUE; none named is refused saying how to name one; a wrong name, with close names."""
    dump = {
        name: {**CRIC, "nickname": name, "acopytools": {"pr": [tool], "pw": [tool]}}
        for name, tool in (("CERN-PROD_UCORE", "xrdcp"), ("CERN-PROD_GRID", "gfalcopy"), ("BNL_PROD", "xrdcp"))
    }
    path = tmp_path / "cric_pandaqueues.json"
    path.write_text(json.dumps(dump))
    monkeypatch.delenv("PANDA_QUEUE", raising=False)
    assert QueueConfig.load(path, queue="CERN-PROD_GRID").copytool == "gridftp"
    monkeypatch.setenv("PANDA_QUEUE", "BNL_PROD")
    assert QueueConfig.load(path).copytool == "xrootd"
    monkeypatch.delenv("PANDA_QUEUE")
    with pytest.raises(ConfigurationError, match=r"holds 3 queues: name one \(--panda-queue NAME, or \$PANDA_QUEUE\)"):
        QueueConfig.load(path)
    with pytest.raises(
        ConfigurationError, match=r"no queue named 'CERN-PROD' among its 3 \(close: CERN-PROD_GRID, CERN-PROD_UCORE\)"
    ):
        QueueConfig.load(path, queue="CERN-PROD")
