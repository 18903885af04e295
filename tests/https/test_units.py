"""Pure parts of the https and datahost movers, without a server: Digest headers, PROPFIND
answers, datahost:// URLs, how HTTP and TLS failures become errors, bearer tokens, options."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import requests
import urllib3

from pilot_movers import QueueConfig
from pilot_movers.checksums import Checksum
from pilot_movers.credentials.bundle import Credentials
from pilot_movers.engine.contract import FileStat
from pilot_movers.errors import (
    AuthenticationFailed,
    BadJobParameters,
    ConfigurationError,
    CredentialError,
    DestinationExists,
    NoSpace,
    Scope,
    ServiceUnavailable,
    SourceNotFound,
    TransferFailed,
)
from pilot_movers.https_datahost.datahost_locations import DataHostFile, datahost_file
from pilot_movers.https_datahost.digests import parse_digest, want_digest
from pilot_movers.https_datahost.http_errors import error_for_exception, error_for_status, http_status, tls_refusal
from pilot_movers.https_datahost.propfind import BadMultiStatus, normal_path, parse_multistatus
from pilot_movers.https_datahost.tokens import bearer_token
from pilot_movers.https_datahost.webdav import WebDAVSession
from pilot_movers.values import Location


def test_digest_headers_are_read_in_every_form_servers_send():
    assert parse_digest("adler32=0a1b2c3d") == {"adler32": Checksum("adler32", "0a1b2c3d")}
    assert parse_digest("ADLER32=a1b2c3d, md5=HUXZLQLMuI/KZ5KDcJPcOA==") == {
        "adler32": Checksum("adler32", "0a1b2c3d"),
        "md5": Checksum("md5", "1d45d92d02ccb88fca6792837093dc38"),
    }
    assert parse_digest("md5=1d45d92d02ccb88fca6792837093dc38")["md5"].value == "1d45d92d02ccb88fca6792837093dc38"
    assert parse_digest("sha-256=abc, adler32=zz, md5=!!") == {}
    assert parse_digest(None) == {}
    assert want_digest(["adler32", "md5", "adler32"]) == "adler32, md5;q=0.5"


MULTISTATUS = b"""<?xml version="1.0" encoding="utf-8"?>
<D:multistatus xmlns:D="DAV:" xmlns:lp1="DAV:" xmlns:lp3="LCGDM:">
<D:response><D:href>/data/dir/</D:href><D:propstat><D:prop>
  <lp1:getcontentlength>4096</lp1:getcontentlength>
  <lp1:resourcetype><D:collection/></lp1:resourcetype>
</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>
<D:response><D:href>/data/dir/a%20b.root</D:href><D:propstat><D:prop>
  <lp1:getcontentlength>123</lp1:getcontentlength><lp1:iscollection>0</lp1:iscollection>
</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>
<D:response><D:href>https://se.example.org:8443/data/dir/sub/</D:href><D:propstat><D:prop>
  <lp1:iscollection>1</lp1:iscollection>
</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>
<D:response><D:href>/data/dir/gone</D:href><D:status>HTTP/1.1 404 Not Found</D:status></D:response>
</D:multistatus>"""


def test_propfind_answers_give_sizes_and_directories_by_decoded_path():
    assert parse_multistatus(MULTISTATUS) == {
        "/data/dir": FileStat(4096, True),
        "/data/dir/a b.root": FileStat(123, False),
        "/data/dir/sub": FileStat(0, True),
        "/data/dir/gone": None,
    }
    assert normal_path("/a//b/./c/") == "/a/b/c"
    with pytest.raises(BadMultiStatus):
        parse_multistatus(b"<html>not webdav</html>")
    with pytest.raises(BadMultiStatus):
        parse_multistatus(b"\x00 not xml")


def test_webdav_urls_are_https_whatever_the_scheme_and_keep_their_encoding():
    assert WebDAVSession.url(Location.parse("davs://se:8443/data/f.root")) == "https://se:8443/data/f.root"
    assert WebDAVSession.url(Location.parse("https://se/data/a%20b")) == "https://se/data/a%20b"
    assert WebDAVSession.url(Location("https", "se", "/data/a b")) == "https://se/data/a%20b"


def test_datahost_urls_name_a_host_a_user_and_a_file():
    assert datahost_file(Location.parse("datahost://dh.example.org:8443/alice/run1.root")) == DataHostFile(
        "dh.example.org:8443", "alice", "run1.root"
    )
    assert datahost_file(Location.parse("datahost://dh.example.org/alice/x")).address == "dh.example.org:443"
    for bad in ("datahost://dh/alice", "datahost://dh/alice/sub/x", "datahost://dh/alice/.hidden"):
        with pytest.raises(BadJobParameters, match="DataHost"):
            datahost_file(Location.parse(bad))


def test_answers_become_errors_by_status_and_side():
    def error(status, scope=Scope.SOURCE):
        return error_for_status(status, what="GET https://se/f", endpoint="https://se", scope=scope)

    assert isinstance(error(401), AuthenticationFailed) and isinstance(error(403), AuthenticationFailed)
    assert not error(403).transient
    assert isinstance(error(404), SourceNotFound)
    assert isinstance(error(404, Scope.DESTINATION), TransferFailed)
    assert isinstance(error(412), DestinationExists)
    assert isinstance(error(507), NoSpace) and not error(507).transient
    for status in (500, 502, 503, 504, 429):
        assert isinstance(error(status), ServiceUnavailable) and error(status).transient
    assert http_status(error(409)) == 409 and not error(409).transient
    assert (
        "HTTP 500: disk on fire"
        in error_for_status(500, what="PUT x", endpoint="e", scope=Scope.DESTINATION, detail="disk on fire").message
    )


def _wrapped_like_requests(cause: Exception) -> Exception:
    """How requests reports a TLS failure: SSLError(MaxRetryError(reason=urllib3 SSLError(cause)))."""
    inner = urllib3.exceptions.SSLError(cause)
    return requests.exceptions.SSLError(urllib3.exceptions.MaxRetryError(None, "https://se/f", inner))


def test_a_refused_tls_handshake_is_authentication_but_a_broken_tls_connection_is_transient():
    refused = ssl.SSLError(1, "[SSL: TLSV1_ALERT_UNKNOWN_CA] tlsv1 alert unknown ca")
    refused.reason = "TLSV1_ALERT_UNKNOWN_CA"  # type: ignore[misc]
    assert tls_refusal(_wrapped_like_requests(refused)) is refused
    error = error_for_exception(_wrapped_like_requests(refused), address="se:443", endpoint="https://se")
    assert isinstance(error, AuthenticationFailed) and "TLS handshake" in error.message

    verify = ssl.SSLCertVerificationError(1, "certificate verify failed: unable to get local issuer certificate")
    assert isinstance(
        error_for_exception(_wrapped_like_requests(verify), address="se", endpoint="e"), AuthenticationFailed
    )

    eof = ssl.SSLEOFError(8, "EOF occurred in violation of protocol")
    broken = error_for_exception(_wrapped_like_requests(eof), address="se", endpoint="e")
    assert isinstance(broken, ServiceUnavailable) and broken.transient

    reset = requests.exceptions.ConnectionError(ConnectionResetError(104, "Connection reset by peer"))
    assert isinstance(error_for_exception(reset, address="se", endpoint="e"), ServiceUnavailable)
    assert isinstance(
        error_for_exception(requests.exceptions.ReadTimeout(), address="se", endpoint="e"), ServiceUnavailable
    )


def test_a_bearer_token_is_read_fresh_each_time_and_never_shown(tmp_path: Path):
    path = tmp_path / "bt"
    path.write_text("first.token\n")
    credentials = Credentials(bearer_token_file=str(path))
    assert bearer_token(credentials) == "first.token"
    path.write_text("second.token")
    assert bearer_token(credentials) == "second.token", "re-read, not cached"
    assert bearer_token(Credentials(bearer_token="inline", bearer_token_file=str(path))) == "inline"
    assert bearer_token(Credentials()) is None
    shown = repr(Credentials(bearer_token="s3cret-token"))
    assert "s3cret" not in shown
    path.write_text("two\nlines")
    with pytest.raises(CredentialError):
        bearer_token(credentials)
    with pytest.raises(CredentialError, match="cannot read"):
        bearer_token(Credentials(bearer_token_file=str(tmp_path / "missing")))


def test_bearer_tokens_are_found_the_wlcg_way(tmp_path: Path, monkeypatch):
    import os

    runtime = tmp_path / "run"
    runtime.mkdir()
    (runtime / f"bt_u{os.getuid()}").write_text("t")
    found = Credentials.from_environment({"XDG_RUNTIME_DIR": str(runtime)})
    assert found.bearer_token_file == str(runtime / f"bt_u{os.getuid()}")
    explicit = Credentials.from_environment({"XDG_RUNTIME_DIR": str(runtime), "BEARER_TOKEN_FILE": "/x"})
    assert explicit.bearer_token_file == "/x"
    assert Credentials.from_environment({"BEARER_TOKEN": " tok "}).bearer_token == "tok"
    assert Credentials(bearer_token="tok").environment()["BEARER_TOKEN"] == "tok"


def test_mover_options_are_checked_when_the_queue_config_is_loaded():
    queue = QueueConfig.from_dict(
        {"movers": {"https": {"auth": "token", "read_timeout": "5m", "no_clobber": "look-first"}, "datahost": {}}}
    )
    assert queue.movers["https"].read_timeout == 300.0
    assert queue.movers["https"].insecure_for_tests_only is False
    with pytest.raises(ConfigurationError, match="auth"):
        QueueConfig.from_dict({"movers": {"https": {"auth": "password"}}})
    with pytest.raises(ConfigurationError, match="verify"):
        QueueConfig.from_dict({"movers": {"https": {"verify": "no"}}})
    with pytest.raises(ConfigurationError, match="resume_attempts"):
        QueueConfig.from_dict({"movers": {"datahost": {"resume_attempts": -1}}})


def test_a_get_on_a_connection_the_server_dropped_is_sent_again_but_a_post_is_not():
    """A server that answers one request per connection and drops the connection when a second
    request arrives on it, without answering (as a busy server drops a keep-alive connection
    just as a request goes out): the GET is sent once more on a new connection; a POST is left
    to the engine, since the server may have seen it."""
    import http.server
    import threading

    from pilot_movers.https_datahost.tls import make_adapter

    class OneAnswerPerConnection(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def handle(self) -> None:
            self.handle_one_request()  # answered
            self.raw_requestline = self.rfile.readline(65537)  # the next one: dropped unanswered
            self.close_connection = True

        def _answer(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
            self.wfile.flush()

        do_GET = do_POST = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), OneAnswerPerConnection)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/f"
    session = requests.Session()
    session.mount("http://", make_adapter(2))
    try:
        assert session.get(url, timeout=5).text == "ok"
        assert session.get(url, timeout=5).text == "ok", "sent again on a new connection"
        with pytest.raises(requests.exceptions.ConnectionError, match="without response"):
            session.post(url, data=b"x", timeout=5)
        closed_port = f"http://127.0.0.1:{_free_port()}/f"
        with pytest.raises(requests.exceptions.ConnectionError):  # not a bare urllib3 error, not retried
            session.get(closed_port, timeout=5)
    finally:
        session.close()
        server.shutdown()
        server.server_close()


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
