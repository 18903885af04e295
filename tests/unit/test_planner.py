"""The planner: where each file of a phase lives, and which mover moves it."""

from __future__ import annotations

import pytest

import job_params
from job_params import JobParamsError
from pilot_movers import Location, QueueConfig, Role, plan
from pilot_movers.errors import ConfigurationError, Phase
from tests.doubles import StandInCatalog

SCHEMES = {
    "local": ("file",),
    "gridftp": ("gsiftp", "davs"),
    "xrootd": ("root",),
    "globus": ("globus",),
}
DEFAULTS = {"file": "local", "gsiftp": "gridftp", "root": "xrootd", "globus": "globus", "davs": "gridftp"}
#: Installed movers as the planner sees them, without the registry.
CATALOG = StandInCatalog(SCHEMES.__getitem__, DEFAULTS.__getitem__)


def specs(text, phase=Phase.STAGE_IN, queue=None, **queue_values):
    queue = queue or QueueConfig(**queue_values)
    return plan(job_params.parse(text), queue, "/work", phase, catalog=CATALOG)


def test_local_mode_reads_from_a_local_directory_with_the_local_mover():
    text = "in-mode=local dir-in=/shared/data files-in=a,b out-mode=local dir-out=/shared/out files-out=c"
    (a, b) = specs(text)
    assert (a.mover.name, b.mover.name) == ("local", "local")
    assert b.spec.source == Location.local("/shared/data/b")
    assert a.spec.source == Location.local("/shared/data/a")
    assert a.spec.destination == Location.local("/work/a")
    assert a.spec.role is Role.INPUT
    (c,) = specs(text, Phase.STAGE_OUT)
    assert (c.spec.source, c.spec.destination, c.spec.role) == (
        Location.local("/work/c"),
        Location.local("/shared/out/c"),
        Role.OUTPUT,
    )


@pytest.mark.parametrize(
    ("dir_in", "expected", "mover"),
    [
        ("gsiftp://se.example.org:2811/data/", "gsiftp://se.example.org:2811/data/f.root", "gridftp"),
        ("root://se.example.org:1094//data", "root://se.example.org:1094//data/f.root", "xrootd"),
        ("davs://se.example.org:8443/data", "davs://se.example.org:8443/data/f.root", "gridftp"),
        ("file:///data", "file:///data/f.root", "local"),
    ],
)
def test_a_url_directory_is_used_as_is_and_its_scheme_picks_the_mover(dir_in, expected, mover):
    (planned,) = specs(f"dir-in={dir_in} files-in=f.root")
    assert planned.spec.source.url == expected
    assert planned.mover.name == mover


def test_a_plain_path_joins_the_storage_element_or_else_the_globus_endpoint():
    text = "globus-endpoint-in=mxp#SRC dir-in=/data files-in=f"
    (via_se,) = specs(text, se="root://se:1094")
    assert via_se.spec.source.url == "root://se:1094//data/f"
    (via_globus,) = specs(text)
    assert via_globus.spec.source == Location("globus", "mxp#SRC", "/data/f")
    assert via_globus.mover.name == "globus"


def test_the_endpoint_wins_over_the_storage_element_when_the_phase_mover_serves_globus():
    (planned,) = specs("globus-endpoint-in=mxp#SRC dir-in=/data files-in=f", se="root://se:1094", copytool="globus")
    assert planned.spec.source == Location("globus", "mxp#SRC", "/data/f")


def test_copyprefix_rewrites_the_storage_element_per_phase():
    queue = QueueConfig(
        se="srm://se.example.org:8443/srm/managerv2?SFN=",
        copyprefix="^srm://se.example.org:8443/srm/managerv2?SFN=^root://se.example.org:1094/",
        copyprefixin="^srm://se.example.org:8443/srm/managerv2?SFN=^gsiftp://se.example.org:2811/",
    )
    text = "dir-in=/in files-in=a dir-out=/out files-out=b"
    (a,) = specs(text, queue=queue)
    (b,) = specs(text, Phase.STAGE_OUT, queue=queue)
    assert a.spec.source.url == "gsiftp://se.example.org:2811/in/a"
    assert b.spec.destination.url == "root://se.example.org:1094//out/b"


def test_a_plain_path_with_nowhere_to_resolve_it_is_an_error():
    with pytest.raises(JobParamsError, match="needs a storage element URL"):
        specs("dir-out=/results files-out=f", Phase.STAGE_OUT)


def test_sendjob_data_goes_to_the_output_directory():
    planned = specs("--Data=h1.root,h2.root --OutputGO=mxp#DST:/results/", Phase.STAGE_OUT)
    assert [(p.spec.source.path, p.spec.destination.url, p.mover.name) for p in planned] == [
        ("/work/h1.root", "mxp#DST:/results/h1.root", "globus"),
        ("/work/h2.root", "mxp#DST:/results/h2.root", "globus"),
    ]


def test_one_destination_serves_every_source():
    planned = specs("--StageinGOsrc=E:/a/x.dat,E:/b/y.dat --StageinGOdest=WN:/work/")
    assert [(p.spec.source.url, p.spec.destination.url) for p in planned] == [
        ("E:/a/x.dat", "WN:/work/x.dat"),
        ("E:/b/y.dat", "WN:/work/y.dat"),
    ]


def test_stage_in_sources_without_a_destination_land_in_the_work_dir():
    planned = specs("--StageinGOsrc=SITE1:/home/osg_data/panda/0064.file,E:/b/y.dat --WorkingendpointGO=OSGDEV")
    assert [(p.spec.source.url, p.spec.destination, p.mover.name) for p in planned] == [
        ("SITE1:/home/osg_data/panda/0064.file", Location.local("/work/0064.file"), "globus"),
        ("E:/b/y.dat", Location.local("/work/y.dat"), "globus"),
    ]


def test_two_files_written_to_the_same_place_is_an_error():
    with pytest.raises(JobParamsError, match="two files would be written"):
        specs("--StageinGOsrc=E:/a/x,E:/b/x --StageinGOdest=WN:/w/")
    assert len(specs("dir-in=/a files-in=x --StageinGOsrc=E:/b/x --StageinGOdest=WN:/work/", se="gsiftp://h:1")) == 2


def test_a_queue_mover_that_cannot_handle_the_url_is_refused_naming_both():
    with pytest.raises(ConfigurationError) as caught:
        specs("dir-in=gsiftp://se:2811/data files-in=a", copytool="xrootd")
    assert caught.value.name == "BADQUEUECONFIGURATION"
    assert "copytool = xrootd" in caught.value.message
    assert "gsiftp://se:2811/data/a" in caught.value.message


def test_the_planner_needs_no_work_dir_on_disk(tmp_path):
    missing = tmp_path / "not-yet"
    (planned,) = plan(
        job_params.parse("dir-in=root://se:1094//d files-in=a"),
        QueueConfig(),
        str(missing),
        Phase.STAGE_IN,
        catalog=CATALOG,
    )
    assert planned.spec.destination.path == f"{missing}/a"
    assert not missing.exists()


def test_an_alternative_end_whose_mover_cannot_run_here_is_left_out_but_the_files_own_is_its_error():
    from pilot_movers import FileSpec, MoverUnavailable
    from pilot_movers.planner import planned_file

    no_gfal2 = StandInCatalog(SCHEMES.__getitem__, DEFAULTS.__getitem__, unusable={"gridftp"})
    here = Location.local("/work/f")
    root, gsiftp = Location.parse("root://a:1094//d/f"), Location.parse("gsiftp://b:2811/d/f")
    planned = planned_file(FileSpec("f", root, here, Role.INPUT, alternatives=(gsiftp,)), Phase.STAGE_IN, (), no_gfal2)
    assert (planned.mover.name, planned.spec.source, planned.spec.alternatives) == ("xrootd", root, ())
    with pytest.raises(MoverUnavailable, match="'gridftp' mover cannot run here"):
        planned_file(FileSpec("f", gsiftp, here, Role.INPUT, alternatives=(root,)), Phase.STAGE_IN, (), no_gfal2)
