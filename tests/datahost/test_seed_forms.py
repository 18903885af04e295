"""The 2010 DataHost design's own command forms, run verbatim from a shell against the real
DataHost: the curl upload, ``datahost-login host user password``, and every client under both its
positional form and its environment-variable form.

Placeholders only stand for what differs per machine: HOST:PORT (the test server), P (the grid
user's proxy, a certificate and key in one file), me (the user that proxy maps to), USER and
PASSWORD (a password user's). Everything else is the form as written.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.helpers import write_file

BIN = Path(sys.executable).parent

#: The seventeen forms, in the order a user meets them: the pilot's curl upload, the password
#: user's session commands (positional, then environment), the certificate commands (same).
SEED_FORMS = [
    'curl -k --cert P --key P -F "file2xmit=@myfile.txt" -F "username=me" https://HOST:PORT/datahost/transmit/',
    "datahost-login HOST:PORT USER PASSWORD",
    "datahost-put HOST:PORT USER myfile.txt",
    "datahost-ls HOST:PORT USER",
    "datahost-get HOST:PORT USER myfile.txt",
    "datahost-rm HOST:PORT USER myfile.txt",
    "datahost-logout HOST:PORT USER",
    "datahost-login",
    "datahost-put myfile.txt",
    "datahost-ls",
    "datahost-get myfile.txt",
    "datahost-rm myfile.txt",
    "datahost-logout",
    "datahost-ssl-put HOST:PORT me P P myfile.txt",
    "datahost-ssl-get HOST:PORT me P P myfile.txt",
    "datahost-ssl-put myfile.txt",
    "datahost-ssl-get myfile.txt",
]


@pytest.fixture
def seed_shell(datahost, account, tmp_path):
    """Run one form with bash in a fresh working directory (holding myfile.txt for uploads)."""
    home = tmp_path / "home"
    home.mkdir()
    proxy = str(datahost.grid.user_proxy)
    values = {
        "HOST": "localhost",
        "PORT": str(datahost.port),
        "USER": account.name,
        "PASSWORD": account.password,
        "P": proxy,
        "me": "griduser",
    }
    base = {
        "PATH": f"{BIN}:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "X509_CERT_DIR": str(datahost.grid.cert_dir),
    }
    runs = tmp_path / "runs"

    def run(form: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        words = [values.get(word, word) for word in form.split(" ")]  # P, me, USER, PASSWORD
        line = " ".join(words).replace("HOST:PORT", f"localhost:{datahost.port}").replace('=me"', '=griduser"')
        cwd = runs / str(len(list(runs.glob("*"))) if runs.exists() else 0)
        cwd.mkdir(parents=True)
        if "put" in form or "file2xmit" in form:
            write_file(cwd / "myfile.txt", 300_000, seed=2010)
        done = subprocess.run(
            ["bash", "-c", line],
            env={**base, **(env or {})},
            cwd=cwd,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=180,
            check=False,
        )
        assert done.returncode == 0, f"{form}: exit {done.returncode}: {done.stdout} {done.stderr}"
        assert "Traceback" not in done.stderr
        done.cwd = cwd  # type: ignore[attr-defined]
        return done

    return run


def test_every_form_of_the_2010_design_works_as_written(seed_shell, account, datahost, proxy_client):
    forms = iter(SEED_FORMS)
    _forget(proxy_client, "myfile.txt")

    # The pilot's upload with curl: a proxy, the form fields of 2010, no header of ours.
    answer = json.loads(seed_shell(next(forms)).stdout)
    assert (answer["name"], answer["size"]) == ("myfile.txt", 300_000)
    assert "myfile.txt" in [f.name for f in proxy_client.ls()]
    proxy_client.rm("myfile.txt")

    # The password user, positional forms; the password on the command line is taken, with a
    # warning, and never printed.
    login = seed_shell(next(forms))
    assert "logged in" in login.stdout and "can be read by other users" in login.stderr
    assert account.password not in login.stdout + login.stderr
    assert "uploaded" in seed_shell(next(forms)).stdout
    assert "myfile.txt" in seed_shell(next(forms)).stdout
    got = seed_shell(next(forms))
    assert (got.cwd / "myfile.txt").stat().st_size == 300_000
    assert "deleted myfile.txt" in seed_shell(next(forms)).stdout
    assert "logged out" in seed_shell(next(forms)).stdout

    # The same commands with the server, the user and the password in the environment.
    env = {"DATAHOST_ADDRESS": datahost.address, "DATAHOST_USER": account.name, "DATAHOST_PASSWORD": account.password}
    login = seed_shell(next(forms), env)
    assert "logged in" in login.stdout and login.stderr == ""
    assert "uploaded" in seed_shell(next(forms), env).stdout
    assert "myfile.txt" in seed_shell(next(forms), env).stdout
    assert "downloaded" in seed_shell(next(forms), env).stdout
    assert "deleted myfile.txt" in seed_shell(next(forms), env).stdout
    assert "logged out" in seed_shell(next(forms), env).stdout

    # The pilot's certificate commands, positional, then from the environment.
    assert "uploaded" in seed_shell(next(forms)).stdout
    got = seed_shell(next(forms))
    assert (got.cwd / "myfile.txt").stat().st_size == 300_000
    proxy_client.rm("myfile.txt")
    proxy = str(datahost.grid.user_proxy)
    pilot = {"DATAHOST_ADDRESS": datahost.address, "DATAHOST_USER": "griduser", "DATAHOST_CERT": proxy}
    pilot["DATAHOST_KEY"] = proxy
    assert "uploaded" in seed_shell(next(forms), pilot).stdout
    got = seed_shell(next(forms), pilot)
    assert "verified" in got.stdout and (got.cwd / "myfile.txt").stat().st_size == 300_000
    assert next(forms, None) is None
    proxy_client.rm("myfile.txt")


def test_downloads_by_query_and_a_bare_receive_answer_json(datahost, proxy_client, tmp_path):
    grid = datahost.grid
    cert = (str(grid.user_proxy), str(grid.user_proxy))
    verify = str(grid.cert_dir)
    _forget(proxy_client, "query.bin")
    write_file(tmp_path / "query.bin", 50_000, seed=3)
    proxy_client.put(tmp_path / "query.bin")
    got = requests.get(datahost.url("/datahost/receive/?filename=query.bin"), cert=cert, verify=verify)
    assert got.status_code == 200 and got.content == (tmp_path / "query.bin").read_bytes()
    for path, status in (
        ("/datahost/receive/", 400),
        ("/datahost/receive/?filename=", 400),
        ("/datahost/receive/?filename=absent.bin", 404),
        ("/datahost/nothing-here/", 404),
    ):
        answer = requests.get(datahost.url(path), cert=cert, verify=verify)
        assert answer.status_code == status, path
        assert answer.headers["Content-Type"] == "application/json", path
        assert answer.json()["reason"] in ("bad_request", "not_found") and answer.json()["error"], path
    anonymous = requests.get(datahost.url("/datahost/receive/"), verify=verify)
    assert anonymous.status_code == 401 and anonymous.json()["reason"] == "not_authenticated"
    proxy_client.rm("query.bin")


def _forget(client, name: str) -> None:
    if name in [f.name for f in client.ls()]:
        client.rm(name)
