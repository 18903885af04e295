"""What the core asks of a mover instead of knowing transports itself (issue 20): the default
port of each scheme, whether its locations name a server to dial, its library's version, and
what it needs of the node; doctor uses each through the mover, a third party's included."""

from __future__ import annotations

from typing import Any, Mapping

from pilot_movers import Mover, NodeCheck
from pilot_movers.doctor import needs
from pilot_movers.doctor.movers import check_mover, check_node
from pilot_movers.registry import get_mover_class, mover_names


def test_each_built_in_mover_says_its_ports_for_its_own_schemes_only():
    for name in ("gridftp", "xrootd", "https", "datahost", "globus", "local"):
        mover = get_mover_class(name)
        assert set(mover.default_ports) <= set(mover.schemes), name
    assert needs._default_port("gsiftp") == 2811 and needs._default_port("root") == 1094
    assert needs._default_port("davs") == 443 and needs._default_port("datahost") == 443
    assert needs._default_port("myproxy") == 7512 and needs._default_port("nosuch") is None


def test_globus_endpoints_are_no_servers_to_dial():
    assert get_mover_class("globus").names_servers is False
    assert needs._names_servers("globus") is False and needs._names_servers("gsiftp") is True
    assert needs._names_servers("nosuch") is True  # unknown: looked at on the URL's own terms


def test_doctor_shows_each_movers_library_as_the_mover_says_it():
    for name in mover_names():
        library = get_mover_class(name).library()
        finding = check_mover(name)
        assert finding.status.value == "ok"
        if library is not None:
            assert finding.message == library
    assert get_mover_class("xrootd").library().startswith("XRootD ")
    assert get_mover_class("globus").library().startswith("globus_sdk ")


class NeedsAHelper(Mover):
    """A third party's mover that needs a program on the node."""

    name = "needs-helper"
    schemes = ("helper",)

    @classmethod
    def node_checks(cls, options: Any, environ: Mapping[str, str]) -> list[NodeCheck]:
        found = "HELPER" in environ
        return [NodeCheck("helper program", found, "found" if found else "no HELPER here", "install the helper")]


def test_a_movers_node_checks_become_doctor_findings(mocker):
    mocker.patch("pilot_movers.doctor.movers.get_mover_class", return_value=NeedsAHelper)
    (missing,) = check_node("needs-helper", None, {})
    assert (missing.check, missing.status.value, missing.fix) == ("helper program", "problem", "install the helper")
    (there,) = check_node("needs-helper", None, {"HELPER": "/usr/bin/helper"})
    assert there.status.value == "ok" and there.message == "found"
    assert Mover.node_checks(None, {}) == [] and Mover.library() is None and Mover.names_servers


def test_a_mover_that_cannot_run_here_adds_no_guess_about_its_servers(monkeypatch):
    """Review: without gfal2 doctor said "no port for gsiftp://, give the port in the URL", and
    without globus-sdk it dialled a Globus endpoint's name: second, wrong findings."""
    from pilot_movers.gridftp.mover import GridFTPMover

    monkeypatch.setattr(GridFTPMover, "availability_problem", classmethod(lambda cls: "no gfal2 here"))
    get_mover_class.cache_clear()  # the registry keeps what it loaded
    try:
        assert needs._names_servers("gsiftp") is False and needs._default_port("gsiftp") is None
        assert needs._names_servers("root") is True  # the others are untouched
    finally:
        monkeypatch.undo()
        get_mover_class.cache_clear()
