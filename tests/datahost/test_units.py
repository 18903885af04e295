"""Pure parts, without a server: certificate identities, the Apache configuration, the client's
body, answers, addresses, original command lines and session file."""

from __future__ import annotations

import email.parser
import stat
import zlib
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from datahost_server.apache import ApacheSite, render
from datahost_server.identity import IdentityError, certificate_identity, identity_of_chain
from pilot_movers_testkit.ca import make_proxy

from pilot_movers.errors import (
    AuthenticationFailed,
    ChecksumsDiffer,
    DestinationExists,
    NoSpace,
    ServiceUnavailable,
    SizeMismatch,
    SourceNotFound,
    TransferFailed,
)
from pilot_movers.https_datahost.answers import error_for_answer
from pilot_movers.https_datahost.cli import normal_address
from pilot_movers.https_datahost.multipart import MultipartBody
from pilot_movers.https_datahost.original_cli import FormError, original_argv, original_form
from pilot_movers.https_datahost.session_store import SavedSession, SessionStore


def _chain(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes())


def test_identity_of_rfc3820_legacy_and_proxy_of_proxy(credentials, tmp_path):
    user = credentials.user
    assert identity_of_chain(_chain(credentials.user_proxy)).dn == user.dn
    assert identity_of_chain(_chain(credentials.user_proxy)).kind == "rfc3820"
    legacy = make_proxy(user, tmp_path / "legacy.pem", rfc=False)
    assert identity_of_chain(_chain(legacy)).dn == user.dn
    # Only the proxy, no user certificate behind it: the proxy CNs are stripped.
    assert identity_of_chain(_chain(credentials.user_proxy)[:1]).dn == user.dn
    assert identity_of_chain(_chain(user.cert)).dn == user.dn


def test_certificate_variables_are_trusted_only_when_apache_verified_them(credentials):
    leaf, issuer = (c.public_bytes(serialization.Encoding.PEM).decode() for c in _chain(credentials.user_proxy))
    environ = {"SSL_CLIENT_VERIFY": "SUCCESS", "SSL_CLIENT_CERT": leaf, "SSL_CLIENT_CERT_CHAIN_0": issuer}
    assert certificate_identity(environ).dn == credentials.user.dn  # type: ignore[union-attr]
    assert certificate_identity({**environ, "SSL_CLIENT_VERIFY": "NONE"}) is None
    assert certificate_identity({**environ, "SSL_CLIENT_VERIFY": "FAILED:expired"}) is None
    with pytest.raises(IdentityError):
        certificate_identity({"SSL_CLIENT_VERIFY": "SUCCESS"})


def test_apache_configuration_has_what_pilots_and_people_need(tmp_path):
    site = ApacheSite(
        data_dir=tmp_path,
        port=8443,
        ca_dir=Path("/grid/certificates"),
        host_cert=Path("/grid/hostcert.pem"),
        host_key=Path("/grid/hostkey.pem"),
        python_path=Path("/src"),
        python_home=Path("/venv"),
        run_user="www-data",
    )
    text = render(site)
    for line in (
        "Listen 127.0.0.1:8443",
        "SSLVerifyClient optional",
        "SSLVerifyDepth 10",
        "SSLCACertificatePath /grid/certificates",
        "SSLOptions +StdEnvVars +ExportCertData",
        "GridSiteEnvs on",
        "GridSiteGSIProxyLimit 5",
        "LimitRequestBody 0",
        f"XSendFilePath {tmp_path / 'storage'}",
        "TypesConfig /etc/mime.types",
        "ServerName localhost",
        "User www-data",
    ):
        assert line in text, line
    assert "python-home=/venv" in text and "user=www-data" in text
    assert "Cookie" not in text  # cookies are never logged


def test_multipart_body_is_well_formed_and_checksummed(tmp_path):
    data = bytes(range(256)) * 5000
    (tmp_path / "f.bin").write_bytes(data)
    seen = []
    body = MultipartBody(
        str(tmp_path / "f.bin"),
        field="file2xmit",
        filename="f.bin",
        fields={"username": "alice"},
        progress=lambda done, total: seen.append((done, total)),
    )
    raw = b""
    while chunk := body.read(100_000):
        raw += chunk
    assert len(raw) == body.len
    message = email.parser.BytesParser().parsebytes(f"Content-Type: {body.content_type}\r\n\r\n".encode() + raw)
    parts = {part.get_param("name", header="content-disposition"): part for part in message.get_payload()}
    assert parts["username"].get_payload() == "alice"
    assert parts["file2xmit"].get_payload(decode=True) == data
    assert body.adler32 == format(zlib.adler32(data), "08x")
    assert seen[-1] == (len(data), len(data))


def test_answers_map_to_the_library_errors():
    cases = {
        (401, None): AuthenticationFailed,
        (403, "unknown_certificate"): AuthenticationFailed,
        (404, "not_found"): SourceNotFound,
        (409, "exists"): DestinationExists,
        (422, "checksum_mismatch"): ChecksumsDiffer,
        (422, "size_mismatch"): SizeMismatch,
        (507, "quota_exceeded"): NoSpace,
        (503, None): ServiceUnavailable,
        (429, "throttled"): ServiceUnavailable,
        (400, "bad_name"): TransferFailed,
    }
    for (status, reason), expected in cases.items():
        error = error_for_answer(status, {"error": "x", "reason": reason}, endpoint="https://h:1")
        assert type(error) is expected, (status, reason)
    assert error_for_answer(503, None, endpoint="e").transient
    assert not error_for_answer(507, None, endpoint="e").transient


def test_addresses_and_original_command_lines():
    assert normal_address("datahost.example.org") == "datahost.example.org:443"
    assert normal_address("https://h:8443/") == "h:8443"
    assert original_argv("datahost-ssl-put", ["h:1", "u", "c.pem", "k.pem", "f"]) == [
        "--address", "h:1", "--user", "u", "--cert", "c.pem", "--key", "k.pem", "ssl-put", "--", "f",
    ]  # fmt: skip
    assert original_argv("datahost-login", ["h:1", "u"]) == ["--address", "h:1", "--user", "u", "login", "h:1", "u"]
    assert original_argv("datahost-rm", ["h", "u", "f"])[-3:] == ["rm", "--", "f"]
    # The short forms leave the server, the user and the credential to the environment.
    assert original_argv("datahost-ssl-put", ["f"]) == ["ssl-put", "--", "f"]
    assert original_argv("datahost-login", []) == ["login"]
    # A password on the command line travels beside the arguments, never among them.
    form = original_form("datahost-login", ["h:1", "u", "s3cret"])
    assert form.password == "s3cret" and "s3cret" not in form.argv
    with pytest.raises(FormError) as refused:
        original_form("datahost-login", ["h:1", "u", "s3cret", "extra"])
    assert "s3cret" not in str(refused.value)


def test_session_store_is_private_and_keyed_by_user_and_address(tmp_path):
    store = SessionStore(tmp_path / ".datahost")
    store.save(SavedSession("h:1", "alice", {"datahost_session": "s1"}))
    store.save(SavedSession("h:2", "bob", {"datahost_session": "s2"}))
    assert stat.S_IMODE((tmp_path / ".datahost").stat().st_mode) == 0o700
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert store.get().user == "bob"  # type: ignore[union-attr]  # the last login is current
    assert store.get("h:1").cookies == {"datahost_session": "s1"}  # type: ignore[union-attr]
    store.remove(SavedSession("h:2", "bob", {}))
    assert store.get("h:2") is None and store.get() is None
