"""Whole jobs through ``pilot-movers run`` (the real command line, in a subprocess): inputs from
a DataHost and outputs back to it, by URL and by a queue naming the host; a WebDAV job by
``davs://``; and SIGTERM in the middle of a transfer on a slow link, on both servers."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pilot_movers.checksums import file_checksum
from tests.helpers import debris, write_file
from tests.https.conftest import DATAHOST_USER, Endpoint

PAYLOAD = "cat {a} {b} > {out} && echo payload done"


def _run(params: str, queue: dict, workdir: Path, report: Path, *payload: str, timeout: float = 300):
    queue_file = workdir.parent / f"{workdir.name}-queue.json"
    queue_file.write_text(json.dumps(queue))
    command = [sys.executable, "-m", "pilot_movers", "run", "--job-params", params, "--queue-config", str(queue_file)]
    command += ["--workdir", str(workdir), "--report", str(report), "--", *payload]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("form", ["url", "queue-names-the-host"])
def test_a_job_takes_its_inputs_from_a_datahost_and_puts_its_outputs_back(datahost, grid, tmp_path: Path, form):
    """The DataHost job of the original design: the pilot's proxy maps to the DataHost user;
    ``pilot-movers run`` downloads the inputs, runs the payload and uploads the result, every file
    verified by the DataHost's recorded checksum."""
    endpoint = Endpoint("datahost", grid, f"job-{form}-{time.monotonic_ns()}", datahost)
    a, b = f"{endpoint.prefix}-a.dat", f"{endpoint.prefix}-b.dat"
    sums = [endpoint.seed("a.dat", 3_000_000, seed=1, tmp=tmp_path), endpoint.seed("b.dat", 5, seed=2, tmp=tmp_path)]
    out = f"{endpoint.prefix}-out.dat"
    if form == "url":
        where = f"datahost://{datahost.address}/{DATAHOST_USER}/"
        queue: dict = {}
    else:
        where = DATAHOST_USER
        queue = {"copytool": "datahost", "se": f"datahost://{datahost.address}/"}
    params = f"dir-in={where} files-in={a},{b} checksums-in={sums[0]},{sums[1]} dir-out={where} files-out={out}"
    work, report = tmp_path / "work", tmp_path / "report.json"
    done = _run(params, queue, work, report, "sh", "-c", PAYLOAD.format(a=a, b=b, out=out))
    assert done.returncode == 0, done.stderr
    result = json.loads(report.read_text())
    files = [f for phase in result["phases"].values() for f in phase["files"]]
    assert [(f["name"], f["status"], f["mover"], f["verified"]) for f in files] == [
        (a, "done", "datahost", True),
        (b, "done", "datahost", True),
        (out, "done", "datahost", True),
    ]
    assert files[2]["destination"] == f"datahost://{datahost.address}/{DATAHOST_USER}/{out}"
    assert file_checksum(endpoint.storage / out) == file_checksum(work / out)
    assert endpoint.server_debris() == [] and debris(work) == []


def test_a_job_reads_and_writes_webdav_by_davs_urls_with_the_https_mover(xrootd_https, tmp_path: Path):
    grid = xrootd_https
    endpoint = Endpoint("https", grid, f"davs-job-{time.monotonic_ns()}")
    endpoint.storage.mkdir()
    from tests.https.conftest import own_by_nobody

    own_by_nobody(endpoint.storage)
    sums = [endpoint.seed("a.dat", 2_000_000, seed=3, tmp=tmp_path), endpoint.seed("b.dat", 0, tmp=tmp_path)]
    davs = "davs" + endpoint.directory_url()[len("https") :]
    params = f"dir-in={davs} files-in=a.dat,b.dat checksums-in={sums[0]},{sums[1]} dir-out={davs}out/ files-out=c.dat"
    work, report = tmp_path / "work", tmp_path / "report.json"
    done = _run(params, {}, work, report, "sh", "-c", PAYLOAD.format(a="a.dat", b="b.dat", out="c.dat"))
    assert done.returncode == 0, done.stderr
    files = [f for phase in json.loads(report.read_text())["phases"].values() for f in phase["files"]]
    assert [(f["status"], f["mover"], f["verified"]) for f in files] == [("done", "https", True)] * 3
    assert file_checksum(endpoint.storage / "out" / "c.dat") == file_checksum(work / "c.dat")
    assert endpoint.server_debris() == []


@pytest.mark.parametrize("direction", ["download", "upload"])
def test_sigterm_on_a_slow_link_starts_the_cleanup_within_a_second_and_leaves_nothing(
    endpoint: Endpoint, tmp_path: Path, direction: str, gib_source
):
    """The pilot is told to stop in the middle of a 1 GiB transfer over a 200 Mbit/s link: the
    job cancels the transfer and starts its cleanup within a second, and leaves no partial file
    on either side."""
    source, _ = gib_source
    workdir = tmp_path / "work"
    if direction == "download":
        if endpoint.name == "https":
            shutil.copy(source, endpoint.path("big.dat"))
            from tests.https.conftest import own_by_nobody

            own_by_nobody(endpoint.path("big.dat"))
        else:
            assert endpoint.datahost is not None
            from pilot_movers.https_datahost.client import DataHostClient

            with DataHostClient(
                endpoint.datahost.address, ca_dir=str(endpoint.grid.cert_dir), cert=str(endpoint.grid.user_proxy)
            ) as client:
                client.put(source, f"{endpoint.prefix}-big.dat")
        remote = endpoint.url("big.dat")
        params = f"dir-in={remote.rsplit('/', 1)[0]}/ files-in={remote.rsplit('/', 1)[1]}"
        payload = ["true"]

        def partial() -> int:
            return _size_of(workdir.glob("*.part")) if workdir.exists() else 0
    else:
        remote = endpoint.url("big.dat")
        name = remote.rsplit("/", 1)[1]
        params = f"dir-out={remote.rsplit('/', 1)[0]}/ files-out={name}"
        payload = ["cp", str(source), name]

        def partial() -> int:
            storage = endpoint.storage
            if not storage.exists():
                return 0
            return _size_of(p for p in storage.iterdir() if p.name.endswith(".part") or p.name.startswith(".upload-"))

    queue = tmp_path / "q.json"
    queue.write_text("{}")
    command = [sys.executable, "-m", "pilot_movers", "run", "--job-params", params, "--queue-config", str(queue)]
    command += ["--workdir", str(workdir), "--report", str(tmp_path / "r.json"), "--", *payload]
    with endpoint.grid.throttled("200mbit"):
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while partial() < 20_000_000:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the transfer never started"
            time.sleep(0.01)
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
        stopped_after = time.monotonic() - signalled
    assert process.returncode == 128 + signal.SIGTERM, err
    stamps = {}
    for line in err.splitlines():
        found = re.match(r"\S+ (\d\d):(\d\d):(\d\d),(\d\d\d) ", line)
        if found and ("SIGTERM received" in line or "cleanup started" in line):
            h, m, sec, ms = map(int, found.groups())
            stamps.setdefault("received" if "received" in line else "cleanup", h * 3600 + m * 60 + sec + ms / 1000)
    waited = stamps["cleanup"] - stamps["received"]
    assert waited < 1.0, f"the cleanup started {waited:.2f} s after SIGTERM"
    assert stopped_after < 3, f"the job took {stopped_after:.1f} s to stop"
    report = json.loads((tmp_path / "r.json").read_text())
    phase = "stage-in" if direction == "download" else "stage-out"
    assert (report["error"]["name"], report["failed_phase"]) == ("SIGTERM", phase)
    time.sleep(1)  # a server may finish removing an abandoned upload just after the client left
    assert debris(workdir) == [] and endpoint.server_debris() == []
    if direction == "download":
        assert not (workdir / "big.dat").exists()
    else:
        assert not endpoint.path("big.dat").exists()


def _size_of(paths) -> int:
    total = 0
    for path in paths:
        try:
            total += path.stat().st_size
        except OSError:
            continue
    return total


@pytest.fixture(scope="session")
def gib_source(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("https-big") / "big.dat"
    return path, write_file(path, 1 << 30, seed=17)
