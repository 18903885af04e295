"""Downloads are sent by Apache (X-Sendfile), resume after a broken connection, and their
bandwidth reaches the user's history."""

from __future__ import annotations

import socket
import threading
import time
import zlib

import pytest
import requests
from pilot_movers_testkit.grid import free_port

from pilot_movers.errors import ServiceUnavailable
from pilot_movers.https_datahost.client import DataHostClient
from tests.datahost.conftest import read_chars, wsgi_daemon_pids
from tests.helpers import write_file

MIB = 1 << 20


def test_downloads_are_sent_by_apache_not_by_django(account, datahost, tmp_path):
    size = 64 * MIB
    expected = write_file(tmp_path / "big.bin", size, seed=11).value
    with account.client() as client:
        client.put(tmp_path / "big.bin")
        daemons = wsgi_daemon_pids(datahost)
        assert daemons, "the mod_wsgi daemon process was not found"
        before = sum(read_chars(pid) for pid in daemons)
        answer = client.session.get(
            client.base_url + "/datahost/receive/big.bin", verify=str(datahost.grid.cert_dir), stream=True
        )
        received = 0
        value = 1
        for block in answer.iter_content(MIB):
            received += len(block)
            value = zlib.adler32(block, value)
        after = sum(read_chars(pid) for pid in daemons)
    assert answer.status_code == 200 and received == size and format(value, "08x") == expected
    assert answer.headers["X-DataHost-Delivery"] == "x-sendfile"
    assert "X-Sendfile" not in answer.headers  # consumed by mod_xsendfile
    assert answer.headers["Digest"] == f"adler32={expected}"
    assert "ETag" in answer.headers and "Last-Modified" in answer.headers  # set by Apache from the file
    # The application process read a few KB (the request), never the file's 64 MiB.
    assert after - before < MIB


def test_range_requests_are_answered_by_apache(account, tmp_path):
    write_file(tmp_path / "r.bin", 100_000, seed=5)
    with account.client() as client:
        client.put(tmp_path / "r.bin")
        answer = client.session.get(
            client.base_url + "/datahost/receive/r.bin", headers={"Range": "bytes=1000-1999"}, verify=client._verify
        )
    assert answer.status_code == 206
    assert answer.headers["Content-Range"] == "bytes 1000-1999/100000"
    assert answer.content == (tmp_path / "r.bin").read_bytes()[1000:2000]


class CuttingRelay:
    """A TCP relay to the DataHost that cuts its first ``cuts`` connections after relaying
    ``after`` bytes from the server (a network that breaks mid-download)."""

    def __init__(self, target_port: int, *, after: int, cuts: int = 1) -> None:
        self.target_port = target_port
        self.after = after
        self.cuts_left = cuts
        self.connections = 0
        self.port = free_port()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self._listener.settimeout(0.2)
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                continue
            self.connections += 1
            cut = self.cuts_left > 0
            self.cuts_left -= 1 if cut else 0
            server = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pump, args=(client, server, None), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, self.after if cut else None), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket, limit: int | None) -> None:
        moved = 0
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if limit is not None and moved + len(data) > limit:
                    sink.sendall(data[: limit - moved])
                    break
                sink.sendall(data)
                moved += len(data)
        except OSError:
            pass
        for end in (source, sink):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            end.close()

    def close(self) -> None:
        self._stop.set()
        self._listener.close()


def test_a_download_cut_off_mid_way_resumes_with_range(account, datahost, tmp_path):
    size = 20 * MIB
    expected = write_file(tmp_path / "cut.bin", size, seed=21).value
    with account.client() as client:
        client.put(tmp_path / "cut.bin")
        cookies = client.cookies()
    relay = CuttingRelay(datahost.port, after=7 * MIB, cuts=1)
    try:
        with DataHostClient(
            f"localhost:{relay.port}", ca_dir=str(datahost.grid.cert_dir), cookies=cookies
        ) as through_relay:
            result = through_relay.get("cut.bin", tmp_path / "cut.copy")
    finally:
        relay.close()
    assert result.resumed == 1 and relay.connections == 2
    assert result.verified and result.adler32 == expected and result.size == size
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    ranged = datahost.logged("cut.bin", '" 206 ')
    assert ranged, "the resumed request was not a Range request answered 206"


def test_a_download_that_keeps_breaking_fails_transiently_and_leaves_nothing(account, datahost, tmp_path):
    write_file(tmp_path / "flaky.bin", 4 * MIB, seed=22)
    with account.client() as client:
        client.put(tmp_path / "flaky.bin")
        cookies = client.cookies()
    relay = CuttingRelay(datahost.port, after=MIB, cuts=100)
    try:
        with (
            DataHostClient(f"localhost:{relay.port}", ca_dir=str(datahost.grid.cert_dir), cookies=cookies) as c,
            pytest.raises(ServiceUnavailable, match="could not be resumed") as failure,
        ):
            c.get("flaky.bin", tmp_path / "flaky.copy", resume_attempts=2)
    finally:
        relay.close()
    assert failure.value.transient
    assert list(tmp_path.iterdir()) == [tmp_path / "flaky.bin"]


def test_download_bandwidth_is_recorded_from_apaches_log(account, tmp_path):
    write_file(tmp_path / "bw.bin", 8 * MIB, seed=23)
    with account.client() as client:
        client.put(tmp_path / "bw.bin")
        client.get("bw.bin", tmp_path / "bw.copy")
        deadline = time.monotonic() + 10
        while True:
            downloads = [h for h in client.history() if h.kind == "download" and h.name == "bw.bin"]
            if (downloads and downloads[0].state == "done") or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        uploads = [h for h in client.history() if h.kind == "upload" and h.name == "bw.bin"]
    assert downloads[0].state == "done" and downloads[0].bytes == 8 * MIB
    assert downloads[0].seconds and downloads[0].seconds > 0 and downloads[0].mb_per_s and downloads[0].mb_per_s > 0
    assert uploads[0].bytes == 8 * MIB and uploads[0].mb_per_s and uploads[0].mb_per_s > 0


def test_head_gives_size_and_checksum_without_a_body(account, tmp_path):
    expected = write_file(tmp_path / "h.bin", 12345, seed=24).value
    with account.client() as client:
        client.put(tmp_path / "h.bin")
        remote = client.stat("h.bin")
        answer = requests.head(
            client.base_url + "/datahost/receive/h.bin", cookies=client.cookies(), verify=client._verify
        )
    assert (remote.size, remote.adler32) == (12345, expected)
    assert answer.status_code == 200 and answer.content == b""
