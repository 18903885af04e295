"""What each of the project's three distributions ships (issue 20): the pilot's wheel holds the
library and its commands only; the testkit and the DataHost server are their own. The pilot's
sdist carries what a distribution packager needs to run the tests and what the README links to,
and no build warns of anything deprecated (issue 24)."""

from __future__ import annotations

import configparser
import re
import tarfile
import zipfile

from tests.operators.distributions import Built


def _entry_points(wheel: zipfile.ZipFile) -> configparser.ConfigParser:
    (name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    parser = configparser.ConfigParser()
    parser.read_string(wheel.read(name).decode())
    return parser


def _packages(wheel: zipfile.ZipFile) -> set[str]:
    return {name.split("/")[0] for name in wheel.namelist() if not name.split("/")[0].endswith(".dist-info")}


def _sdist_files(built: Built) -> set[str]:
    """The sdist's files, relative to its top directory (``pilot_movers-0.1.0/``)."""
    with tarfile.open(built.sdist) as archive:
        return {member.name.split("/", 1)[1] for member in archive.getmembers() if member.isfile()}


def test_the_pilots_wheel_holds_only_the_library_and_its_commands(distributions: dict[str, Built]):
    wheel = zipfile.ZipFile(distributions["pilot-movers"].wheel)
    assert _packages(wheel) == {"pilot_movers", "job_params"}
    stand_ins = [n for n in wheel.namelist() if "/testing/" in n or "emulator" in n or "testkit" in n]
    assert stand_ins == [], stand_ins
    commands = set(_entry_points(wheel)["console_scripts"])
    assert "pilot-movers" in commands and "datahost" in commands
    assert not [c for c in commands if "emulator" in c or "globusconnect" in c or c == "datahost-server"], commands


def test_the_testkit_and_the_server_are_distributions_of_their_own(distributions: dict[str, Built]):
    testkit = zipfile.ZipFile(distributions["pilot-movers-testkit"].wheel)
    assert _packages(testkit) == {"pilot_movers_testkit"}
    assert "pilot-movers-globusconnectpersonal" in _entry_points(testkit)["console_scripts"]
    server = zipfile.ZipFile(distributions["pilot-movers-datahost"].wheel)
    assert _packages(server) == {"datahost_server"}
    assert any(n.endswith("templates/datahost/index.html") for n in server.namelist())
    # the page works offline: its script and the charting library it plots with are in the wheel
    for static in ("static/datahost/page.js", "static/datahost/vendor/uPlot.iife.min.js"):
        assert any(n.endswith(static) for n in server.namelist()), static
    assert set(_entry_points(server)["console_scripts"]) == {"datahost-server"}


def test_the_pilots_sdist_carries_the_docs_the_examples_and_the_tests(distributions: dict[str, Built]):
    """A packager runs the suite from the sdist, and the README's links to docs/ resolve in it."""
    built = distributions["pilot-movers"]
    files = _sdist_files(built)
    for tree in ("docs", "examples", "tests"):
        wanted = {str(p.relative_to(built.tree)) for p in (built.tree / tree).rglob("*") if p.is_file()}
        assert wanted, tree
        assert wanted <= files, sorted(wanted - files)
    scripts = {str(p.relative_to(built.tree)) for p in (built.tree / "scripts").glob("*.sh")}
    assert scripts and scripts <= files, sorted(scripts - files)
    readme = (built.tree / "README.md").read_text()
    linked = {link for link in re.findall(r"\]\(((?:docs|examples)/[^)#]*)", readme) if not link.endswith("/")}
    assert linked and linked <= files, sorted(linked - files)
    assert {"README.md", "LICENSE", "setup.cfg", "pyproject.toml"} <= files
    # what a checkout or a run makes does not travel, nor do the other distributions' trees
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc") or f.startswith(("server/", "testkit/"))]


def test_no_build_warns_of_anything_deprecated(distributions: dict[str, Built]):
    """setuptools warns (SetuptoolsDeprecationWarning) of what a later version will refuse, e.g.
    License :: classifiers beside an SPDX expression: every sdist and wheel builds without one."""
    for name, built in distributions.items():
        said = [line for line in built.output.splitlines() if re.search("deprecat", line, re.IGNORECASE)]
        assert said == [], (name, said)
