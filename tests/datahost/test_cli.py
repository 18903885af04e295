"""The ``datahost`` command and the 2010 command names, run from a shell as people and pilots run
them: every subcommand, every original name, the environment variables, one-line errors."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import stat
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from tests.helpers import write_file

BIN = Path(sys.executable).parent


@pytest.fixture
def shell(datahost, tmp_path):
    """Run a console script with a private HOME and the grid's CA dir, nothing else inherited
    from DATAHOST_* or X509_USER_PROXY."""
    home = tmp_path / "home"
    home.mkdir()
    base = {
        "PATH": f"{BIN}:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "X509_CERT_DIR": str(datahost.grid.cert_dir),
    }

    def run(*argv: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(BIN / argv[0]), *argv[1:]],
            env={**base, **(env or {})},
            cwd=cwd or tmp_path,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=180,
            check=False,
        )

    run.home = home  # type: ignore[attr-defined]
    return run


def ok(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, f"{done.args}: {done.returncode}: {done.stderr}"
    return done.stdout


def one_line_error(done: subprocess.CompletedProcess, status: int) -> str:
    assert done.returncode == status, f"{done.args}: {done.returncode}: {done.stdout} {done.stderr}"
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    return lines[0]


def test_every_datahost_subcommand_from_a_shell(shell, account, datahost, web_server, tmp_path):
    base, www = web_server
    source = tmp_path / "notes.bin"
    expected = write_file(source, 2_000_000, seed=71).value
    write_file(www / "fetched.dat", 1_000_000, seed=72)
    password_env = {"DATAHOST_PASSWORD": account.password}

    assert "logged in to" in ok(shell("datahost", "login", datahost.address, account.name, env=password_env))
    directory = shell.home / ".datahost"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((directory / "sessions.json").stat().st_mode) == 0o600
    assert account.password not in (directory / "sessions.json").read_text()

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert account.name in ok(shell("datahost", "whoami", cwd=elsewhere))  # the session works from any directory
    assert f"adler32 {expected}" in ok(shell("datahost", "put", str(source)))
    assert "notes.bin" in ok(shell("datahost", "ls"))
    listing = json.loads(ok(shell("datahost", "ls", "--json")))
    assert listing["files"][0]["adler32"] == expected
    assert "verified" in ok(shell("datahost", "get", "notes.bin", str(elsewhere)))
    assert (elsewhere / "notes.bin").read_bytes() == source.read_bytes()
    assert "pulled" in ok(shell("datahost", "pull", f"{base}/fetched.dat", "--wait"))
    assert "upload" in ok(shell("datahost", "history"))
    assert {r["kind"] for r in json.loads(ok(shell("datahost", "history", "--json")))} >= {"upload", "download", "pull"}
    assert "deleted notes.bin" in ok(shell("datahost", "rm", "notes.bin"))
    assert "logged out" in ok(shell("datahost", "logout"))
    assert "not logged in" in one_line_error(shell("datahost", "ls"), 2)

    password_file = tmp_path / "password"
    password_file.write_text(account.password + "\n")
    ok(shell("datahost", "login", datahost.address, account.name, "--password-file", str(password_file)))
    ok(shell("datahost", "logout"))

    proxy = str(datahost.grid.user_proxy)
    assert "uploaded" in ok(
        shell(
            "datahost",
            "--address",
            datahost.address,
            "--cert",
            proxy,
            "ssl-put",
            str(source),
            "--name",
            "cli-ssl.bin",
            "--overwrite",
        )
    )
    ok(shell("datahost", "--address", datahost.address, "--cert", proxy, "ssl-get", "cli-ssl.bin", str(elsewhere)))
    assert (elsewhere / "cli-ssl.bin").read_bytes() == source.read_bytes()


def test_every_original_command_name_from_a_shell(shell, account, datahost, tmp_path):
    host, user = datahost.address, account.name
    source = tmp_path / "legacy.dat"
    write_file(source, 500_000, seed=73)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    ok(shell("datahost-login", host, user, env={"DATAHOST_PASSWORD": account.password}))
    assert "uploaded" in ok(shell("datahost-put", host, user, str(source)))
    assert "legacy.dat" in ok(shell("datahost-ls", host, user))
    assert "downloaded" in ok(shell("datahost-get", host, user, "legacy.dat", cwd=downloads))
    assert (downloads / "legacy.dat").read_bytes() == source.read_bytes()
    assert "deleted" in ok(shell("datahost-rm", host, user, "legacy.dat"))
    assert "logged out" in ok(shell("datahost-logout", host, user))

    proxy = str(datahost.grid.user_proxy)
    pilot_downloads = tmp_path / "pilot"
    pilot_downloads.mkdir()
    ok(shell("datahost-ssl-put", host, "griduser", proxy, proxy, str(source)))
    ok(shell("datahost-ssl-get", host, "griduser", proxy, proxy, "legacy.dat", cwd=pilot_downloads))
    assert (pilot_downloads / "legacy.dat").read_bytes() == source.read_bytes()
    refused = one_line_error(shell("datahost-ssl-put", host, "someoneelse", proxy, proxy, str(source)), 1)
    assert "not someoneelse" in refused


def test_environment_variables_choose_server_user_and_credentials(shell, account, datahost, tmp_path):
    source = tmp_path / "env.dat"
    write_file(source, 100_000, seed=74)
    proxy = str(datahost.grid.user_proxy)
    env = {
        "DATAHOST_ADDRESS": datahost.address,
        "DATAHOST_USER": account.name,
        "DATAHOST_PASSWORD": account.password,
    }
    ok(shell("datahost", "login", env=env))
    assert account.name in ok(shell("datahost", "whoami", env=env))
    pilot = {"DATAHOST_ADDRESS": datahost.address, "DATAHOST_CERT": proxy, "DATAHOST_KEY": proxy}
    ok(shell("datahost", "ssl-put", str(source), "--name", "env.dat", "--overwrite", env=pilot))
    # The environment's CA bundle must not replace the grid CA directory.
    with_bundle = {
        **pilot,
        "REQUESTS_CA_BUNDLE": "/etc/ssl/certs/ca-certificates.crt",
        "CURL_CA_BUNDLE": "/etc/ssl/certs/ca-certificates.crt",
    }
    ok(shell("datahost", "ssl-get", "env.dat", str(tmp_path / "env.copy"), env=with_bundle))
    # An HTTP proxy that does not exist: used unless DATAHOST_NOPROXY says to go direct.
    dead_proxy = {**pilot, "HTTPS_PROXY": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9"}
    one_line_error(shell("datahost", "ssl-get", "env.dat", str(tmp_path / "x"), env=dead_proxy), 3)
    ok(shell("datahost", "ssl-get", "env.dat", str(tmp_path / "y"), env={**dead_proxy, "DATAHOST_NOPROXY": "1"}))


def test_errors_print_one_line_and_exit_non_zero(shell, make_account, datahost, tmp_path):
    account = make_account(quota=1000)
    host = datahost.address
    ok(shell("datahost", "login", host, account.name, env={"DATAHOST_PASSWORD": account.password}))
    write_file(tmp_path / "big.dat", 5000)
    assert "no file nosuch" in one_line_error(shell("datahost", "get", "nosuch"), 1)
    assert "exceed your quota" in one_line_error(shell("datahost", "put", str(tmp_path / "big.dat")), 1)
    assert "No such file" in one_line_error(shell("datahost", "put", str(tmp_path / "absent.dat")), 1)
    assert "wrong user name or password" in one_line_error(
        shell("datahost", "login", host, account.name, env={"DATAHOST_PASSWORD": "wrong"}), 1
    )
    assert "no password" in one_line_error(shell("datahost", "login", host, account.name), 2)
    assert "cannot reach" in one_line_error(
        shell("datahost", "--address", "localhost:9", "--cert", str(datahost.grid.user_proxy), "ssl-get", "x"), 3
    )
    unknown = str(datahost.grid.unauthorised_proxy)
    assert "not registered" in one_line_error(
        shell("datahost", "--address", host, "--cert", unknown, "ssl-get", "x"), 1
    )
    assert "no client certificate" in one_line_error(shell("datahost", "--address", host, "ssl-get", "x"), 2)
    assert "CA directory" in one_line_error(
        shell("datahost", "--address", host, "--ca-dir", str(tmp_path / "none"), "--cert", unknown, "ssl-get", "x"), 1
    )
    assert "fit no form of datahost-ssl-put" in one_line_error(shell("datahost-ssl-put", host, "user"), 2)
    assert "invalid choice" in one_line_error(shell("datahost", "frobnicate"), 2)


def test_a_long_transfer_shows_progress_on_a_terminal_only(shell, account, datahost, tmp_path):
    source = tmp_path / "progress.bin"
    write_file(source, 40 * (1 << 20), seed=75)
    env = {"DATAHOST_PASSWORD": account.password}
    ok(shell("datahost", "login", datahost.address, account.name, env=env))
    piped = ok(shell("datahost", "put", str(source), "--name", "piped.bin"))
    assert "%|" not in piped and piped.count("\n") == 1
    screen = _run_on_terminal(
        [str(BIN / "datahost"), "put", str(source), "--name", "tty.bin"],
        env={"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(shell.home), "X509_CERT_DIR": str(datahost.grid.cert_dir)},
    )
    assert "%|" in screen and "uploaded" in screen


def _run_on_terminal(argv: list[str], env: dict[str, str]) -> str:
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a real terminal's size
    process = subprocess.Popen(argv, stdin=terminal, stdout=terminal, stderr=terminal, env=env, close_fds=True)
    os.close(terminal)
    output = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([controller], [], [], 0.5)
        if ready:
            try:
                data = os.read(controller, 65536)
            except OSError:
                break
            if not data:
                break
            output += data
        elif process.poll() is not None:
            break
    process.wait(timeout=30)
    os.close(controller)
    assert process.returncode == 0, output.decode(errors="replace")
    return output.decode(errors="replace")
