"""The https mover (XRootD's WebDAV) and the datahost mover (a DataHost) against real servers:
what every transport must do."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import pytest

from pilot_movers.checksums import file_checksum
from pilot_movers.errors import DestinationExists
from pilot_movers.registry import mover_for_scheme
from pilot_movers.values import Location, Status
from tests.helpers import FAST, debris, write_file
from tests.https.conftest import GIB, Endpoint, own_by_nobody

SIZES = {"0B": 0, "1B": 1, "10MB": 10_000_000}


def test_https_davs_and_datahost_urls_go_to_their_movers_by_default():
    assert (mover_for_scheme("https"), mover_for_scheme("davs"), mover_for_scheme("datahost")) == (
        "https",
        "https",
        "datahost",
    )


def test_a_file_corrupted_on_the_server_never_lands(endpoint: Endpoint, tmp_path: Path):
    checksum = endpoint.seed("victim.dat", 2_000_000, seed=11, tmp=tmp_path)
    _flip_a_byte(endpoint.path("victim.dat"), 1_000_000)
    with endpoint.mover() as mover:
        (result,) = mover.stage_in([endpoint.download("victim.dat", tmp_path / "in" / "victim.dat", checksum=checksum)])
    assert result.status is Status.FAILED
    assert (result.error.code, result.error.name, result.error.transient) == (1171, "GETADMISMATCH", False)
    assert len(result.attempts) == 1, "a source that is not what the job expects is not retried"
    assert list((tmp_path / "in").iterdir()) == [], "neither the file nor a partial copy is left"


def test_a_datahost_file_rotted_in_place_is_caught_by_the_checksum_recorded_at_upload(datahost, grid, tmp_path: Path):
    """Bit rot that keeps the file's size and time: the job expects no checksum, but the DataHost
    recorded one when the file was stored, and the download is compared with it (a damaged copy
    is retried, then fails; it never lands)."""
    endpoint = Endpoint("datahost", grid, f"rot-{os.getpid()}-{time.monotonic_ns()}", datahost)
    endpoint.seed("rotten.dat", 500_000, seed=5, tmp=tmp_path)
    path = endpoint.path("rotten.dat")
    before = path.stat()
    _flip_a_byte(path, 1234)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    with endpoint.mover() as mover:
        (result,) = mover.stage_in([endpoint.download("rotten.dat", tmp_path / "in" / "rotten.dat")])
    assert (result.status, result.error.name) == (Status.FAILED, "GETADMISMATCH")
    assert "the server recorded" in result.error.message
    assert len(result.attempts) == FAST.max_attempts and result.attempts[0].error.transient
    assert list((tmp_path / "in").iterdir()) == []


def test_an_unauthorised_proxy_is_refused_as_an_authentication_error_and_not_retried(
    endpoint: Endpoint, tmp_path: Path
):
    endpoint.seed("secret.dat", 1000, tmp=tmp_path)
    with endpoint.mover(proxy=endpoint.grid.unauthorised_proxy) as mover:
        (down,) = mover.stage_in([endpoint.download("secret.dat", tmp_path / "secret.dat")])
        source = tmp_path / "o.dat"
        write_file(source, 5_000_000)  # large enough that the refusal comes while the body is sent
        (up,) = mover.stage_out([endpoint.upload(source, "o.dat")])
    assert (down.error.code, down.error.name, down.error.transient) == (1338, "STAGEINAUTHENTICATIONFAILURE", False)
    assert (up.error.code, up.error.name, up.error.transient) == (1383, "STAGEOUTAUTHENTICATIONFAILURE", False)
    assert len(down.attempts) == len(up.attempts) == 1
    assert not (tmp_path / "secret.dat").exists() and not endpoint.path("o.dat").exists()
    assert endpoint.server_debris() == [] and debris(tmp_path) == []


def test_a_rename_never_replaces_a_file_that_appeared_meanwhile(endpoint: Endpoint, tmp_path: Path):
    """The engine's last step, placing the verified copy, against a file another writer put at
    the destination after the job looked: refused, the other file intact."""
    endpoint.seed("copy.tmp", 10, seed=1, tmp=tmp_path)
    theirs = endpoint.seed("final.dat", 20, seed=2, tmp=tmp_path)
    with endpoint.mover() as mover:
        source, target = Location.parse(endpoint.url("copy.tmp")), Location.parse(endpoint.url("final.dat"))
        with pytest.raises(DestinationExists):
            mover.namespace(target).rename(source, target, overwrite=False)
        mover.namespace(source).remove(source)
    assert file_checksum(endpoint.path("final.dat")) == theirs
    assert not endpoint.path("copy.tmp").exists()


def test_xrdhttp_ignores_overwrite_f_which_is_why_the_namespace_looks_first(xrootd_https, tmp_path: Path):
    """RFC 4918 says a MOVE with ``Overwrite: F`` onto an existing file must fail (412); XRootD's
    HTTPS replaces the file. Trusting the header on such a server would lose data: ``auto``
    looks first on XRootD. (When this test fails, XRootD honours the header: revisit ``auto``.)"""
    grid = xrootd_https
    endpoint = Endpoint("https", grid, f"overwrite-{os.getpid()}-{time.monotonic_ns()}")
    endpoint.storage.mkdir()
    own_by_nobody(endpoint.storage)
    endpoint.seed("a", 10, seed=1, tmp=tmp_path)
    replaced = endpoint.seed("b", 20, seed=2, tmp=tmp_path)
    with endpoint.mover(no_clobber="server") as trusting:
        a, b = Location.parse(endpoint.url("a")), Location.parse(endpoint.url("b"))
        trusting.namespace(a).rename(a, b, overwrite=False)
    assert file_checksum(endpoint.path("b")) != replaced, "XRootD honoured Overwrite: F"


def test_a_download_cut_by_a_server_crash_is_resumed_with_range_and_leaves_no_partial_file(
    endpoint: Endpoint, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    """The server is killed (SIGKILL) with part of a 1 GiB file received, and started again a
    second later: the same attempt resumes where it broke off (Range), the file arrives whole and
    verified, and no partial file is left anywhere."""
    checksum = endpoint.seed("big.dat", GIB, seed=7, tmp=tmp_path)
    target = tmp_path / "in" / "big.dat"
    caplog.set_level(logging.INFO, logger="pilot_movers.https_datahost")
    restarted = _kill_and_restart_when(endpoint, lambda: _partial_size(tmp_path / "in") > 200_000_000)
    with endpoint.mover() as mover:
        (result,) = mover.stage_in([endpoint.download("big.dat", target, checksum=checksum)])
    assert restarted.wait(60), "the server was never killed: the download ended too soon"
    assert result.status is Status.DONE, result.error
    assert len(result.attempts) == 1, "resumed within the attempt, not started again"
    assert any("resumption(s) with Range" in r.getMessage() for r in caplog.records), "no Range resumption"
    assert result.checksum == checksum and file_checksum(target) == checksum
    assert debris(tmp_path) == [] and endpoint.server_debris() == []


def test_an_upload_cut_by_a_server_crash_is_retried_and_leaves_nothing_behind(endpoint: Endpoint, tmp_path: Path):
    source = tmp_path / "big.dat"
    checksum = write_file(source, 400_000_000, seed=9)
    restarted = _kill_and_restart_when(endpoint, lambda: _server_partial(endpoint) > 100_000_000)
    with endpoint.mover(FAST.replace(backoff_initial=3.0, backoff_max=5.0)) as mover:
        (result,) = mover.stage_out([endpoint.upload(source, "big.dat")])
    assert restarted.wait(60), "the server was never killed: the upload ended too soon"
    assert result.status is Status.DONE, result.error
    assert len(result.attempts) >= 2 and result.attempts[0].error.transient
    assert file_checksum(endpoint.path("big.dat")) == checksum
    assert endpoint.server_debris() == []


def test_a_destination_that_refuses_writes_is_destinationnotwritable_not_an_authentication_error(
    xrootd_https, tmp_path: Path
):
    """A directory the server may read but not write (XRootD runs as nobody; the directory is
    root's, 0755): the PUT is refused with 403, but the same proxy can list the directory, so
    the destination refuses writes (9005), not the credential; never retried."""
    grid = xrootd_https
    endpoint = Endpoint("https", grid, f"readonly-{os.getpid()}-{time.monotonic_ns()}")
    endpoint.storage.mkdir(mode=0o755)
    source = tmp_path / "result.dat"
    write_file(source, 1000)
    with endpoint.mover() as mover:
        (result,) = mover.stage_out([endpoint.upload(source, "result.dat")])
    assert (result.error.code, result.error.name, result.error.scope.value) == (
        9005,
        "DESTINATIONNOTWRITABLE",
        "destination",
    )
    assert (result.error.transient, len(result.attempts)) == (False, 1)
    assert list(endpoint.storage.iterdir()) == []


def test_a_cancelled_transfer_stops_at_once_even_when_the_server_sends_nothing(endpoint: Endpoint, tmp_path: Path):
    """A request blocked in the kernel (the server stopped answering: SIGSTOP) is broken off by
    the cancel at once, not at the socket timeout."""
    import signal

    from pilot_movers.errors import TransferCancelled

    endpoint.seed("frozen.dat", 300_000_000, seed=3, tmp=tmp_path)
    mover = endpoint.mover(FAST.replace(max_attempts=1))
    pids = _server_pids(endpoint)
    stopped_at: list[float] = []

    def freeze_then_cancel() -> None:
        while _partial_size(tmp_path) < 1 and not stopped_at:
            time.sleep(0.001)
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        time.sleep(1.0)
        stopped_at.append(time.monotonic())
        engine.cancel(TransferCancelled("test: cancel"))

    from pilot_movers.engine.engine import TransferEngine
    from pilot_movers.errors import Phase

    engine = TransferEngine(mover, Phase.STAGE_IN)
    killer = threading.Thread(target=freeze_then_cancel, daemon=True)
    try:
        killer.start()
        (result,) = engine.run([endpoint.download("frozen.dat", tmp_path / "frozen.dat")])
        ended = time.monotonic()
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
        mover.stop()
    assert stopped_at, "the download ended before the server was frozen"
    assert ended - stopped_at[0] < 1.0, f"the cancel took {ended - stopped_at[0]:.2f} s"
    assert result.status in (Status.FAILED, Status.SKIPPED)


# -- helpers -----------------------------------------------------------------------------------


def _flip_a_byte(path: Path, offset: int) -> None:
    with open(path, "r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0xFF]))


def _partial_size(directory: Path) -> int:
    try:
        return sum(p.stat().st_size for p in directory.rglob("*.part") if p.is_file())
    except OSError:  # a temporary file renamed or removed while we looked
        return 0


def _server_partial(endpoint: Endpoint) -> int:
    try:
        return sum(
            p.stat().st_size
            for p in endpoint.storage.iterdir()
            if p.is_file() and (p.name.endswith(".part") or p.name.startswith(".upload-"))
        )
    except OSError:
        return 0


def _kill_and_restart_when(endpoint: Endpoint, condition, delay: float = 1.0) -> threading.Event:
    """In the background: once ``condition()`` holds, kill the server (SIGKILL), wait ``delay``
    seconds, start it again on the same port."""
    done = threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if condition():
                endpoint.kill()
                time.sleep(delay)
                endpoint.start()
                done.set()
                return
            time.sleep(0.005)

    threading.Thread(target=watch, daemon=True).start()
    return done


def _server_pids(endpoint: Endpoint) -> list[int]:
    """Every process of the server (XRootD; Apache and its children, the application included)."""
    if endpoint.name == "https":
        pid = endpoint.grid.servers["xrootd"].pid
        assert pid is not None
        return [pid]
    assert endpoint.datahost is not None
    parent = int((endpoint.datahost.root / "run" / "httpd.pid").read_text().split()[0])
    group = os.getpgid(parent)
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == group:
                    pids.append(int(entry.name))
            except ProcessLookupError:
                continue
    return pids


def test_a_datahost_quota_is_noremotespace_and_refused_before_the_bytes_are_sent(datahost, grid, tmp_path: Path):
    """A DataHost user whose quota the output would exceed: NOREMOTESPACE (1333), not retried,
    and the server is asked before the body is sent (nothing stored, nothing left)."""
    from pilot_movers_testkit.ca import make_proxy

    from pilot_movers.credentials.bundle import Credentials
    from pilot_movers.registry import get_mover_class
    from pilot_movers.values import FileSpec, Role

    small = grid.ca.user(tmp_path / "small", "Small Quota User")
    proxy = make_proxy(small, tmp_path / "small-proxy.pem")
    datahost.add_user("smallquota", None, dns=[small.dn], quota=1_000_000)
    source = tmp_path / "big.dat"
    write_file(source, 5_000_000)
    target = Location.parse(f"datahost://{datahost.address}/smallquota/big.dat")
    mover = get_mover_class("datahost")(FAST)
    mover.start(Credentials(x509_proxy=str(proxy), ca_dir=str(grid.cert_dir)))
    try:
        (result,) = mover.stage_out([FileSpec("big.dat", Location.local(str(source)), target, Role.OUTPUT)])
    finally:
        mover.stop()
    error = result.error
    assert (error.code, error.name, error.transient, len(result.attempts)) == (1333, "NOREMOTESPACE", False, 1)
    assert "quota" in error.message
    assert not [p for p in datahost.files_on_disk() if p.name == "big.dat" or p.name.startswith(".upload-")]
