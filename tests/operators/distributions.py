"""The project's distributions built the way a packager builds them (``python -m build``: the
sdist, then the wheel from the sdist), and a fresh venv holding a base install of the pilot's."""

from __future__ import annotations

import email
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]

#: What a checkout or a test run makes beside the sources; a copy of the tree leaves it out.
NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv", "__pycache__", "*.pyc", "*.egg-info", "build", "dist", "var", ".*_cache", ".hypothesis"
)


@dataclass(frozen=True)
class Built:
    tree: Path
    """The copy of the sources it was built from."""
    sdist: Path
    wheel: Path
    output: str
    """All the build printed (its own lines and setuptools')."""


def build(source: Path, where: Path) -> Built:
    """Build ``source``'s sdist and, from it, its wheel, from a copy of the tree (nothing lands in
    the checkout). Warnings are shown as Python shows them by default, whatever the caller's
    ``PYTHONWARNINGS``."""
    tree = where / "tree"
    shutil.copytree(source, tree, ignore=NOT_SOURCES)
    out = where / "dist"
    env = {**os.environ, "PYTHONWARNINGS": "default"}
    done = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(tree)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return Built(tree, sdist, wheel, output)


def base_requirements(wheel: Path) -> list[metadata.Distribution]:
    """The installed distributions a base install of ``wheel`` needs: its requirements without
    any extra, and theirs, as this environment has them."""
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        pending = email.message_from_bytes(archive.read(name)).get_all("Requires-Dist") or []
    found: dict[str, metadata.Distribution] = {}
    while pending:
        requirement = Requirement(pending.pop())
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        key = canonicalize_name(requirement.name)
        if key not in found:
            found[key] = metadata.distribution(requirement.name)
            pending += found[key].requires or []
    return list(found.values())


def make_base_venv(venv: Path, pilot: Path, *without_requirements: Path) -> Path:
    """A fresh venv (no system site packages) with the pilot's wheel and only its base
    requirements, then each of ``without_requirements`` with none of its own. The tests run
    offline, so the requirements are copied from this environment's installed distributions
    (RECORD's files, dist-info included): pip sees them installed, nothing else is importable.
    Returns the venv's ``bin``."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout.strip()
    )
    for distribution in base_requirements(pilot):
        for file in distribution.files or []:
            source = Path(str(distribution.locate_file(file)))
            if file.parts[0] == ".." or not source.is_file():  # console scripts live elsewhere
                continue
            (site / file).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, site / file)
    pip = [sys.executable, "-m", "pip", "--python", str(python)]
    quiet = ["--no-index", "--no-deps", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "install", *quiet, str(pilot)], check=True, timeout=300)
    check = subprocess.run([*pip, "check"], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr  # the pilot's own requirements are met
    for wheel in without_requirements:
        subprocess.run([*pip, "install", *quiet, str(wheel)], check=True, timeout=300)
    return venv / "bin"
