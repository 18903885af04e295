"""``pilot-movers doctor`` from a shell, against the real local grid: what it finds when all is
well, and each thing it must find wrong (an expired proxy, a missing CA dir, an unreachable
server, an uninstalled mover, a full work dir disk, a refused MyProxy logon)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from pilot_movers_testkit.ca import make_proxy
from pilot_movers_testkit.grid import LocalGrid

PASSPHRASE = "doctor-passphrase-7"
PASSPHRASE_ENV = "DOCTOR_TEST_PASSPHRASE"


def doctor(*args: str, env: dict[str, str], cwd: Path | None = None) -> tuple[int, dict, str]:
    """Runs the installed console command, as a site admin would, with --json and without."""
    command = shutil.which("pilot-movers", path=os.path.dirname(sys.executable))
    assert command, "the pilot-movers console script is installed beside this Python"
    done = subprocess.run([command, "doctor", *args, "--json"], env=env, capture_output=True, text=True, timeout=120)
    text = subprocess.run([command, "doctor", *args], env=env, capture_output=True, text=True, timeout=120)
    assert text.returncode == done.returncode, (done.stdout, text.stdout)
    return done.returncode, json.loads(done.stdout), text.stdout


def by_check(report: dict, prefix: str) -> list[dict]:
    found = [f for f in report["findings"] if f["check"].startswith(prefix)]
    assert found, f"no finding for {prefix}: {[f['check'] for f in report['findings']]}"
    return found


@pytest.fixture(scope="module")
def stored(grid: LocalGrid) -> str:
    grid.store_credential("doctor-user", PASSPHRASE)
    return "doctor-user"


@pytest.fixture
def queue(grid: LocalGrid, tmp_path: Path, stored: str) -> Path:
    path = tmp_path / "queue.json"
    path.write_text(
        json.dumps(
            {
                "copytool": "gridftp",
                "se": grid.gridftp_url(""),
                "storages": {"web": grid.https_url("/")},
                "myproxy": {
                    "server": "localhost",
                    "port": grid.myproxy_port,
                    "username": stored,
                    "passphrase_env": PASSPHRASE_ENV,
                },
                "credentials": {"min_lifetime": 600},
            }
        )
    )
    return path


def grid_env(grid: LocalGrid, proxy: Path | None = None) -> dict[str, str]:
    return {**os.environ, **grid.client_env(proxy=proxy), PASSPHRASE_ENV: PASSPHRASE}


def test_all_is_well_on_the_local_grid(grid, queue, tmp_path):
    status, report, text = doctor("--queue-config", str(queue), "--workdir", str(tmp_path / "w"), env=grid_env(grid))
    assert status == 0, text
    assert {f["status"] for f in report["findings"]} <= {"ok", "warning"}, text
    assert "TLS" in by_check(report, "server https://")[0]["message"]  # a handshake with the proxy
    assert "220" in by_check(report, "server gsiftp://")[0]["message"]  # GridFTP's greeting
    assert "delegated" in by_check(report, "MyProxy logon")[0]["message"]
    import gfal2

    # the library's version, not only its Python binding's (issue 24: doctor said 1.12.0 for 2.21.3)
    gridftp = by_check(report, "mover gridftp")[0]["message"]
    assert gridftp == f"gfal2 {gfal2.get_version()} (Python binding {gfal2.__version__})"
    assert by_check(report, "CRLs")[0]["status"] in ("ok", "warning")
    assert not (tmp_path / "w").exists(), "the doctor makes no work dir"
    assert PASSPHRASE not in text and PASSPHRASE not in json.dumps(report)
    assert "ok" in text.splitlines()[0] and "0 problem(s)" in text.splitlines()[-1]


def test_an_expired_proxy(grid, queue, tmp_path):
    import datetime

    expired = make_proxy(
        grid.user,
        tmp_path / "expired.pem",
        hours=1,
        not_before=datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=3),
    )
    plain = tmp_path / "queue-no-myproxy.json"
    plain.write_text(json.dumps({"copytool": "gridftp", "se": grid.gridftp_url("")}))
    status, report, text = doctor("--queue-config", str(plain), env=grid_env(grid, expired))
    assert status == 1, text
    (proxy,) = by_check(report, "proxy")
    assert proxy["status"] == "problem" and "expired" in proxy["message"], proxy
    assert proxy["fix"] and "fix:" in text


def test_a_missing_ca_dir(grid, queue, tmp_path):
    env = {**grid_env(grid), "X509_CERT_DIR": str(tmp_path / "no-such-dir")}
    status, report, _ = doctor("--queue-config", str(queue), env=env)
    assert status == 1
    (ca,) = by_check(report, "CA dir")
    assert ca["status"] == "problem" and "no-such-dir" in ca["message"]


def test_an_unreachable_server_is_a_problem_that_may_pass(grid, tmp_path):
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    plain = tmp_path / "queue.json"
    plain.write_text(json.dumps({"copytool": "gridftp", "se": f"gsiftp://127.0.0.1:{port}/data/"}))
    status, report, text = doctor("--queue-config", str(plain), "--timeout", "3", env=grid_env(grid))
    (server,) = by_check(report, "server gsiftp://127.0.0.1")
    assert server["status"] == "problem" and server["transient"] and "refused" in server["message"].lower()
    assert status == 3, text  # every problem may go away by itself: a retry may help


def test_an_uninstalled_mover(grid, tmp_path):
    # A module that fails to import, as XRootD's binding does when it is not installed.
    broken = tmp_path / "site"
    (broken / "XRootD").mkdir(parents=True)
    (broken / "XRootD" / "__init__.py").write_text("raise ImportError(\"No module named 'XRootD'\", name='XRootD')\n")
    plain = tmp_path / "queue.json"
    plain.write_text(json.dumps({"copytool": "xrootd", "se": grid.xrootd_url("")}))
    env = {**grid_env(grid), "PYTHONPATH": str(broken)}
    status, report, text = doctor("--queue-config", str(plain), env=env)
    assert status == 1, text
    problems = [f for f in report["findings"] if f["status"] == "problem"]
    assert any("xrootd" in f["message"] and "XRootD" in f["message"] and "install" in f["message"] for f in problems)


def test_a_full_work_dir_disk(grid, queue, tmp_path):
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(small)], check=True)
    try:
        subprocess.run(["sh", "-c", f"head -c 1000000 /dev/zero > {small}/filler"], check=False)
        status, report, text = doctor("--queue-config", str(queue), "--workdir", str(small / "job"), env=grid_env(grid))
    finally:
        subprocess.run(["umount", str(small)], check=True)
    assert status == 1, text
    (space,) = by_check(report, "free space")
    assert space["status"] == "problem" and "full" in space["message"]


def test_inputs_larger_than_the_free_space(grid, queue, tmp_path):
    params = f"dir-in={grid.gridftp_url('doctor/')} files-in=a.dat,b.dat sizes-in=5000000000000,1"
    status, report, text = doctor(
        "--queue-config", str(queue), "--job-params", params, "--workdir", str(tmp_path / "w"), env=grid_env(grid)
    )
    assert status == 1, text
    (space,) = by_check(report, "free space")
    assert space["status"] == "problem" and "2 input(s) need 5.00 TB" in space["message"]
    assert by_check(report, "job")[0]["status"] == "ok"


def test_a_refused_myproxy_logon(grid, queue, tmp_path):
    env = {**grid_env(grid), PASSPHRASE_ENV: "not-the-passphrase"}
    status, report, text = doctor("--queue-config", str(queue), env=env)
    assert status == 1, text
    (logon,) = by_check(report, "MyProxy logon")
    assert logon["status"] == "problem" and not logon["transient"]
    assert "not-the-passphrase" not in text


def test_bad_job_parameters_are_a_finding_naming_the_token(grid, queue):
    status, report, _ = doctor("--queue-config", str(queue), "--job-params", "in-mode=sideways", env=grid_env(grid))
    assert status == 1
    (job,) = by_check(report, "job")
    assert job["status"] == "problem" and "in-mode=sideways" in job["message"]


def test_an_unwritable_work_dir_is_one_finding_and_hides_nothing(grid, tmp_path):
    """Issue 24: with a work dir that cannot be made, the job's own server went unchecked, the fault
    was reported twice (once as the job's, with the wrong fix) and the proxy's verdict changed."""
    queue = tmp_path / "queue.json"
    queue.write_text(
        json.dumps({"copytoolin": "xrootd", "copytool": "gridftp", "se": grid.gridftp_url(""), "credentials": {}})
    )
    params = f"dir-in={grid.xrootd_url('doctor/')} files-in=a.dat dir-out={grid.gridftp_url('out/')} files-out=b.dat"
    readonly = tmp_path / "readonly"
    readonly.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(readonly)], check=True)
    try:
        args = ("--queue-config", str(queue), "--job-params", params)
        status, report, text = doctor(*args, "--workdir", str(readonly / "job"), env=grid_env(grid))
        _, writable, _ = doctor(*args, "--workdir", str(tmp_path / "job"), env=grid_env(grid))
    finally:
        subprocess.run(["umount", str(readonly)], check=True)
    assert status == 1, text
    problems = [f for f in report["findings"] if f["status"] == "problem"]
    assert [f["check"] for f in problems] == ["work dir"], text  # once, under its own name
    assert "writable" in problems[0]["message"] and "--workdir" in problems[0]["fix"]
    assert by_check(report, "job")[0]["status"] == "ok", text
    (server,) = by_check(report, f"server root://localhost:{grid.servers['xrootd'].port}")  # the job's own server
    assert server["status"] == "ok", server
    verdict = {f["check"]: f["status"] for f in report["findings"] if f["check"] not in ("work dir", "free space")}
    assert verdict == {
        f["check"]: f["status"] for f in writable["findings"] if f["check"] not in ("work dir", "free space")
    }


def test_an_expired_pilot_proxy_that_logs_on_to_myproxy_is_the_proxys_problem(grid, tmp_path):
    """Issue 24: an expired pilot proxy presented to MyProxy (retrieve_with = pilot-proxy) was a
    warning, and the logon's failure was blamed on the server, the user name and the passphrase."""
    import datetime

    grid.store_credential("doctor-robot-user")
    queue = tmp_path / "queue.json"
    queue.write_text(
        json.dumps(
            {
                "copytool": "gridftp",
                "se": grid.gridftp_url(""),
                "myproxy": {
                    "server": "localhost",
                    "port": grid.myproxy_port,
                    "username": "doctor-robot-user",
                    "retrieve_with": "pilot-proxy",
                },
            }
        )
    )
    expired = make_proxy(
        grid.user,
        tmp_path / "expired.pem",
        hours=1,
        not_before=datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=3),
    )
    status, report, text = doctor("--queue-config", str(queue), env=grid_env(grid, expired))
    assert status == 1, text
    (proxy,) = by_check(report, "proxy")
    assert proxy["status"] == "problem" and "expired" in proxy["message"], proxy
    assert "MyProxy logon" in proxy["message"] and "voms-proxy-init" in proxy["fix"], proxy
    (logon,) = by_check(report, "MyProxy logon")
    assert logon["status"] == "warning" and "not tried" in logon["message"], logon
    assert "passphrase" not in json.dumps(report), text
    # and with a valid pilot proxy the same queue's logon is made
    status, report, text = doctor("--queue-config", str(queue), env=grid_env(grid))
    assert status == 0, text
    assert "delegated" in by_check(report, "MyProxy logon")[0]["message"], text
