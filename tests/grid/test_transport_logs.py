"""``-v`` and ``-q`` through the real ``pilot-movers run`` against the local grid (issue 24): a
job with a GridFTP stage-in and an XRootD stage-out logged 7 lines with or without ``-v``. Now
``-v`` brings the transports' own lines (gfal2's, the XRootD client's, urllib3's) into our log,
on stderr and in ``--log-file``, without a secret; ``-q`` prints nothing but errors."""

from __future__ import annotations

import json
import os
import pwd
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from pilot_movers_testkit.grid import LocalGrid

from tests.helpers import write_file

#: A log line of ours: ``2026-12-02 22:50:10,715 INFO    pilot_movers.job: ...``.
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (\w+)\s+(\S+): ")


def run(tmp_path: Path, queue: dict, params: str, *options: str, env: dict[str, str] | None = None, tag: str):
    """``pilot-movers [options] run ...`` with ``--log-file``: the process and the log file's text."""
    (tmp_path / f"queue-{tag}.json").write_text(json.dumps(queue))
    log_file = tmp_path / f"{tag}.log"
    done = subprocess.run(
        [
            *(sys.executable, "-m", "pilot_movers", *options, "--log-file", str(log_file), "run"),
            *("--queue-config", str(tmp_path / f"queue-{tag}.json"), "--job-params", params),
            *("--workdir", str(tmp_path / f"work-{tag}"), "--report", str(tmp_path / f"{tag}.json")),
            *("--", "sh", "-c", "cp a.dat b.dat"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )
    return done, log_file.read_text() if log_file.exists() else ""


def loggers(text: str) -> set[str]:
    return {found.group(2) for found in map(LOG_LINE.match, text.splitlines()) if found}


@pytest.fixture
def gridftp_to_xrootd(grid: LocalGrid, tmp_path: Path):
    """A file on the GridFTP server; the job's output goes to the XRootD server."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", os.path.basename(tmp_path))
    (grid.gridftp_dir / name).mkdir(parents=True, exist_ok=True)
    write_file(grid.gridftp_dir / name / "a.dat", 200_000)
    out = grid.xrootd_dir / name
    out.mkdir(parents=True, exist_ok=True)
    nobody = pwd.getpwnam("nobody")
    os.chown(out, nobody.pw_uid, nobody.pw_gid)
    queue = {"copytoolin": "gridftp", "copytool": "xrootd"}

    def params(tag: str) -> str:
        return f"dir-in={grid.gridftp_url(name)}/ files-in=a.dat dir-out={grid.xrootd_url(name)}/{tag}/ files-out=b.dat"

    return queue, params


def secrets_of(grid: LocalGrid) -> list[str]:
    """What must never be logged: every base64 line of the pilot's proxy (its key included)."""
    lines = grid.user_proxy.read_text().splitlines()
    return [line for line in lines if len(line) >= 40 and not line.startswith("-----")]


def test_verbose_brings_gfal2s_and_the_xrootd_clients_lines_into_our_log_and_no_secret(
    grid: LocalGrid, tmp_path: Path, gridftp_to_xrootd
):
    queue, params = gridftp_to_xrootd
    plain, _ = run(tmp_path, queue, params("plain"), tag="plain")
    assert plain.returncode == 0, plain.stderr
    loud, loud_log = run(tmp_path, queue, params("loud"), "-v", tag="loud")
    assert loud.returncode == 0, loud.stderr

    plain_lines, loud_lines = plain.stderr.splitlines(), loud.stderr.splitlines()
    assert len(loud_lines) >= 5 * len(plain_lines), (len(plain_lines), len(loud_lines))
    for text in (loud.stderr, loud_log):
        assert {"gfal2", "XRootD"} <= loggers(text), sorted(loggers(text))
        assert len(_messages(text, "XRootD")) >= 10 and len(_messages(text, "gfal2")) >= 10
    assert not {"gfal2", "XRootD"} & loggers(plain.stderr), "without -v the libraries stay quiet"
    for secret in secrets_of(grid):
        assert secret not in loud.stderr and secret not in loud_log
    assert "PRIVATE KEY" not in loud.stderr and "PRIVATE KEY" not in loud_log


def test_verbose_https_sends_a_bearer_token_urllib3_logs_and_the_token_never_appears(
    xrootd_https: LocalGrid, tmp_path: Path
):
    grid = xrootd_https
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", os.path.basename(tmp_path))
    source = grid.xrootd_dir / name
    source.mkdir(parents=True, exist_ok=True)
    write_file(source / "a.dat", 50_000)
    nobody = pwd.getpwnam("nobody")
    for path in (source, source / "a.dat"):
        os.chown(path, nobody.pw_uid, nobody.pw_gid)
    token = "eyJ" + secrets.token_urlsafe(48)
    passphrase = secrets.token_urlsafe(24)
    done, log = run(
        tmp_path,
        {"copytool": "https"},
        f"dir-in={grid.https_url(name)}/ files-in=a.dat",
        "-v",
        env={"BEARER_TOKEN": token, "MYPROXY_PASSPHRASE": passphrase},
        tag="https",
    )
    assert done.returncode == 0, done.stderr
    assert "urllib3" in {logger.split(".")[0] for logger in loggers(log)}, sorted(loggers(log))
    for text in (done.stderr, log):
        assert token not in text and passphrase not in text
        assert token[:12] not in text, "not even the token's start"
        for secret in secrets_of(grid):
            assert secret not in text


def test_quiet_prints_nothing_but_errors(grid: LocalGrid, tmp_path: Path, gridftp_to_xrootd):
    queue, params = gridftp_to_xrootd
    quiet, quiet_log = run(tmp_path, queue, params("quiet"), "-q", tag="quiet")
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == "", "a job that succeeded prints nothing on stderr with -q"
    assert " INFO " in quiet_log, "the --log-file keeps INFO"

    # A root:// input through gfal2 that is not there: gfal2 itself warns as it cleans up.
    missing = f"dir-in={grid.xrootd_url('nowhere')}/ files-in=gone.dat"
    said, _ = run(tmp_path, {"copytool": "gridftp"}, missing, tag="said")
    assert said.returncode == 1 and " WARNING " in said.stderr, "without -q there is more than errors"
    failed, _ = run(tmp_path, {"copytool": "gridftp"}, missing, "-q", tag="qf")
    assert failed.returncode == 1, failed.stderr
    lines = failed.stderr.splitlines()
    assert lines and all(line.startswith("pilot-movers: ") or " ERROR " in line for line in lines), failed.stderr
    assert any(" ERROR " in line and "gone.dat" in line for line in lines), failed.stderr


def _messages(text: str, logger: str) -> list[str]:
    """The messages ``logger`` logged in ``text``."""
    out = []
    for line in text.splitlines():
        found = LOG_LINE.match(line)
        if found and found.group(2) == logger:
            out.append(line[found.end() :])
    return out
