"""Uploads stream to a temporary file that only a complete upload turns into a file."""

from __future__ import annotations

import socket
import ssl
import time

from pilot_movers_testkit.datahost import DataHost

MIB = 1 << 20


def _pilot_socket(datahost: DataHost) -> ssl.SSLSocket:
    grid = datahost.grid
    context = ssl.create_default_context(capath=str(grid.cert_dir))
    context.load_cert_chain(str(grid.user_proxy))
    raw = socket.create_connection(("127.0.0.1", datahost.port))
    return context.wrap_socket(raw, server_hostname="localhost")


def _temporary_files(datahost: DataHost) -> list[str]:
    return [p.name for p in datahost.files_on_disk() if p.name.startswith(".upload-")]


def test_client_disconnect_mid_upload_leaves_no_partial_or_temporary_file(datahost, proxy_client):
    declared = 200 * MIB
    boundary = "cutcutcut"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file2xmit"; filename="cut.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    request = (
        "POST /datahost/transmit/?name=cut-off.bin HTTP/1.1\r\nHost: localhost\r\nX-DataHost-Client: test\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {declared + len(head) + 64}\r\n\r\n"
    ).encode()
    connection = _pilot_socket(datahost)
    connection.sendall(request + head)
    block = b"\x5a" * MIB
    seen_temporary = False
    for _ in range(40):  # up to 40 MiB, until the server shows it is writing
        connection.sendall(block)
        if _temporary_files(datahost):
            seen_temporary = True
            break
    assert seen_temporary, "the upload never reached a temporary file"
    connection.close()  # the client goes away mid-upload

    deadline = time.monotonic() + 20
    while _temporary_files(datahost) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _temporary_files(datahost) == []
    assert "cut-off.bin" not in [f.name for f in proxy_client.ls()]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        failed = [h for h in proxy_client.history() if h.kind == "upload" and h.name == "cut-off.bin"]
        if failed and failed[0].state == "failed":
            break
        time.sleep(0.2)
    assert failed[0].state == "failed" and "stopped sending" in (failed[0].error or "")


def test_upload_records_bytes_seconds_and_bandwidth(account, tmp_path):
    from tests.helpers import write_file

    write_file(tmp_path / "u.bin", 16 * MIB, seed=31)
    with account.client() as client:
        result = client.put(tmp_path / "u.bin")
        record = next(h for h in client.history() if h.kind == "upload" and h.name == "u.bin")
    assert result.mb_per_s > 0 and result.server_seconds > 0
    assert (record.state, record.bytes) == ("done", 16 * MIB)
    assert record.seconds and record.mb_per_s and abs(record.mb_per_s - result.mb_per_s) < 0.01
