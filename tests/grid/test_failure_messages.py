"""What a failed transfer says, through the real ``pilot-movers run`` against the local grid's
GridFTP and XRootD servers (issue 24): the transport's own text (gfal2's, XRootD's) once, and
one sentence of what the operator does about the code, on the console and in the report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pilot_movers.errors import CODE_ADVICE
from tests.grid.conftest import Protocol


def run_job(tmp_path: Path, copytool: str, params: str, env: dict[str, str] | None = None) -> tuple[int, str, Any]:
    """``pilot-movers run`` of one job, one attempt per file: its exit status, stderr and report."""
    queue = tmp_path / "queue.json"
    queue.write_text(json.dumps({"copytool": copytool, "transfer": {"max_attempts": 1}}))
    report = tmp_path / "report.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pilot_movers",
            "run",
            "--queue-config",
            str(queue),
            "--job-params",
            params,
            "--workdir",
            str(tmp_path / "work"),
            "--report",
            str(report),
            "--",
            "true",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    return done.returncode, done.stderr, json.loads(report.read_text())


def _library_text(record: dict[str, Any], name: str) -> str:
    """The transport's own words in a file's error record (without a leading ``NAME: ``)."""
    message = str(record["message"])
    return message.removeprefix(f"{name}: ")


@pytest.mark.parametrize("failure", ["missing", "unauthorised"])
def test_a_failed_download_says_the_transports_text_once_and_what_to_do(
    proto: Protocol, tmp_path: Path, failure: str, monkeypatch: pytest.MonkeyPatch
):
    if failure == "missing":
        code = 1103  # NOSUCHFILE
    else:
        proto.seed("a.dat", 1000)
        monkeypatch.setenv("X509_USER_PROXY", str(proto.grid.unauthorised_proxy))
        code = 1338  # STAGEINAUTHENTICATIONFAILURE
    status, stderr, report = run_job(tmp_path, proto.name, f"dir-in={proto.url('')} files-in=a.dat")

    assert status == 1, stderr
    (record,) = report["phases"]["stage-in"]["files"]
    error = record["error"]
    assert error["code"] == code, error
    raw = _library_text(error, "a.dat")
    assert len(raw) > 20, f"the transport said something: {raw!r}"
    assert stderr.count(raw) == 1, f"the transport's text is said {stderr.count(raw)} times:\n{stderr}"
    verdict = [line for line in stderr.splitlines() if line.startswith("pilot-movers: job failed in stage-in: ")]
    assert len(verdict) == 1, stderr
    assert verdict[0].endswith(f"; what to do: {CODE_ADVICE[code]}"), verdict[0]
    assert "a.dat" in verdict[0] and f"({code})" in verdict[0], "the verdict names the file and the code"
    assert stderr.count(CODE_ADVICE[code]) == 1, stderr
    assert report["error"]["advice"] == error["advice"] == CODE_ADVICE[code]


def test_a_failure_outside_a_transfer_says_its_message_once_with_what_to_do(grid, tmp_path: Path):
    """No proxy at all: a credentials failure, not a file's, so the verdict carries its message."""
    env = dict(os.environ)
    env["X509_USER_PROXY"] = str(tmp_path / "no-such-proxy.pem")
    status, stderr, report = run_job(tmp_path, "gridftp", f"dir-in={grid.gridftp_url('')} files-in=a.dat", env=env)
    assert status == 1, stderr
    error = report["error"]
    assert error["code"] == 1163 and error["advice"] == CODE_ADVICE[1163], error
    assert stderr.count(error["message"]) == 1, stderr
    assert stderr.rstrip().splitlines()[-2].endswith(f"; what to do: {CODE_ADVICE[1163]}"), stderr
