"""Bearer tokens against a real token-accepting server: an XRootD whose HTTPS takes macaroons
(XRootD's own bearer tokens, issued to an X.509-authenticated user and accepted in
``Authorization: Bearer``, as WLCG tokens are). The mover reads the job's token file before
every request, sends no certificate with ``auth = token``, and never shows the token."""

from __future__ import annotations

import json
import logging
import os
import pwd
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from pilot_movers_testkit.grid import LocalGrid, Server, free_port

from pilot_movers.checksums import file_checksum
from pilot_movers.credentials.bundle import Credentials
from pilot_movers.registry import get_mover_class
from pilot_movers.values import FileSpec, Location, Role, Status
from tests.helpers import FAST, write_file
from tests.https.conftest import wait_for_port


@dataclass
class TokenServer:
    server: Server
    data: Path
    https_port: int

    def url(self, name: str) -> str:
        return f"https://localhost:{self.https_port}{self.data}/{name}"


@pytest.fixture(scope="module")
def token_server(grid: LocalGrid) -> Iterator[TokenServer]:
    """An XRootD of its own (HTTPS only matters here) with the macaroons plugin."""
    assert grid.host is not None and grid.user is not None
    base = grid.root / f"xrootd-tokens-{secrets.token_hex(3)}"
    data = base / "data"
    for directory in (base, data, base / "admin", base / "run", base / "certs"):
        directory.mkdir(parents=True)
    shutil.copy(grid.host.cert, base / "certs" / "hostcert.pem")
    shutil.copy(grid.host.key, base / "certs" / "hostkey.pem")
    (base / "gridmap").write_text(f'"{grid.user.dn}" griduser\n')
    (base / "authdb").write_text(f"u griduser {data} a\n")
    (base / "secret").write_text(secrets.token_hex(32) + "\n")
    port, https_port = free_port(), free_port()
    (base / "xrootd.cfg").write_text(
        f"all.export {data}\n"
        f"all.adminpath {base / 'admin'}\n"
        f"all.pidpath {base / 'run'}\n"
        "all.sitename pilot-movers-tests\n"
        f"xrd.port {port}\n"
        "xrootd.chksum adler32\n"
        f"xrd.protocol XrdHttp:{https_port} libXrdHttp.so\n"
        f"xrd.tls {base / 'certs/hostcert.pem'} {base / 'certs/hostkey.pem'}\n"
        f"xrd.tlsca certdir {grid.cert_dir}\n"
        f"http.gridmap {base / 'gridmap'}\n"
        "http.exthandler xrdmacaroons libXrdMacaroons.so\n"
        "http.header2cgi Authorization authz\n"
        f"macaroons.secretkey {base / 'secret'}\n"
        "ofs.authlib libXrdMacaroons.so\n"
        "ofs.authorize 1\n"
        f"acc.authdb {base / 'authdb'}\n"
    )
    nobody = pwd.getpwnam("nobody")
    for path in [base, *base.rglob("*")]:
        os.chown(path, nobody.pw_uid, nobody.pw_gid)
    os.chmod(base / "certs" / "hostkey.pem", 0o600)
    os.chmod(base / "secret", 0o600)
    argv = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", shutil.which("xrootd") or "xrootd"]
    argv += ["-c", str(base / "xrootd.cfg"), "-l", str(grid.logs / "xrootd-tokens.log")]
    server = Server("xrootd-tokens", port, grid.logs / "xrootd-tokens.log", argv)
    server.start()
    try:
        wait_for_port(https_port)
        yield TokenServer(server, data, https_port)
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


def _issue_token(server: TokenServer, grid: LocalGrid) -> str:
    """A macaroon for the data directory, asked for with the user's proxy (the way a user gets a
    token from an issuer, before handing it to the pilot)."""
    activities = "activity:DOWNLOAD,UPLOAD,READ_METADATA,MANAGE,DELETE,LIST,UPDATE_METADATA"
    answer = requests.post(
        server.url(""),
        headers={"Content-Type": "application/macaroon-request"},
        data=json.dumps({"caveats": [activities], "validity": "PT1H"}),
        cert=(str(grid.user_proxy), str(grid.user_proxy)),
        verify=str(grid.cert_dir),
        timeout=30,
    )
    answer.raise_for_status()
    return str(answer.json()["macaroon"])


def test_a_token_alone_moves_files_and_is_read_again_before_each_attempt(
    token_server: TokenServer, grid: LocalGrid, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    """The job starts with a token the server refuses (not retried); the token agent then writes
    a good one, and the same mover, in the same session, uses it for the next transfers."""
    caplog.set_level(logging.DEBUG)
    token = _issue_token(token_server, grid)
    token_file = tmp_path / "bt_u0"
    token_file.write_text("not-a-valid-token\n")
    credentials = Credentials(ca_dir=str(grid.cert_dir), bearer_token_file=str(token_file))  # no proxy at all
    source = tmp_path / "out.dat"
    checksum = write_file(source, 3_000_000, seed=4)
    remote = Location.parse(token_server.url("out.dat"))
    upload = FileSpec("out.dat", Location.local(str(source)), remote, Role.OUTPUT)
    mover = get_mover_class("https")(FAST, auth="token")
    mover.start(credentials)
    try:
        (refused,) = mover.stage_out([upload])
        assert (refused.error.name, refused.error.transient, len(refused.attempts)) == (
            "STAGEOUTAUTHENTICATIONFAILURE",
            False,
            1,
        )
        token_file.write_text(token + "\n")  # the token agent renewed it: read again
        (up,) = mover.stage_out([upload])
        assert (up.status, up.checksum, up.verified) == (Status.DONE, checksum, True), up.error
        (down,) = mover.stage_in([FileSpec("out.dat", remote, Location.local(str(tmp_path / "b")), Role.INPUT)])
        assert (down.status, down.checksum, down.verified) == (Status.DONE, checksum, True), down.error
        assert file_checksum(tmp_path / "b") == checksum
    finally:
        mover.stop()
    assert token not in caplog.text and token[:40] not in caplog.text


def test_with_x509_only_no_token_is_sent_and_the_token_server_refuses(token_server: TokenServer, grid, tmp_path):
    """A proxy the server does not know, and a valid token in the job: ``auth = auto`` sends the
    token and gets the file; ``auth = x509`` keeps it back and is refused (not retried)."""
    token_file = tmp_path / "bt"
    token_file.write_text(_issue_token(token_server, grid))
    write_file(token_server.data / "seeded.dat", 10)
    credentials = Credentials(
        x509_proxy=str(grid.unauthorised_proxy), ca_dir=str(grid.cert_dir), bearer_token_file=str(token_file)
    )
    outcomes = {}
    for auth in ("auto", "x509"):
        mover = get_mover_class("https")(FAST, auth=auth)
        mover.start(credentials)
        try:
            source = Location.parse(token_server.url("seeded.dat"))
            (result,) = mover.stage_in([FileSpec("s", source, Location.local(str(tmp_path / auth)), Role.INPUT)])
        finally:
            mover.stop()
        outcomes[auth] = (result.status, result.error.name if result.error else None, len(result.attempts))
    assert outcomes == {
        "auto": (Status.DONE, None, 1),
        "x509": (Status.FAILED, "STAGEINAUTHENTICATIONFAILURE", 1),
    }


def test_auth_token_without_a_token_is_a_credential_error_before_any_request(grid, tmp_path):
    from pilot_movers.errors import CredentialError

    mover = get_mover_class("https")(FAST, auth="token")
    with pytest.raises(CredentialError, match="no bearer token"):
        mover.start(Credentials(x509_proxy=str(grid.user_proxy), ca_dir=str(grid.cert_dir)))


def test_a_job_with_auth_token_needs_no_proxy(token_server: TokenServer, grid: LocalGrid, tmp_path: Path, monkeypatch):
    """Through ``Job``: a queue with ``[mover:https] auth = token`` runs with a token and no proxy
    at all (the job checks a proxy only for movers that use one)."""
    import job_params
    from pilot_movers import Job, QueueConfig

    token_file = tmp_path / "bt"
    token_file.write_text(_issue_token(token_server, grid) + "\n")
    monkeypatch.setenv("X509_CERT_DIR", str(grid.cert_dir))
    monkeypatch.setenv("BEARER_TOKEN_FILE", str(token_file))
    monkeypatch.setenv("X509_USER_PROXY", str(tmp_path / "no-such-proxy"))  # named, absent: never read
    queue = QueueConfig.from_dict({"copytool": "https", "movers": {"https": {"auth": "token"}}})
    params = job_params.parse(f"dir-out={token_server.url('job-token/')} files-out=result.dat")
    with Job(params, queue, tmp_path / "work") as job:
        job.stage_in()
        job.run_payload(["sh", "-c", "head -c 100000 /dev/urandom > result.dat"])
        (out,) = job.stage_out()
    assert out.status is Status.DONE and out.verified, out.error
