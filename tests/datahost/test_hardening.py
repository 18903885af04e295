"""Logins and addresses a penetration tester tries: wrong passwords in a row, weak passwords,
plain-HTTP downgrades, malformed upload-from-URL addresses."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import requests.adapters
from pilot_movers_testkit.datahost import DataHost, DataHostError

from pilot_movers.errors import ServiceUnavailable, TransferFailed
from pilot_movers.https_datahost.client import DataHostClient
from tests.datahost.conftest import start_datahost

BIN = Path(sys.executable).parent
WINDOW = 120


@pytest.fixture(scope="module")
def strict(credentials) -> Iterator[DataHost]:
    """An instance of its own: throttling a whole address would disturb the other tests."""
    server = start_datahost(
        credentials,
        "strict",
        config={"login_window_seconds": WINDOW, "login_failures_per_user": 3, "login_failures_per_address": 7},
    )
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)


class _FromAddress(requests.adapters.HTTPAdapter):
    """Connections from another loopback address: each test is a client of its own."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, source_address=(self.address, 0), **kwargs)


def _login(server: DataHost, name: str, password: str, *, source: str = "127.0.0.1") -> requests.Response:
    session = requests.Session()
    session.trust_env = False
    session.mount("https://", _FromAddress(source))
    verify = str(server.grid.cert_dir)
    session.get(server.url("/datahost/login/"), headers={"Accept": "application/json"}, verify=verify)
    return session.post(
        server.url("/datahost/login/"),
        data={"username": name, "password": password},
        headers={"X-CSRFToken": session.cookies["csrftoken"], "Origin": server.base_url, "Accept": "application/json"},
        verify=verify,
    )


def test_wrong_passwords_are_throttled_per_user_with_retry_after(strict):
    password = secrets.token_urlsafe(12)
    strict.add_user("guessed", password)
    tries = [_login(strict, "guessed", f"guess {n}", source="127.0.0.11").status_code for n in range(3)]
    assert tries == [401] * 3
    refused = _login(
        strict, "guessed", password, source="127.0.0.11"
    )  # even the right password, until the window passes
    assert refused.status_code == 429
    wait = int(refused.headers["Retry-After"])
    assert 0 < wait <= WINDOW and refused.json()["reason"] == "throttled"
    assert f"try again in {wait} seconds" in refused.json()["error"] and password not in refused.text
    # The throttle is the server's, whatever the form: the admin's login refuses too.
    admin = requests.Session()
    admin.trust_env = False
    verify = str(strict.grid.cert_dir)
    page = admin.get(strict.url("/datahost/admin/login/"), verify=verify)
    assert page.status_code == 200
    answer = admin.post(
        strict.url("/datahost/admin/login/"),
        data={"username": "guessed", "password": password, "csrfmiddlewaretoken": admin.cookies["csrftoken"]},
        headers={"Referer": strict.url("/datahost/admin/login/")},
        verify=verify,
        allow_redirects=False,
    )
    assert answer.status_code == 200 and "datahost_session" not in admin.cookies  # the form again, not logged in
    with DataHostClient(strict.address, ca_dir=verify) as client, pytest.raises(ServiceUnavailable, match="try again"):
        client.login("guessed", password)


def test_wrong_passwords_sent_all_at_once_are_throttled_too(strict):
    """Review: the limit was checked before the slow password check and the failure recorded
    after it, so logins sent at once all passed the check: the real limit was the limit times the
    number of server threads."""
    from concurrent.futures import ThreadPoolExecutor

    strict.add_user("raced", secrets.token_urlsafe(12))
    with ThreadPoolExecutor(12) as pool:
        codes = list(
            pool.map(lambda n: _login(strict, "raced", f"guess {n}", source="127.0.0.14").status_code, range(12))
        )
    assert set(codes) <= {401, 429}, codes
    assert codes.count(401) <= 3, codes  # login_failures_per_user: no more passwords tried than that


def test_wrong_passwords_are_throttled_per_address(strict):
    password = secrets.token_urlsafe(12)
    strict.add_user("innocent", password)
    for n in range(7):  # a different name each time: no user reaches its own limit
        assert _login(strict, f"sprayed{n}", "password1", source="127.0.0.12").status_code == 401
    refused = _login(strict, "innocent", password, source="127.0.0.12")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) <= WINDOW
    assert _login(strict, "innocent", password, source="127.0.0.13").status_code == 200  # from elsewhere


def test_a_throttled_login_from_the_command_line_says_a_retry_may_help(strict, tmp_path):
    strict.add_user("cli-guessed", secrets.token_urlsafe(12))
    for n in range(3):
        _login(strict, "cli-guessed", f"guess {n}")
    done = subprocess.run(
        [str(BIN / "datahost"), "login", strict.address, "cli-guessed"],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "X509_CERT_DIR": str(strict.grid.cert_dir),
             "DATAHOST_PASSWORD": "still guessing"},
        capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL, timeout=120,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert "try again in" in done.stderr and "a retry may help" in done.stderr and "still guessing" not in done.stderr


def test_passwords_must_pass_the_configured_rules(datahost):
    for weak, rule in (("Qz9", "too short"), ("password", "too common")):
        with pytest.raises(DataHostError, match=rule) as refused:
            datahost.add_user(f"weak-{secrets.token_hex(3)}", weak)
        assert "Qz9" not in str(refused.value)  # the rules are said, the password is not
    name = f"weak-{secrets.token_hex(3)}"
    with pytest.raises(DataHostError):
        datahost.add_user(name, "123")
    datahost.add_user(name, "a long enough passphrase")  # the refused one created nothing
    with DataHostClient(datahost.address, ca_dir=str(datahost.grid.cert_dir)) as client:
        assert client.login(name, "a long enough passphrase") == name


def test_https_answers_carry_hsts(datahost, proxy_client):
    verify = str(datahost.grid.cert_dir)
    cert = (str(datahost.grid.user_proxy), str(datahost.grid.user_proxy))
    for answer in (
        requests.get(datahost.url("/datahost/login/"), verify=verify),
        requests.get(datahost.url("/datahost/list/"), cert=cert, verify=verify),
        requests.get(datahost.url("/datahost/list/"), verify=verify),  # a refusal too
    ):
        assert answer.headers["Strict-Transport-Security"] == "max-age=31536000", answer.url


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1",
        "http://127.0.0.1:notaport/f",
        "http://127.0.0.1:99999/f",
        "https://" + "a" * 64 + ".example.org/f",
        "http://a..b/f",
    ],
)
def test_a_malformed_upload_from_url_address_is_a_clear_refusal(account, url):
    with account.client() as client, pytest.raises(TransferFailed) as refused:
        client.pull(url, "f.bin")
    assert not isinstance(refused.value, ServiceUnavailable) and not refused.value.transient
    assert "not a valid URL" in refused.value.message


def test_the_command_line_says_a_retry_will_not_help_a_malformed_address(account, datahost, tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "X509_CERT_DIR": str(datahost.grid.cert_dir),
        "DATAHOST_PASSWORD": account.password,
    }
    run = dict(env=env, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL, timeout=120)
    assert subprocess.run([str(BIN / "datahost"), "login", datahost.address, account.name], **run).returncode == 0
    done = subprocess.run([str(BIN / "datahost"), "pull", "http://[::1/f", "--name", "f.bin"], **run)
    assert done.returncode == 1 and "not a valid URL" in done.stderr and "a retry will not help" in done.stderr
