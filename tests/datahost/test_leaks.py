"""Nothing left behind, nothing uncounted: uploads refused at their last step, file bodies sent
where none belong, clients killed mid-body."""

from __future__ import annotations

import http.client
import os
import socket
import ssl
import time
from pathlib import Path
from typing import Optional

import requests

from tests.datahost.conftest import Account, wsgi_daemon_pids

KIB = 1 << 10
MIB = 1 << 20
BOUNDARY = "seedseedseed"


class PacedUpload:
    """A multipart upload sent at the test's pace over its own connection (http.client)."""

    def __init__(self, datahost, name: str, size: int, *, query: str = "", account: Optional[Account] = None) -> None:
        grid = datahost.grid
        context = ssl.create_default_context(capath=str(grid.cert_dir))
        headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
        if account is None:
            context.load_cert_chain(str(grid.user_proxy))
        else:
            with account.client() as client:
                cookies = client.cookies()
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
            headers["X-CSRFToken"] = cookies["csrftoken"]
            headers["Origin"] = datahost.base_url
        self.head = (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file2xmit"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        self.tail = f"\r\n--{BOUNDARY}--\r\n".encode()
        self.left = size
        self.connection = http.client.HTTPSConnection("localhost", datahost.port, context=context, timeout=60)
        self.connection.putrequest("POST", f"/datahost/transmit/{query}")
        for key, value in {**headers, "Content-Length": str(len(self.head) + size + len(self.tail))}.items():
            self.connection.putheader(key, value)
        self.connection.endheaders()
        self.connection.send(self.head)

    def send(self, count: int) -> None:
        count = min(count, self.left)
        self.connection.send(b"\x17" * count)
        self.left -= count

    def finish(self) -> http.client.HTTPResponse:
        self.send(self.left)
        self.connection.send(self.tail)
        response = self.connection.getresponse()
        response.read()
        self.connection.close()
        return response


def _user_directory(datahost, name: str) -> Path:
    """The storage directory of the user who has the file ``name`` (or its temporary file)."""
    for path in datahost.files_on_disk():
        if path.name == name:
            return path.parent
    raise AssertionError(f"no file {name} on disk")


def _temporary_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".upload-"))


def _wait_for_bytes_on_disk(directory: Path, at_least: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if sum(p.stat().st_size for p in directory.iterdir() if p.name.startswith(".upload-")) >= at_least:
            return
        time.sleep(0.05)
    raise AssertionError("the upload never reached its temporary file")


def test_uploads_refused_because_the_name_is_taken_at_the_end_leave_nothing(datahost, proxy_client, tmp_path):
    """The 2010 form names the file by its part only: the name is known once the body is in."""
    grid = datahost.grid
    cert, verify = (str(grid.user_proxy), str(grid.user_proxy)), str(grid.cert_dir)
    if "taken.bin" in [f.name for f in proxy_client.ls()]:
        proxy_client.rm("taken.bin")
    answers = []
    for _ in range(5):
        answer = requests.post(
            datahost.url("/datahost/transmit/"),
            files={"file2xmit": ("taken.bin", b"\x01" * 500 * KIB)},
            cert=cert,
            verify=verify,
        )
        answers.append((answer.status_code, answer.json().get("reason")))
    assert answers == [(201, None)] + [(409, "exists")] * 4
    assert _temporary_files(_user_directory(datahost, "taken.bin")) == []
    proxy_client.rm("taken.bin")


def test_the_loser_of_a_same_name_race_leaves_nothing(datahost, proxy_client):
    if "race.bin" in [f.name for f in proxy_client.ls()]:
        proxy_client.rm("race.bin")
    first = PacedUpload(datahost, "race.bin", 400 * KIB, query="?name=race.bin")
    second = PacedUpload(datahost, "race.bin", 400 * KIB, query="?name=race.bin")
    first.send(100 * KIB)
    second.send(100 * KIB)
    assert first.finish().status == 201
    assert second.finish().status == 409
    assert _temporary_files(_user_directory(datahost, "race.bin")) == []
    proxy_client.rm("race.bin")


def test_quotas_count_uploads_in_progress_and_the_final_check_leaves_nothing(make_account, datahost):
    account = make_account(quota=5 * MIB)
    first = PacedUpload(datahost, "a.bin", 3 * MIB, account=account)
    second = PacedUpload(datahost, "b.bin", 3 * MIB, account=account)
    first.send(2 * MIB)  # the server writes 1 MiB blocks: some of each is on disk
    second.send(3 * MIB // 2)
    directory = _settled_upload_directory(datahost, temporaries=2)
    with account.client() as client:
        (quota,) = client.listing().quotas
    on_disk = sum(p.stat().st_size for p in directory.iterdir())
    assert quota["usage_bytes"] == on_disk >= MIB  # what is on disk, uploads in progress included
    assert first.finish().status == 201
    refused = second.finish()
    assert refused.status == 507  # the final quota check, with the real sizes
    assert _temporary_files(directory) == []
    assert sum(p.stat().st_size for p in directory.iterdir()) == 3 * MIB


def _settled_upload_directory(datahost, *, temporaries: int) -> Path:
    """The directory where ``temporaries`` uploads are writing, once no byte has arrived for 0.5 s."""
    deadline = time.monotonic() + 30
    last = None
    while time.monotonic() < deadline:
        found = [p for p in datahost.files_on_disk() if p.name.startswith(".upload-")]
        sizes = sorted((str(p), p.stat().st_size) for p in found)
        if len(found) == temporaries and sizes == last:
            return found[0].parent
        last = sizes
        time.sleep(0.5)
    raise AssertionError(f"expected {temporaries} uploads in progress, saw {last}")


# -- file bodies where none belong ------------------------------------------------------------


def _forged_anonymous_headers(datahost) -> dict[str, str]:
    """What anyone can send: a csrftoken cookie of their own making and this site's Origin."""
    token = "a" * 32
    return {
        "Cookie": f"csrftoken={token}",
        "X-CSRFToken": token,
        "Origin": datahost.base_url,
        "Referer": datahost.url(),
    }


def test_no_address_but_uploads_takes_a_file_part(account, datahost):
    verify = str(datahost.grid.cert_dir)
    body = {"file2xmit": ("sneaky.bin", b"\x02" * 300 * KIB)}
    anonymous = requests.post(
        datahost.url("/datahost/login/"),
        data={"username": account.name, "password": account.password},
        files=body,
        headers=_forged_anonymous_headers(datahost),
        verify=verify,
    )
    assert anonymous.status_code == 400, anonymous.text
    assert anonymous.json()["reason"] == "bad_request" and "takes no file" in anonymous.json()["error"]
    with account.client() as client:
        for path, fields in (
            ("/datahost/delete/", {"name": "x"}),
            ("/datahost/rename/", {"name": "x", "to": "y"}),
            ("/datahost/pull/", {"url": "http://127.0.0.1:9/f"}),
            ("/datahost/logout/", {}),
        ):
            answer = client.session.post(
                datahost.url(path),
                data=fields,
                files=body,
                headers={"X-CSRFToken": client.session.cookies["csrftoken"], "Origin": datahost.base_url},
                verify=verify,
            )
            assert answer.status_code == 400 and "takes no file" in answer.json()["error"], (path, answer.text)
        assert client.whoami()["user"] == account.name  # the logout above did not happen


def test_a_client_killed_mid_body_leaves_nothing_in_any_temporary_directory(datahost):
    """A large multipart body to the login form, anonymously with a forged token: nothing of it
    may be kept, during the request or after the client is gone."""
    daemons = wsgi_daemon_pids(datahost)
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="username"\r\n\r\nnobody\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file2xmit"; filename="big.bin"\r\n\r\n'
    ).encode()
    size = 12 << 20
    headers = {
        **_forged_anonymous_headers(datahost),
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        "Content-Length": str(len(head) + size),
    }
    context = ssl.create_default_context(capath=str(datahost.grid.cert_dir))
    raw = socket.create_connection(("127.0.0.1", datahost.port))
    connection = context.wrap_socket(raw, server_hostname="localhost")
    request = f"POST /datahost/login/ HTTP/1.1\r\nHost: {datahost.address}\r\n"
    request += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    seen: set[str] = set()
    try:
        connection.sendall(request.encode() + head)
        for _ in range(6):  # 6 MiB of the 12
            connection.sendall(b"\x03" * (1 << 20))
            seen |= _spooled_files(daemons)
    except OSError:
        pass  # the server may refuse the body before all of it is sent
    time.sleep(0.5)
    seen |= _spooled_files(daemons)
    connection.close()  # the client is killed mid-body
    time.sleep(2)
    assert seen == set(), f"the server spooled the body to {sorted(seen)}"
    left = [p for p in Path(datahost.root / "run").iterdir() if ".upload" in p.name]
    assert left == []


def _spooled_files(pids: list[int]) -> set[str]:
    """Files the application processes hold open that Django's upload handlers make
    (``tmpXXXX.upload.EXT``), wherever they are."""
    found = set()
    for pid in pids:
        try:
            entries = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for entry in entries:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{entry}")
            except OSError:
                continue
            if ".upload" in target and "/storage/" not in target:
                found.add(target)
    return found
