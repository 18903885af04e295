"""The HTCondor plugin driven as HTCondor's starter drives it, against the local grid (GridFTP,
XRootD's root:// and https://) and a DataHost: every scheme up and down in one call each, a
missing source, a corrupt source, a server down, a SIGTERM mid-call."""

from __future__ import annotations

import signal
import socket
import time
import zlib
from pathlib import Path

import classad2

from tests.helpers import write_file
from tests.htcondor.starter import Call, plugin_program
from tests.servers import DATAHOST_USER


def adler32(path: Path) -> str:
    return f"{zlib.adler32(path.read_bytes()) & 0xFFFFFFFF:08x}"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_classad_lists_the_schemes_of_the_installed_movers(grid):
    import subprocess

    done = subprocess.run([plugin_program(), "-classad"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    ad = classad2.parseOne(done.stdout, classad2.ParserType.Old)
    assert ad["MultipleFileSupport"] is True and ad["PluginType"] == "FileTransfer"
    assert ad["ProtocolVersion"] == 4 and isinstance(ad["PluginVersion"], str)
    methods = ad["SupportedMethods"].split(",")
    assert {"gsiftp", "root", "https", "davs", "datahost"} <= set(methods), methods
    assert "file" not in methods  # the starter's own


def test_every_scheme_up_then_down_in_one_call_each(grid, datahost, tmp_path):
    stamp = time.monotonic_ns()
    remote = {
        "gsiftp": grid.gridftp_url(f"condor-{stamp}/"),
        "root": grid.xrootd_url(f"condor-{stamp}/"),
        "https": grid.https_url(f"condor-{stamp}/"),
        "datahost": f"datahost://{datahost.address}/{DATAHOST_USER}/",
    }
    outputs = tmp_path / "outputs"
    files = []
    for seed, (scheme, base) in enumerate(remote.items()):
        local = outputs / f"{scheme}-{stamp}.dat"
        write_file(local, 500_000 + seed, seed=seed)
        files.append((base + local.name, str(local)))
    outputs.mkdir(exist_ok=True)
    status, results, stderr = Call(outputs, files, upload=True).run()
    assert status == 0, stderr
    assert [(r["TransferUrl"], r["TransferFileName"]) for r in results] == files
    for result, (url, local) in zip(results, files):
        assert result["TransferSuccess"] is True, result
        assert result["TransferType"] == "upload" and result["TransferProtocol"] == url.partition("://")[0]
        assert result["TransferTotalBytes"] == Path(local).stat().st_size
        assert result["TransferStartTime"] <= result["TransferEndTime"]
        assert result["DeveloperData"]["Verified"] is True, result

    inputs = tmp_path / "inputs"
    inputs.mkdir()
    wanted = [(url + f"#adler32={adler32(Path(local))}", str(inputs / Path(local).name)) for url, local in files]
    status, results, stderr = Call(inputs, wanted).run()
    assert status == 0, stderr
    movers = set()
    for result, (url, local) in zip(results, wanted):
        assert result["TransferSuccess"] is True and result["TransferType"] == "download", result
        assert result["TransferUrl"] == url  # the suffix kept, as the input ad had it
        movers.add(result["DeveloperData"]["Mover"])
        assert Path(local).read_bytes() == (outputs / Path(local).name).read_bytes()
    assert movers == {"gridftp", "xrootd", "https", "datahost"}
    assert sorted(p.name for p in inputs.iterdir() if not p.name.startswith(".")) == sorted(
        Path(local).name for _, local in wanted
    )  # no temporary name left


def test_a_missing_and_a_corrupt_source_fail_apart_from_a_good_one(grid, tmp_path):
    base = grid.gridftp_url(f"condor-bad-{time.monotonic_ns()}/")
    store = tmp_path / "store"
    write_file(store / "good.dat", 200_000, seed=1)
    write_file(store / "corrupt.dat", 200_000, seed=2)
    status, _, stderr = Call(
        store, [(base + n, str(store / n)) for n in ("good.dat", "corrupt.dat")], upload=True
    ).run()
    assert status == 0, stderr
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    wrong = "0badc0de"
    files = [
        (base + "good.dat", str(sandbox / "good.dat")),
        (base + "missing.dat", str(sandbox / "missing.dat")),
        (base + f"corrupt.dat#adler32={wrong}", str(sandbox / "corrupt.dat")),
    ]
    status, results, stderr = Call(sandbox, files).run()
    assert status == 1, stderr
    good, missing, corrupt = results
    assert good["TransferSuccess"] is True
    assert missing["TransferSuccess"] is False and "no such file" in missing["TransferError"].lower(), missing
    (error,) = missing["TransferErrorData"]
    assert error["ErrorType"] == "Specification" and error["ErrorCode"] == 1103 and error["Retryable"] == -1, error
    assert error["FailedServer"].startswith("gsiftp://"), error
    assert corrupt["TransferSuccess"] is False
    last = corrupt["TransferErrorData"][-1]
    assert last["ErrorType"] == "Transfer" and last["ErrorCode"] == 1171 and last["Retryable"] == -1, last
    assert sorted(p.name for p in sandbox.iterdir() if not p.name.startswith(".")) == ["good.dat"]


def test_a_server_down_is_a_contact_error_a_retry_may_cure(grid, tmp_path):
    queue = tmp_path / "queue.ini"
    queue.write_text("[transfer]\nmax_attempts = 2\nbackoff_initial = 0.1\nbackoff_jitter = 0\n")
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    url = f"https://127.0.0.1:{closed_port()}/data/f.dat"
    call = Call(sandbox, [(url, str(sandbox / "f.dat"))], job_ad={"PilotMoversQueueConfig": str(queue)})
    status, (result,), stderr = call.run()
    assert status == 1, stderr
    assert result["TransferSuccess"] is False and result["DeveloperData"]["Attempts"] == 2, result
    entries = result["TransferErrorData"]
    assert len(entries) == 2, entries  # one per attempt: the queue config from the job ad was read
    assert all(e["ErrorType"] == "Contact" and e["Retryable"] == 0 and e["ErrorCode"] == 1324 for e in entries)
    assert not (sandbox / "f.dat").exists()


def test_sigterm_mid_call_reports_every_file_and_leaves_no_partial_copy(grid, tmp_path):
    source = tmp_path / "big.bin"
    write_file(source, 60_000_000, seed=5)
    small = tmp_path / "small.bin"
    write_file(small, 1000, seed=6)
    target = grid.gridftp_url(f"condor-stopped-{time.monotonic_ns()}/")
    call = Call(tmp_path, [(target + "big.bin", str(source)), (target + "small.bin", str(small))], upload=True)
    with grid.throttled("40mbit"):  # 12 s for the big file: the signal lands mid-transfer
        plugin = call.start()
        time.sleep(4)
        plugin.send_signal(signal.SIGTERM)
        _, stderr = plugin.communicate(timeout=60)
    assert plugin.returncode == 128 + signal.SIGTERM, stderr
    results = call.results()
    assert [r["TransferUrl"] for r in results] == [target + "big.bin", target + "small.bin"]
    big = results[0]
    assert big["TransferSuccess"] is False, big
    last = big["TransferErrorData"][-1]
    assert last["ErrorCode"] == 1201 and last["Retryable"] == 0, last  # SIGTERM; the job may run again
    gridftp_dir = Path(target.split(str(grid.servers["gridftp"].port), 1)[1])
    left = sorted(p.name for p in gridftp_dir.iterdir()) if gridftp_dir.exists() else []
    assert not [name for name in left if name.startswith("big.bin")], left  # nor a .part of it
