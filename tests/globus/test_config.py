"""Queue config ``[globus]`` (checked when the file is loaded), and Globus Connect Personal from a
tarball, by URL or by path, unpacked once into the cache dir."""

from __future__ import annotations

import http.server
import io
import os
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pilot_movers_testkit.globus_emulator.gcp import write_launcher

import job_params
from pilot_movers import Job, QueueConfig
from pilot_movers.errors import ConfigurationError, MoverUnavailable
from pilot_movers.globus.gcp_install import unpacked
from pilot_movers.globus.options import GlobusOptions
from tests.globus.pilots import SENDJOB, Site


def test_a_globus_section_is_read_from_ini_and_json_alike(tmp_path: Path) -> None:
    ini = tmp_path / "q.ini"
    ini.write_text(
        "[queue]\ncopytool = globus\n"
        "[globus]\ncredentials_file = /etc/pilot/globus.json\npoll_interval = 2s\ngcp_connect_timeout = 3m\n"
        "endpoints = SITE1=0b7c8a34-5e8e-4d1e-9f1a-000000000001,\n"
        "  mxp#MXP_BNL_TEST=0b7c8a34-5e8e-4d1e-9f1a-000000000002\n"
    )
    json_config = tmp_path / "q.json"
    json_config.write_text(
        '{"copytool": "globus", "globus": {"credentials_file": "/etc/pilot/globus.json", "poll_interval": 2,'
        ' "gcp_connect_timeout": 180, "endpoints": ["SITE1=0b7c8a34-5e8e-4d1e-9f1a-000000000001",'
        ' "mxp#MXP_BNL_TEST=0b7c8a34-5e8e-4d1e-9f1a-000000000002"]}}'
    )
    options = QueueConfig.load(ini).mover_options("globus")
    assert options == QueueConfig.load(json_config).mover_options("globus")
    assert isinstance(options, GlobusOptions)
    assert (options.poll_interval, options.gcp_connect_timeout) == (2.0, 180.0)
    assert options.endpoint_ids() == {
        "SITE1": "0b7c8a34-5e8e-4d1e-9f1a-000000000001",
        "mxp#MXP_BNL_TEST": "0b7c8a34-5e8e-4d1e-9f1a-000000000002",
    }
    same = tmp_path / "same.ini"
    same.write_text(ini.read_text().replace("[globus]", "[mover:globus]"))
    assert QueueConfig.load(same).mover_options("globus") == options


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[globus]\npoll_intervall = 2\n", "[globus]: unknown setting 'poll_intervall'"),
        ("[globus]\npoll_interval = 0\n", "[globus]: poll_interval = '0': must be from 0.01s to 10m"),
        ("[globus]\nendpoints = SITE1\n", "[globus] endpoints: 'SITE1' is not NAME=UUID"),
        ("[globus]\nendpoints = SITE1=not-a-uuid\n", "is not NAME=UUID"),
        ("[globus]\ngcp_path = /opt/gcp\ngcp_tarball = /opt/gcp.tgz\n", "give gcp_path or gcp_tarball, not both"),
        (
            "[globus]\npoll_interval = 1\n[mover:globus]\npoll_interval = 2\n",
            "given twice ([globus] and [mover:globus])",
        ),
    ],
)
def test_a_bad_globus_section_is_refused_at_load(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "q.ini"
    path.write_text(text)
    with pytest.raises(ConfigurationError) as caught:
        QueueConfig.load(path)
    assert message in caught.value.message


def _gcp_tarball(path: Path) -> Path:
    """A tarball laid out as Globus ships GCP, with the stand-in as its launcher."""
    launcher = write_launcher(path.parent / "build" / "globusconnectpersonal-3.2.8")
    with tarfile.open(path, "w:gz") as tar:
        tar.add(launcher.parent, arcname="globusconnectpersonal-3.2.8")
    return path


@pytest.fixture
def tarball_server(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on 127.0.0.1 serving the tarball; the paths it was asked for."""
    _gcp_tarball(tmp_path / "www" / "gcp.tgz")
    asked: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(tmp_path / "www"), **kwargs)  # type: ignore[arg-type]

        def do_GET(self) -> None:
            asked.append(self.path)
            super().do_GET()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/gcp.tgz", asked
    finally:
        server.shutdown()
        server.server_close()


def test_gcp_comes_from_a_tarball_url_unpacked_once(
    site: Site, pilot_env: dict[str, str], tarball_server: tuple[str, list[str]]
) -> None:
    url, asked = tarball_server
    site.put("SITE1", "/home/osg_data/panda/0064.file", os.urandom(1000))
    cache = site.base / "cache"
    queue = QueueConfig.from_dict(site.queue(gcp_path=None, gcp_tarball=url, gcp_cache_dir=str(cache)))
    for number in (1, 2):
        with Job(job_params.parse(SENDJOB), queue, site.base / f"job{number}") as job:
            job.stage_in()
        assert job.report is not None and job.report.error is None
    assert asked == ["/gcp.tgz"]  # downloaded and unpacked once, then reused
    (tree,) = [p for p in cache.iterdir() if p.is_dir()]
    assert (tree / "globusconnectpersonal-3.2.8" / "globusconnectpersonal").exists()
    site.assert_nothing_left()


def test_gcp_comes_from_a_tarball_file(tmp_path: Path) -> None:
    tarball = _gcp_tarball(tmp_path / "gcp.tgz")
    launcher = unpacked(str(tarball), tmp_path / "cache")
    assert launcher.name == "globusconnectpersonal" and os.access(launcher, os.X_OK)
    assert unpacked(str(tarball), tmp_path / "cache") == launcher


def test_a_tarball_that_would_write_outside_the_cache_is_refused(tmp_path: Path) -> None:
    evil = tmp_path / "evil.tgz"
    with tarfile.open(evil, "w:gz") as tar:
        member = tarfile.TarInfo("../../escaped")
        member.size = 4
        tar.addfile(member, io.BytesIO(b"evil"))
    with pytest.raises(MoverUnavailable, match="cannot be unpacked") as caught:
        unpacked(str(evil), tmp_path / "cache")
    assert caught.value.code == 1211
    assert not (tmp_path / "escaped").exists()
    with pytest.raises(MoverUnavailable, match="holds no globusconnectpersonal"):
        empty = tmp_path / "empty.tgz"
        with tarfile.open(empty, "w:gz"):
            pass
        unpacked(str(empty), tmp_path / "cache")


def test_no_gcp_anywhere_is_a_missing_installation(site: Site, pilot_env: dict[str, str]) -> None:
    queue = QueueConfig.from_dict(site.queue(gcp_path=str(site.base / "nowhere" / "globusconnectpersonal")))
    with (
        pytest.raises(MoverUnavailable, match="is not an executable globusconnectpersonal") as caught,
        Job(job_params.parse(SENDJOB), queue, site.base / "job") as job,
    ):
        job.stage_in()
    assert caught.value.code == 1211
    site.assert_nothing_left()


def test_the_example_globus_queue_config_loads() -> None:
    queue = QueueConfig.load(Path(__file__).resolve().parents[2] / "examples" / "queues" / "globus.ini")
    assert queue.copytool == "globus"
    options = queue.mover_options("globus")
    assert isinstance(options, GlobusOptions) and options.gcp_tarball


def test_doctor_names_a_gcp_tarball_without_downloading_or_unpacking_it(tmp_path: Path, site: Site) -> None:
    """Issue 24: for a Globus queue, doctor downloaded and unpacked the GCP tarball although it
    says it makes nothing."""
    import json
    import subprocess
    import sys

    cache = tmp_path / "cache"
    queue = tmp_path / "q.json"
    queue.write_text(
        json.dumps(
            site.queue(gcp_path=None, gcp_tarball="https://downloads.example.invalid/gcp.tgz", gcp_cache_dir=str(cache))
        )
    )
    done = subprocess.run(
        [sys.executable, "-m", "pilot_movers", "doctor", "--json", "--queue-config", str(queue)],
        capture_output=True,
        text=True,
        timeout=120,
        env=site.env(),
    )
    (gcp,) = [f for f in json.loads(done.stdout)["findings"] if f["check"] == "Globus Connect Personal"]
    assert gcp["status"] == "ok" and "not unpacked here yet: the first Globus job unpacks it into" in gcp["message"]
    assert not cache.exists(), "doctor fetched or unpacked nothing"
