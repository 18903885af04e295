"""Proxy inspection with cryptography, and the policy a job applies before it starts."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pilot_movers_testkit.ca import ORGANISATION, ThrowawayCA, make_proxy

from pilot_movers.credentials import CredentialPolicy, check_proxy, inspect_proxy
from pilot_movers.credentials.myproxy import new_proxy_path, remove_proxy, write_proxy
from pilot_movers.credentials.proxy_info import datapilot_identity
from pilot_movers.errors import ConfigurationError, NoProxy, ProxyExpired, ProxyTooShort


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return ThrowawayCA(tmp_path_factory.mktemp("ca")).create()


@pytest.fixture(scope="module")
def user(ca, tmp_path_factory):
    return ca.user(tmp_path_factory.mktemp("user"), "Test User")


def test_an_rfc3820_proxy_is_described(user, tmp_path):
    info = inspect_proxy(make_proxy(user, tmp_path / "proxy.pem", hours=12))
    assert info.kind == "rfc3820"
    assert info.identity == "/C=XX/O=GridLab/OU=Users/CN=Test User"
    assert info.issuer == info.identity
    assert info.subject.startswith(info.identity + "/CN=")
    assert 11.9 * 3600 < info.time_left() <= 12.1 * 3600
    assert (info.key_bits, info.chain_length) == (2048, 2)
    assert info.to_dict()["type"] == "rfc3820"


def test_identity_strips_proxy_cns_even_for_dns_with_several_cns(ca, tmp_path):
    cern_like = ca.issue(
        [*ORGANISATION, ("OU", "Users"), ("CN", "mxp"), ("CN", "123456"), ("CN", "Mark Person")],
        tmp_path / "cern",
        "user",
    )
    info = inspect_proxy(make_proxy(cern_like, tmp_path / "proxy.pem"))
    assert info.identity == "/C=XX/O=GridLab/OU=Users/CN=mxp/CN=123456/CN=Mark Person"
    # the 2012 dataPilot's cut at the second /CN= agrees for one-CN DNs only:
    assert datapilot_identity(info.subject) == "/C=XX/O=GridLab/OU=Users/CN=mxp"
    simple = ca.user(tmp_path / "simple", "Simple User")
    simple_info = inspect_proxy(make_proxy(simple, tmp_path / "simple.pem"))
    assert datapilot_identity(simple_info.subject) == simple_info.identity


def test_identity_without_the_user_certificate_in_the_file(user, tmp_path):
    path = make_proxy(user, tmp_path / "proxy.pem")
    pem = path.read_bytes()
    user_cert = user.cert.read_bytes()
    path.write_bytes(pem.replace(user_cert, b""))
    info = inspect_proxy(path)
    assert info.chain_length == 1
    assert info.identity == "/C=XX/O=GridLab/OU=Users/CN=Test User"


def test_a_legacy_proxy_is_recognised_and_refused_where_rfc3820_is_required(user, tmp_path):
    info = inspect_proxy(make_proxy(user, tmp_path / "legacy.pem", rfc=False))
    assert info.kind == "legacy"
    assert info.identity == "/C=XX/O=GridLab/OU=Users/CN=Test User"
    check_proxy(info, min_seconds=60)  # fine where nothing needs RFC 3820
    with pytest.raises(NoProxy) as caught:
        check_proxy(info, min_seconds=60, require_rfc3820=True)
    assert caught.value.code == 1163
    assert "RFC 3820" in caught.value.message


def test_a_proxy_shorter_than_the_job_needs_is_refused(user, tmp_path):
    info = inspect_proxy(make_proxy(user, tmp_path / "short.pem", hours=0.25))
    with pytest.raises(ProxyTooShort) as caught:
        check_proxy(info, min_seconds=3600)
    assert (caught.value.code, caught.value.name) == (1382, "PROXYTOOSHORT")
    assert "needs at least 1:00:00" in caught.value.message


def test_an_expired_proxy_is_refused(user, tmp_path):
    long_ago = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=2)
    info = inspect_proxy(make_proxy(user, tmp_path / "old.pem", hours=1, not_before=long_ago))
    assert info.time_left() < 0
    with pytest.raises(ProxyExpired) as caught:
        check_proxy(info, min_seconds=0)
    assert (caught.value.code, caught.value.name) == (1373, "CERTIFICATEHASEXPIRED")


def test_an_expired_user_certificate_expires_the_proxy_signed_with_it(ca, tmp_path):
    brief = ca.issue([*ORGANISATION, ("OU", "Users"), ("CN", "Brief")], tmp_path / "brief", "user", days=0)
    info = inspect_proxy(make_proxy(brief, tmp_path / "proxy.pem", hours=12))
    assert info.not_after < info.proxy_not_after
    assert info.expiring_subject == "/C=XX/O=GridLab/OU=Users/CN=Brief"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "no proxy file"),
        (b"hello", "no PEM certificate"),
        ("cert-only", "no private key"),
        ("wrong-key", "does not belong"),
    ],
)
def test_broken_proxy_files_say_what_is_wrong(user, ca, tmp_path, content, reason):
    path = tmp_path / "proxy.pem"
    if content == "cert-only":
        path.write_bytes(user.cert.read_bytes())
    elif content == "wrong-key":
        other = ca.user(tmp_path / "other", "Other")
        path.write_bytes(user.cert.read_bytes() + other.key.read_bytes())
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(NoProxy, match=reason):
        inspect_proxy(path)


def test_a_certificate_that_is_not_a_proxy_is_refused(user, tmp_path):
    path = tmp_path / "eec.pem"
    path.write_bytes(user.cert.read_bytes() + user.key.read_bytes())
    info = inspect_proxy(path)
    assert info.kind == "end-entity"
    with pytest.raises(NoProxy, match="not a proxy"):
        check_proxy(info, min_seconds=0)


def test_a_new_proxy_file_is_0600_and_never_replaces_one(tmp_path):
    pilot = str(tmp_path / "pilot.pem")
    first = new_proxy_path(tmp_path, pilot)
    write_proxy(first, b"one")
    second = new_proxy_path(tmp_path, pilot)
    assert first != second
    write_proxy(second, b"two")
    assert first.read_bytes() == b"one"
    assert os.stat(first).st_mode & 0o777 == 0o600
    with pytest.raises(NoProxy, match="cannot write"):
        write_proxy(first, b"three")
    assert first.read_bytes() == b"one"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first.name, second.name])
    assert remove_proxy(first) and not remove_proxy(first)


def test_a_failed_proxy_write_leaves_no_file_at_all(tmp_path):
    target = tmp_path / "ro"
    target.mkdir()
    path = new_proxy_path(target, str(tmp_path / "pilot.pem"))
    target.chmod(0o500)
    try:
        if os.access(target, os.W_OK):  # root ignores modes: make the name a directory instead
            target.chmod(0o700)
            (target / (path.name + ".part")).mkdir()
        with pytest.raises(NoProxy, match="cannot write the user's proxy"):
            write_proxy(path, b"-----BEGIN RSA PRIVATE KEY-----")
    finally:
        target.chmod(0o700)
    assert not path.exists()
    assert [p for p in target.iterdir() if p.is_file()] == [], "no file holding the key is left"


def test_the_credential_policy_reads_queue_config():
    policy = CredentialPolicy.from_options({"min_lifetime": "7200", "require_rfc3820": "yes"})
    assert (policy.min_lifetime, policy.require_rfc3820) == (7200.0, True)
    with pytest.raises(ConfigurationError, match="unknown setting"):
        CredentialPolicy.from_options({"min_lifetme": 1})


def test_proxy_info_command_prints_the_facts_for_a_site_admin(user, tmp_path):
    path = make_proxy(user, tmp_path / "proxy.pem", hours=2)
    shown = subprocess.run(
        [sys.executable, "-m", "pilot_movers", "proxy-info", str(path)], capture_output=True, text=True, check=True
    ).stdout
    assert "identity : /C=XX/O=GridLab/OU=Users/CN=Test User" in shown
    assert "type     : RFC 3820 compliant proxy" in shown
    assert "timeleft : 1:59:" in shown or "timeleft : 2:0" in shown
    as_json = json.loads(
        subprocess.run(
            [sys.executable, "-m", "pilot_movers", "proxy-info", "--json", str(path)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert as_json["identity"] == "/C=XX/O=GridLab/OU=Users/CN=Test User"
    missing = subprocess.run(
        [sys.executable, "-m", "pilot_movers", "proxy-info", str(tmp_path / "nope")], capture_output=True, text=True
    )
    assert missing.returncode == 1
    assert "NOPROXY (1163)" in missing.stderr
    long_ago = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=2)
    expired = make_proxy(user, tmp_path / "old.pem", hours=1, not_before=long_ago)
    shown = subprocess.run(
        [sys.executable, "-m", "pilot_movers", "proxy-info", str(expired)], capture_output=True, text=True
    )
    assert shown.returncode == 1
    assert "EXPIRED" in shown.stdout


def test_the_pilot_proxy_default_path_follows_globus(monkeypatch):
    from pilot_movers.credentials import default_proxy_path

    monkeypatch.delenv("X509_USER_PROXY", raising=False)
    assert default_proxy_path() == f"/tmp/x509up_u{os.getuid()}"
    monkeypatch.setenv("X509_USER_PROXY", "/somewhere/proxy")
    assert default_proxy_path() == str(Path("/somewhere/proxy"))


def test_the_reports_credentials_keep_their_json_keys_and_the_time_left_when_taken(user, tmp_path):
    from pilot_movers.credentials import CredentialsReport, MyProxySettings, RetrievedProxy

    path = make_proxy(user, tmp_path / "proxy.pem", hours=12)
    info = inspect_proxy(path)
    taken = info.not_after - datetime.timedelta(hours=2)
    facts = ["path", "subject", "issuer", "identity", "type", "not_before", "not_after", "time_left_seconds"]
    facts += ["key_bits", "chain_length"]

    pilots = CredentialsReport.from_environment(info, taken).to_dict()
    assert list(pilots) == ["source", *facts]
    assert pilots == {"source": "X509_USER_PROXY", **info.to_dict(now=taken)}
    assert pilots["time_left_seconds"] == 2 * 3600, "as of when the job took it, not when the report is written"

    logon = MyProxySettings("myproxy.example.org", "mxp", port=7512, retrieve_with="pilot-proxy")
    fetched = CredentialsReport.from_myproxy(logon, RetrievedProxy(Path(path), info, 2), taken).to_dict()
    assert list(fetched) == ["source", "retrieved_with", "attempts", *facts]
    assert (fetched["source"], fetched["retrieved_with"], fetched["attempts"]) == (
        "myproxy myproxy.example.org:7512",
        "pilot-proxy",
        2,
    )
    with pytest.raises(ValueError, match="both or neither"):
        CredentialsReport("X509_USER_PROXY", info, taken, retrieved_with="passphrase")
