"""The mover registry: entry points, lazy loading, third-party movers, missing dependencies."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import job_params
from pilot_movers import Job, QueueConfig
from pilot_movers.errors import MoverUnavailable, UnknownMover
from pilot_movers.local.mover import LocalMover
from pilot_movers.registry import describe_movers, get_mover, get_mover_class
from pilot_movers.values import Status

THIRDPARTY = Path(__file__).parent / "thirdparty"


@pytest.fixture(scope="module")
def thirdparty_site(tmp_path_factory):
    """The throwaway distribution 'thirdparty-teleport', really installed (pip) into a directory."""
    root = tmp_path_factory.mktemp("thirdparty")
    source = root / "src"
    shutil.copytree(THIRDPARTY, source)
    site = root / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-build-isolation",
            "--no-index",
            "--no-deps",
            "--target",
            str(site),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    return site


@pytest.fixture
def with_thirdparty(thirdparty_site, monkeypatch):
    monkeypatch.syspath_prepend(str(thirdparty_site))
    get_mover_class.cache_clear()
    yield thirdparty_site
    get_mover_class.cache_clear()


def test_the_local_mover_is_registered():
    assert get_mover_class("local") is LocalMover
    assert isinstance(get_mover("local", mode="symlink"), LocalMover)


def test_an_unknown_name_is_refused_with_the_installed_names():
    with pytest.raises(UnknownMover) as caught:
        get_mover("ftp-over-carrier-pigeon")
    assert caught.value.code == 1323
    assert "local" in caught.value.message


def test_a_third_party_mover_registered_by_entry_point_runs_a_job(with_thirdparty, tmp_path):
    store = tmp_path / "store"
    (store / "se1" / "in").mkdir(parents=True)
    (store / "se1" / "in" / "x.dat").write_bytes(b"teleported bytes")
    params = job_params.parse("dir-in=tele://se1/in files-in=x.dat dir-out=tele://se1/out files-out=y.dat")
    queue = QueueConfig.from_dict({"copytool": "teleport", "movers": {"teleport": {"root": str(store)}}})
    with Job(params, queue, tmp_path / "work") as job:
        (result,) = job.stage_in()
        job.run_payload([sys.executable, "-c", "open('y.dat','wb').write(open('x.dat','rb').read()[::-1])"])
        job.stage_out()
    assert result.status is Status.DONE
    assert result.mover == "teleport"
    assert (store / "se1" / "out" / "y.dat").read_bytes() == b"setyb detropelet"
    assert job.report.ok


def test_a_third_party_scheme_is_found_without_queue_config(with_thirdparty, tmp_path):
    from pilot_movers.registry import mover_for_scheme

    assert mover_for_scheme("tele") == "teleport"


def test_a_missing_optional_dependency_names_the_extra_to_install(with_thirdparty):
    with pytest.raises(MoverUnavailable) as caught:
        get_mover("broken")
    assert caught.value.code == 1211
    assert caught.value.message == (
        "the 'broken' mover needs the Python module 'no_such_module_anywhere', which is not installed: "
        "pip install 'thirdparty-teleport[fancy]'."
    )


def test_the_cli_lists_movers_and_says_which_cannot_run(thirdparty_site):
    import os

    env = {**os.environ, "PYTHONPATH": str(thirdparty_site)}
    out = subprocess.run(
        [sys.executable, "-m", "pilot_movers", "movers", "--json"], env=env, capture_output=True, text=True, check=True
    ).stdout
    movers = {m["name"]: m for m in json.loads(out)}
    assert movers["local"]["usable"] is True
    assert movers["teleport"]["usable"] is True
    assert movers["teleport"]["schemes"] == ["tele"]
    assert movers["broken"]["usable"] is False
    assert "pip install 'thirdparty-teleport[fancy]'" in movers["broken"]["problem"]
    assert {m.name for m in describe_movers()} >= {"local"}


def test_loading_a_transport_leaves_the_callers_signal_mask_alone():
    """gfal2 blocks every signal in the thread that makes a context: a pilot (and the payload it
    starts) must stay able to receive SIGTERM after loading any mover, by name or by import."""
    code = (
        "import signal\n"
        "from pilot_movers.registry import get_mover_class\n"
        "for name in ('gridftp', 'xrootd', 'local'): get_mover_class(name)\n"
        "import pilot_movers.gridftp.mover as m\n"
        "m.new_context()\n"
        "print(sorted(signal.pthread_sigmask(signal.SIG_BLOCK, [])))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_gfal2_install_hint_says_what_works_without_claiming_pypi_has_nothing():
    """Issue 24: gfal2-python is on PyPI as a source package; the hint said it was not on PyPI."""
    from importlib import metadata

    from pilot_movers.registry import _install_sentence

    entry_point = metadata.EntryPoint("gridftp", "pilot_movers.gridftp.mover:GridFTPMover", "pilot_movers.movers")
    said = _install_sentence("gridftp", entry_point, ImportError("No module named 'gfal2'", name="gfal2"))
    assert "apt install python3-gfal2" in said and "dnf install python3-gfal2" in said
    assert "source package" in said and "libgfal2's headers" in said and "not on PyPI" not in said
