"""What each of the project's three distributions ships (issue 20): the pilot's wheel holds the
library and its commands only; the testkit and the DataHost server are their own."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _wheel(source: Path, tmp: Path, *copied: str) -> zipfile.ZipFile:
    """Build ``source``'s wheel from a copy of what its setup.cfg needs (nothing lands in the tree)."""
    tree = tmp / "tree"
    tree.mkdir(parents=True)
    for name in copied:
        path = source / name
        if path.is_dir():
            shutil.copytree(path, tree / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy(path, tree / name)
    out = tmp / "wheels"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(tree)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = out.glob("*.whl")
    return zipfile.ZipFile(wheel)


def _entry_points(wheel: zipfile.ZipFile) -> configparser.ConfigParser:
    (name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    parser = configparser.ConfigParser()
    parser.read_string(wheel.read(name).decode())
    return parser


def test_the_pilots_wheel_holds_only_the_library_and_its_commands(tmp_path):
    wheel = _wheel(ROOT, tmp_path, "pilot_movers", "job_params", "setup.cfg", "pyproject.toml", "README.md", "LICENSE")
    packages = {name.split("/")[0] for name in wheel.namelist() if not name.split("/")[0].endswith(".dist-info")}
    assert packages == {"pilot_movers", "job_params"}
    stand_ins = [n for n in wheel.namelist() if "/testing/" in n or "emulator" in n or "testkit" in n]
    assert stand_ins == [], stand_ins
    commands = set(_entry_points(wheel)["console_scripts"])
    assert "pilot-movers" in commands and "datahost" in commands
    assert not [c for c in commands if "emulator" in c or "globusconnect" in c or c == "datahost-server"], commands


def test_the_testkit_and_the_server_are_distributions_of_their_own(tmp_path):
    testkit = _wheel(
        ROOT / "testkit", tmp_path / "testkit", "pilot_movers_testkit", "setup.cfg", "pyproject.toml", "README.md"
    )
    assert {n.split("/")[0] for n in testkit.namelist() if not n.split("/")[0].endswith(".dist-info")} == {
        "pilot_movers_testkit"
    }
    assert "pilot-movers-globusconnectpersonal" in _entry_points(testkit)["console_scripts"]
    server = _wheel(ROOT / "server", tmp_path / "server", "datahost_server", "setup.cfg", "pyproject.toml", "README.md")
    assert {n.split("/")[0] for n in server.namelist() if not n.split("/")[0].endswith(".dist-info")} == {
        "datahost_server"
    }
    assert any(n.endswith("templates/datahost/index.html") for n in server.namelist())
    assert set(_entry_points(server)["console_scripts"]) == {"datahost-server"}
