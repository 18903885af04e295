"""The emulator as a site admin runs it: ``python -m pilot_movers_testkit.globus_emulator`` in its own
process, configured from a file, driven by the real globus-sdk and by the admin API over HTTP."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import globus_sdk
import pytest

from tests.globus.support import emulator_process as running_emulator
from tests.globus.support import wait_for_task, write_bytes

CLIENT_ID = "5f6a4cfc-8d47-4c1e-9a41-0e6ad3cf7d0f"


def admin(url: str, method: str, route: str, body: Any = None) -> Any:
    request = urllib.request.Request(
        f"{url}_emulator/{route}",
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"},
        method=method,
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture
def emulator_process(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    data = tmp_path / "bnl"
    data.mkdir()
    config = {
        "clients": [{"client_id": CLIENT_ID, "client_secret": "s3cret-from-file"}],
        "refresh_tokens": [{"client_id": CLIENT_ID, "username": "mxp", "refresh_token": "rt-from-file"}],
        "endpoints": [{"name": "mxp#MXP_BNL_TEST", "directory": str(data)}],
    }
    with running_emulator(config, tmp_path, "--endpoint", f"SITE1={tmp_path}") as url:
        yield url, tmp_path


def test_help_works() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pilot_movers_testkit.globus_emulator", "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0
    assert "install-gcp" in done.stdout


def test_install_gcp_writes_an_executable_launcher(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pilot_movers_testkit.globus_emulator", "install-gcp", str(tmp_path / "bin")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0
    version = subprocess.run(
        [str(tmp_path / "bin" / "globusconnectpersonal"), "-version"], capture_output=True, text=True
    )
    assert version.stdout == "3.2.8\n"


def test_a_rehearsal_against_the_emulator_process(
    emulator_process: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, root = emulator_process
    monkeypatch.setenv("GLOBUS_SDK_SERVICE_URL_TRANSFER", url)
    monkeypatch.setenv("GLOBUS_SDK_SERVICE_URL_AUTH", url)
    auth = globus_sdk.ConfidentialAppAuthClient(CLIENT_ID, "s3cret-from-file")
    tc = globus_sdk.TransferClient(authorizer=globus_sdk.RefreshTokenAuthorizer("rt-from-file", auth))
    bnl = next(iter(tc.endpoint_search("MXP_BNL_TEST")))
    site = next(iter(tc.endpoint_search("SITE1")))
    payload = write_bytes(root / "bnl" / "in.root", 5000)

    fault = admin(url, "POST", "faults", {"kind": "fail_task", "label": "doomed", "code": "ENDPOINT_ERROR"})
    assert fault["kind"] == "fail_task"
    state = admin(url, "GET", "state")
    assert {e["canonical_name"] for e in state["endpoints"]} == {"mxp#MXP_BNL_TEST", "emulator#SITE1"}
    assert "s3cret-from-file" not in json.dumps(state)

    doomed = globus_sdk.TransferData(source_endpoint=bnl["id"], destination_endpoint=site["id"], label="doomed")
    doomed.add_item("/in.root", "/out/in.root")
    assert wait_for_task(tc, tc.submit_transfer(doomed)["task_id"])["fatal_error"]["code"] == "ENDPOINT_ERROR"
    admin(url, "DELETE", f"faults/{fault['id']}")
    fine = globus_sdk.TransferData(source_endpoint=bnl["id"], destination_endpoint=site["id"], verify_checksum=True)
    fine.add_item("/in.root", "/out/in.root")
    assert wait_for_task(tc, tc.submit_transfer(fine)["task_id"])["status"] == "SUCCEEDED"
    assert (root / "out" / "in.root").read_bytes() == payload

    assert admin(url, "POST", "refresh_tokens/revoke", {"refresh_token": "rt-from-file"}) == {"revoked": True}
    with pytest.raises(globus_sdk.AuthAPIError) as refused:
        auth.oauth2_refresh_token("rt-from-file")
    assert refused.value.raw_json == {"error": "invalid_grant"}


def test_the_readmes_globus_commands_run_as_written_against_the_emulator_with_the_rehearsal_queue(
    tmp_path: Path,
) -> None:
    """Issue 22: examples/queues/globus.ini and the README's commands did not run against the
    emulator (a GCP download, a placeholder UUID). The rehearsal queue runs both 2012 forms."""
    import shlex

    from pilot_movers_testkit.globus import LocalGlobus

    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text()
    commands = [
        line for line in readme.splitlines() if line.startswith("  '--StageinGOsrc=") or "globus-user=mxp" in line
    ]
    params = [shlex.split(line.strip())[0] for line in commands if " -- ./run.sh" in line]
    assert len(params) == 2, commands
    with LocalGlobus(tmp_path / "globus", endpoints=("mxp#MXP_BNL_TEST", "mxp#MXP_OU_TEST", "SITE1")) as globus:
        (globus.endpoints["SITE1"].directory / "home/osg_data/panda").mkdir(parents=True)
        (globus.endpoints["SITE1"].directory / "home/osg_data/panda/0064.file").write_bytes(b"input\n")
        (globus.endpoints["mxp#MXP_BNL_TEST"].directory / "direct/usatlas+u/mxp").mkdir(parents=True)
        (globus.endpoints["mxp#MXP_BNL_TEST"].directory / "direct/usatlas+u/mxp/xs.sh").write_bytes(b"echo\n")
        (globus.endpoints["mxp#MXP_OU_TEST"].directory / "home/usatlas1").mkdir(parents=True)
        node = Path(tempfile.mkdtemp(prefix="gn-", dir="/tmp"))
        env = {
            **globus.gcp_env(node),
            "GLOBUS_CLIENT_ID": globus.client_id,
            "GLOBUS_CLIENT_SECRET": globus.client_secret,
        }
        env.pop("X509_USER_PROXY", None)
        try:
            for number, job in enumerate(params):
                workdir = tmp_path / f"job{number}"
                workdir.mkdir()
                (workdir / "run.sh").write_text("#!/bin/sh\necho result > 10mb-file.bin\necho ran >> xs.sh\n")
                (workdir / "run.sh").chmod(0o755)
                done = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "pilot_movers",
                        "run",
                        "--queue-config",
                        str(root / "examples/queues/globus-rehearsal.ini"),
                        "--workdir",
                        str(workdir),
                        "--job-params",
                        job,
                        "--",
                        "./run.sh",
                    ],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=180,
                )
                assert done.returncode == 0, done.stderr[-3000:]
        finally:
            shutil.rmtree(node, ignore_errors=True)
        assert (globus.endpoints["SITE1"].directory / "home/osg_data/panda/10mb-file.bin").read_text() == "result\n"
        assert (globus.endpoints["mxp#MXP_OU_TEST"].directory / "home/usatlas1/xs.sh").read_text() == "echo\nran\n"
