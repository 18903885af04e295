"""The payload is not trusted (issue 19): each test is a hostile payload (or a killed pilot) as a
real process under the real ``pilot-movers run``, against the local grid where servers matter."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from pilot_movers_testkit.grid import LocalGrid

from pilot_movers.checksums import file_checksum
from pilot_movers.ledger import state_dir
from tests.helpers import write_file

SECRETS = {
    "MYPROXY_PASSPHRASE": "passphrase-of-the-pilot-7731",
    "GLOBUS_CLIENT_ID": "client-id-of-the-pilot-7732",
    "GLOBUS_CLIENT_SECRET": "client-secret-of-the-pilot-7733",
    "GLOBUS_REFRESH_TOKEN": "refresh-token-of-the-pilot-7734",
    "BEARER_TOKEN": "bearer-token-of-the-pilot-7735",
}


def cli(params: str, *args: str, env: dict[str, str] | None = None, **popen) -> subprocess.Popen:
    """``pilot-movers -v run --job-params PARAMS ARGS...``, started."""
    return subprocess.Popen(
        [sys.executable, "-m", "pilot_movers", "-v", "run", "--job-params", params, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        **popen,
    )


def finished(process: subprocess.Popen, timeout: float = 120) -> tuple[int, str]:
    _, err = process.communicate(timeout=timeout)
    return process.returncode, err


def local_job(source: Path, *names: str) -> str:
    return f"in-mode=local dir-in={source} files-in={','.join(names)}"


def alive(marker: str) -> list[str]:
    found = subprocess.run(["pgrep", "-f", f"(^|/)sleep {marker}$"], capture_output=True, text=True).stdout
    return found.split()


def described(pids: list[str]) -> str:
    """What ``ps`` says of ``pids`` (for a failure's message)."""
    if not pids:
        return ""
    shown = subprocess.run(
        ["ps", "-o", "pid,ppid,pgid,sid,stat,args", "-p", ",".join(pids)], capture_output=True, text=True
    )
    return shown.stdout


@pytest.fixture
def local_queue(tmp_path: Path) -> Path:
    queue = tmp_path / "local.json"
    queue.write_text(json.dumps({"copytool": "local"}))
    return queue


@pytest.fixture
def myproxy_queue(grid: LocalGrid, tmp_path: Path) -> Path:
    """A queue fetching the user's proxy from MyProxy with the pilot's robot proxy."""
    grid.store_credential("mxp-hostile")
    queue = tmp_path / "myproxy.json"
    queue.write_text(
        json.dumps(
            {
                "copytool": "local",
                "myproxy": {"server": "localhost", "port": grid.myproxy_port, "retrieve_with": "pilot-proxy"},
            }
        )
    )
    return queue


def pilot_env(grid: LocalGrid) -> dict[str, str]:
    return grid.client_env(proxy=grid.pilot_proxy)


# -- the journal a payload could forge ---------------------------------------------------------


def test_forged_journal_lines_never_make_a_later_job_remove_a_users_files(grid: LocalGrid, tmp_path, local_queue):
    """A payload wrote ``+ URL`` lines into the job's journal; the next job deleted those files
    with its own credential (4 of 4), as "left by an earlier run". Forged lines in the old journal,
    in a record of its own making and appended to its job's record are all ignored now."""
    victims = []
    for number, (root, url) in enumerate(
        [
            (grid.gridftp_dir, grid.gridftp_url),
            (grid.gridftp_dir, grid.gridftp_url),
            (grid.xrootd_dir, grid.xrootd_url),
            (grid.xrootd_dir, grid.xrootd_url),
        ]
    ):
        path = root / "victims" / f"v{number}.dat"
        write_file(path, 1000, seed=number)
        if root == grid.xrootd_dir:
            os.chown(path.parent, 65534, 65534)
            os.chown(path, 65534, 65534)
        victims.append((path, url(f"victims/v{number}.dat")))
    urls = " ".join(url for _, url in victims)
    source = tmp_path / "in"
    write_file(source / "a.dat", 100)
    ledger = Path(state_dir()) / "jobs"
    forge = (
        f"for u in {urls}; do printf '+ %s\\n' \"$u\" >> .pilot-movers-journal; "
        f'printf \'0123456789abcdef0123456789abcdef + %s\\n+ %s\\n\' "$u" "$u" >> {ledger}/99999-forged.record; '
        f'for r in {ledger}/*.record; do printf \'+ %s\\n\' "$u" >> "$r"; done; done'
    )
    work = tmp_path / "work"
    status, err = finished(
        cli(
            local_job(source, "a.dat"),
            "--queue-config",
            str(local_queue),
            "--workdir",
            str(work),
            "--",
            "sh",
            "-c",
            forge,
            env=grid.client_env(),
        )
    )
    assert status == 0, err
    status, err = finished(
        cli(
            "",
            "--queue-config",
            str(local_queue),
            "--workdir",
            str(work),
            "--report",
            str(tmp_path / "r.json"),
            "--",
            "true",
            env=grid.client_env(),
        )
    )
    assert status == 0, err
    assert [path for path, _ in victims if not path.exists()] == [], "a user's file was removed"
    setup = json.loads((tmp_path / "r.json").read_text())["setup"]
    assert any("not written by pilot-movers" in note for note in setup), setup


@pytest.mark.parametrize("replacement", ["symlink", "directory"])
def test_a_payload_that_replaces_the_journal_cannot_keep_the_users_proxy(
    grid: LocalGrid, tmp_path, myproxy_queue, replacement
):
    """A journal replaced by a symlink to /dev/null or a directory made the cleanup raise before the
    user's proxy was removed (4 of 4 left it). Every cleanup step now runs whatever another raised."""
    record_of_my_pilot = (
        f"pilot=$(awk '{{print $4}}' /proc/$PPID/stat); r=$(ls {state_dir()}/jobs/$pilot-*.record); rm -f \"$r\"; "
    )
    if replacement == "symlink":
        attack = (
            record_of_my_pilot
            + 'ln -s /dev/null "$r"; rm -f .pilot-movers-journal; ln -s /dev/null .pilot-movers-journal'
        )
    else:
        attack = record_of_my_pilot + 'mkdir "$r"; rm -f .pilot-movers-journal; mkdir .pilot-movers-journal'
    source = tmp_path / "in"
    write_file(source / "a.dat", 100)
    work = tmp_path / "work"
    status, err = finished(
        cli(
            f"globus-user=mxp-hostile {local_job(source, 'a.dat')}",
            "--queue-config",
            str(myproxy_queue),
            "--workdir",
            str(work),
            "--",
            "sh",
            "-c",
            attack,
            env=pilot_env(grid),
        )
    )
    assert status == 0, err
    assert list(work.glob(".pilot-movers-proxy-*")) == [], "the user's proxy was left behind"
    report = json.loads((work / "pilot_movers_report.json").read_text())
    assert any("removed the user's proxy" in note for note in report["cleanup"]), report["cleanup"]


# -- secrets ----------------------------------------------------------------------------------


def test_the_payload_cannot_read_the_pilots_environment_and_gets_none_of_its_secrets(tmp_path):
    """A payload of the pilot's uid read /proc/<pilot>/environ: the MyProxy passphrase, the Globus
    client secret and refresh token, the bearer token (2 of 2 jobs). Run unprivileged: root reads
    every process whatever the pilot does."""
    base = Path(tempfile.mkdtemp(prefix="pilot-movers-hostile-", dir="/tmp"))
    try:
        nobody = pwd.getpwnam("nobody")
        (base / "in").mkdir()
        (base / "in" / "a.dat").write_bytes(b"input")
        (base / "q.json").write_text(json.dumps({"copytool": "local"}))
        for path in (base, base / "in", base / "in" / "a.dat", base / "q.json"):
            os.chown(path, nobody.pw_uid, nobody.pw_gid)
        spy = (
            "pilot=$(awk '{print $4}' /proc/$PPID/stat); "
            "cat /proc/$pilot/environ > stolen-environ 2> denied-environ; "
            "head -c 4096 /proc/$pilot/mem > stolen-mem 2> denied-mem; "
            "env > my-environment"
        )
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(base),
            "PILOT_MOVERS_STATE_DIR": str(base / "ledger"),
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
            **SECRETS,
        }
        process = subprocess.Popen(
            [
                "setpriv",
                "--reuid=nobody",
                "--regid=nogroup",
                "--clear-groups",
                sys.executable,
                "-m",
                "pilot_movers",
                "run",
                "--job-params",
                local_job(base / "in", "a.dat"),
                "--queue-config",
                str(base / "q.json"),
                "--workdir",
                str(base / "work"),
                "--",
                "sh",
                "-c",
                spy,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=base,
        )
        status, err = finished(process)
        assert status == 0, err
        work = base / "work"
        stolen = (work / "stolen-environ").read_bytes() + (work / "stolen-mem").read_bytes()
        assert stolen == b"", "the payload read the pilot's environment or memory"
        assert "Permission denied" in (work / "denied-environ").read_text()
        mine = (work / "my-environment").read_text()
        for name in ("MYPROXY_PASSPHRASE", "GLOBUS_CLIENT_ID", "GLOBUS_CLIENT_SECRET", "GLOBUS_REFRESH_TOKEN"):
            assert SECRETS[name] not in mine, f"{name} reached the payload's own environment"
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_once_the_job_is_the_users_the_payload_gets_the_users_credentials_only(
    grid: LocalGrid, tmp_path, myproxy_queue
):
    """The pilot's own bearer token reached the payload after the job switched to the user's proxy."""
    source = tmp_path / "in"
    write_file(source / "a.dat", 100)
    work = tmp_path / "work"
    env = {**pilot_env(grid), "BEARER_TOKEN": SECRETS["BEARER_TOKEN"], "X509_USER_CERT": "/pilot/cert.pem"}
    status, err = finished(
        cli(
            f"globus-user=mxp-hostile {local_job(source, 'a.dat')}",
            "--queue-config",
            str(myproxy_queue),
            "--workdir",
            str(work),
            "--",
            "sh",
            "-c",
            "env > my-environment",
            env=env,
        )
    )
    assert status == 0, err
    mine = dict(line.split("=", 1) for line in (work / "my-environment").read_text().splitlines() if "=" in line)
    assert "BEARER_TOKEN" not in mine and "X509_USER_CERT" not in mine
    assert os.path.basename(mine["X509_USER_PROXY"]).startswith(".pilot-movers-proxy-"), "the user's proxy"


# -- the payload's whole tree --------------------------------------------------------------------


def test_everything_the_payload_started_dies_when_it_ends(tmp_path, local_queue):
    """A setsid child escaped even a job that ended normally (3 of 3)."""
    source = tmp_path / "in"
    write_file(source / "a.dat", 100)
    script = "setsid sleep 3217 & (sleep 3218 &) ; sh -c 'setsid sleep 3219 & exit 0'; sleep 0.5; exit 0"
    status, err = finished(
        cli(
            local_job(source, "a.dat"),
            "--queue-config",
            str(local_queue),
            "--workdir",
            str(tmp_path / "work"),
            "--",
            "sh",
            "-c",
            script,
        )
    )
    assert status == 0, err
    time.sleep(0.3)
    left = alive("3217") + alive("3218") + alive("3219")
    seen = described(left)
    for pid in left:
        os.kill(int(pid), signal.SIGKILL)
    assert left == [], f"the payload's processes outlived the job:\n{seen}\n{err}"
    report = json.loads((tmp_path / "work" / "pilot_movers_report.json").read_text())
    assert report["payload"]["survivors"] == []


def test_everything_the_payload_started_dies_with_a_pilot_killed_by_sigkill(tmp_path, local_queue):
    """A pilot SIGKILLed while the payload ran left its background processes running with the
    user's proxy (10 of 10)."""
    source = tmp_path / "in"
    write_file(source / "a.dat", 100)
    script = "setsid sleep 3227 & (sleep 3228 &) ; sleep 3229"
    process = cli(
        local_job(source, "a.dat"),
        "--queue-config",
        str(local_queue),
        "--workdir",
        str(tmp_path / "work"),
        "--",
        "sh",
        "-c",
        script,
    )
    deadline = time.monotonic() + 60
    while not (alive("3227") and alive("3228") and alive("3229")):
        assert time.monotonic() < deadline and process.poll() is None, process.communicate()
        time.sleep(0.05)
    process.kill()
    _, err = process.communicate(timeout=30)
    deadline = time.monotonic() + 20  # the guard's grace (10 s) between SIGTERM and SIGKILL, at most
    while alive("3227") + alive("3228") + alive("3229") and time.monotonic() < deadline:
        time.sleep(0.1)
    left = alive("3227") + alive("3228") + alive("3229")
    seen = described(left)
    for pid in left:
        os.kill(int(pid), signal.SIGKILL)
    assert left == [], f"the payload's processes outlived the pilot:\n{seen}\n{err}"


# -- what a killed pilot leaves ------------------------------------------------------------------


def test_a_killed_pilots_proxy_and_work_dir_are_removed_by_the_next_job_anywhere(
    grid: LocalGrid, tmp_path, myproxy_queue, local_queue
):
    """With the default temporary work dir the user's proxy (a private key) stayed for good after a
    SIGKILL (5 of 5): the next run made a new dir and swept nothing."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    source = tmp_path / "in"
    write_file(source / "a.dat", 100)
    env = {**pilot_env(grid), "TMPDIR": str(scratch)}
    process = cli(
        f"globus-user=mxp-hostile {local_job(source, 'a.dat')}",
        "--queue-config",
        str(myproxy_queue),
        "--",
        "sleep",
        "3237",
        env=env,
    )
    deadline = time.monotonic() + 60
    while not (list(scratch.glob("pilot-movers-job-*/.pilot-movers-proxy-*.pem")) and alive("3237")):
        assert time.monotonic() < deadline and process.poll() is None, process.communicate()
        time.sleep(0.05)
    process.kill()
    process.communicate(timeout=30)
    (proxy,) = list(scratch.glob("pilot-movers-job-*/.pilot-movers-proxy-*.pem"))
    status, err = finished(
        cli(
            local_job(source, "a.dat"),
            "--queue-config",
            str(local_queue),
            "--workdir",
            str(tmp_path / "next"),
            "--",
            "true",
            env=env,
        )
    )
    assert status == 0, err
    assert not proxy.exists(), "the killed job's user proxy is still there"
    assert list(scratch.glob("pilot-movers-job-*")) == [], "the killed job's temporary work dir is still there"
    setup = json.loads((tmp_path / "next" / "pilot_movers_report.json").read_text())["setup"]
    assert any("left by a job that was killed" in note for note in setup), setup


def test_a_killed_jobs_local_temporary_output_is_removed_by_the_next_job(tmp_path, gib_file, local_queue):
    """out-mode=local temporary files at the destination were not journaled and never swept (5 of 5)."""
    big, _ = gib_file
    out = tmp_path / "out"
    out.mkdir()
    queue = tmp_path / "slow-local.json"
    queue.write_text(json.dumps({"copytool": "local", "movers": {"local": {"kernel_copy_size": 1 << 40}}}))
    process = cli(
        f"out-mode=local dir-out={out} files-out=big.dat",
        "--queue-config",
        str(queue),
        "--workdir",
        str(tmp_path / "work"),
        "--",
        "cp",
        str(big),
        "big.dat",
    )
    deadline = time.monotonic() + 60
    while not list(out.glob("big.dat.pilot-movers-*.part")):
        assert time.monotonic() < deadline and process.poll() is None, process.communicate()
        time.sleep(0.002)
    process.kill()
    process.communicate(timeout=30)
    assert list(out.glob("*.part")), "the killed job left a temporary copy at the destination"
    source = tmp_path / "in"
    write_file(source / "a.dat", 100)
    status, err = finished(
        cli(
            local_job(source, "a.dat"),
            "--queue-config",
            str(local_queue),
            "--workdir",
            str(tmp_path / "next"),
            "--",
            "true",
        )
    )
    assert status == 0, err
    assert list(out.glob("*.part")) == []


def test_a_rerun_in_the_same_work_dir_keeps_complete_inputs_and_replaces_changed_ones(grid: LocalGrid, tmp_path):
    """A rerun of the same job in the same work dir failed for good with FILEEXISTS on the inputs
    the earlier run had landed (11 of 18)."""
    base = grid.gridftp_dir / "rerun"
    checksums = {name: write_file(base / name, 200_000, seed=n) for n, name in enumerate(("a.dat", "b.dat"))}
    queue = tmp_path / "q.json"
    queue.write_text(json.dumps({"copytool": "gridftp"}))
    work = tmp_path / "work"
    params = f"dir-in={grid.gridftp_url('rerun/')} files-in=a.dat,b.dat"
    status, err = finished(cli(params, "--queue-config", str(queue), "--workdir", str(work), "--", "false"))
    assert status == 1, err  # the payload failed: the inputs stay in the work dir
    with open(work / "b.dat", "ab") as changed:
        changed.write(b"the payload wrote here")
    status, err = finished(cli(params, "--queue-config", str(queue), "--workdir", str(work), "--", "true"))
    assert status == 0, err
    files = {
        f["name"]: f for f in json.loads((work / "pilot_movers_report.json").read_text())["phases"]["stage-in"]["files"]
    }
    assert files["a.dat"]["status"] == "already-done", files["a.dat"]
    assert files["b.dat"]["status"] == "done", files["b.dat"]
    assert {name: file_checksum(work / name) for name in checksums} == checksums
