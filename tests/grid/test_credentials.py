"""The user's proxy from the real myproxy-server on loopback, and a pilot that can trust it.

Throughout, the pilot's own proxy is a robot's ("Pilot Robot"): a trusted MyProxy retriever
that no storage server maps. Every test checks that file is byte-identical afterwards.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from pilot_movers_testkit.ca import make_proxy
from pilot_movers_testkit.grid import LocalGrid, free_port

import job_params
from pilot_movers import Job, QueueConfig
from pilot_movers.checksums import file_checksum
from pilot_movers.credentials import MyProxyOptions, MyProxySettings, fetch_proxy, inspect_proxy
from pilot_movers.errors import NoProxy, PayloadFailed, PhaseFailed, ProxyTooShort, ServiceUnavailable
from tests.helpers import write_file

PASSPHRASE = "correct horse battery staple 42"
PASSPHRASE_ENV = "PILOT_TEST_MYPROXY_PASSPHRASE"


@pytest.fixture(scope="module")
def stored(grid: LocalGrid) -> dict[str, str]:
    """Two credentials of the test user in MyProxy: one behind a passphrase, one without
    (retrievable by trusted retrievers only)."""
    grid.store_credential("mxp", PASSPHRASE)
    grid.store_credential("mxp-robot")
    return {"passphrase": "mxp", "trusted": "mxp-robot"}


@pytest.fixture(autouse=True)
def pilot_proxy(grid: LocalGrid, monkeypatch):
    """X509_USER_PROXY is the pilot's robot proxy; it must come out of every test untouched."""
    monkeypatch.setenv("X509_USER_PROXY", str(grid.pilot_proxy))
    before = hashlib.sha256(grid.pilot_proxy.read_bytes()).hexdigest()
    yield grid.pilot_proxy
    assert hashlib.sha256(grid.pilot_proxy.read_bytes()).hexdigest() == before, "the pilot's proxy was changed"
    assert os.environ["X509_USER_PROXY"] == str(grid.pilot_proxy)


def settings(grid: LocalGrid, **options) -> MyProxySettings:
    section = {
        "server": "localhost",
        "port": grid.myproxy_port,
        "passphrase_env": PASSPHRASE_ENV,
        "backoff_initial": 0.01,
        "backoff_max": 0.02,
        **options,
    }
    username = section.pop("username", "mxp")
    resolved = MyProxySettings.resolve(MyProxyOptions.from_options(section), job_user=username)
    assert resolved is not None
    return resolved


def assert_valid_user_proxy(grid: LocalGrid, path: Path) -> None:
    """The project's inspector, grid-proxy-info and openssl all agree it is the user's proxy."""
    info = inspect_proxy(path)
    assert info.identity == grid.user.dn
    assert info.kind == "rfc3820"
    assert info.time_left() > 3600
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    env = {**os.environ, "X509_CERT_DIR": str(grid.cert_dir)}
    shown = subprocess.run(
        ["grid-proxy-info", "-file", str(path), "-identity"], capture_output=True, text=True, env=env, check=True
    ).stdout.strip()
    assert shown == grid.user.dn
    chain = path.with_suffix(".chain")
    certificates = path.read_text().split("-----END CERTIFICATE-----")
    chain.write_text("".join(c + "-----END CERTIFICATE-----\n" for c in certificates[1:-1]))
    verified = subprocess.run(
        ["openssl", "verify", "-CApath", str(grid.cert_dir), "-allow_proxy_certs", "-untrusted", str(chain), str(path)],
        capture_output=True,
        text=True,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    chain.unlink()


def test_a_credential_is_retrieved_by_passphrase(grid, stored, tmp_path, monkeypatch):
    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE)
    retrieved = fetch_proxy(settings(grid), tmp_path)
    assert retrieved.path.parent == tmp_path
    assert retrieved.attempts == 1
    assert_valid_user_proxy(grid, retrieved.path)


def test_the_passphrase_can_come_from_a_file(grid, stored, tmp_path):
    secret = tmp_path / "passphrase"
    secret.write_text(PASSPHRASE + "\n")
    retrieved = fetch_proxy(settings(grid, passphrase_file=str(secret)), tmp_path / "job")
    assert_valid_user_proxy(grid, retrieved.path)


def test_a_trusted_retriever_needs_no_passphrase_with_the_pilot_proxy(grid, stored, tmp_path, monkeypatch):
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)
    retrieved = fetch_proxy(settings(grid, username=stored["trusted"], retrieve_with="pilot-proxy"), tmp_path)
    assert_valid_user_proxy(grid, retrieved.path)


def test_a_trusted_retriever_needs_no_passphrase_with_the_host_certificate(grid, stored, tmp_path):
    options = {
        "username": stored["trusted"],
        "retrieve_with": "host-cert",
        "host_cert": str(grid.host.cert),
        "host_key": str(grid.host.key),
    }
    retrieved = fetch_proxy(settings(grid, **options), tmp_path)
    assert_valid_user_proxy(grid, retrieved.path)


def test_a_wrong_passphrase_is_a_clear_error_and_not_retried(grid, stored, tmp_path, monkeypatch):
    monkeypatch.setenv(PASSPHRASE_ENV, "not the passphrase")
    sleeps: list[float] = []
    with pytest.raises(NoProxy) as caught:
        fetch_proxy(settings(grid), tmp_path, sleep=sleeps.append)
    assert sleeps == [], "a refusal is not retried"
    assert (caught.value.code, caught.value.transient) == (1163, False)
    assert "refused the logon for 'mxp'" in caught.value.message
    assert "invalid credential passphrase" in caught.value.message
    assert "not the passphrase" not in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_a_missing_passphrase_is_named_before_connecting(grid, stored, tmp_path, monkeypatch):
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)
    with pytest.raises(NoProxy, match=f"{PASSPHRASE_ENV} is not set"):
        fetch_proxy(settings(grid), tmp_path)


def test_a_server_that_is_down_is_retried_then_reported_as_transient(grid, stored, tmp_path, monkeypatch):
    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE)
    sleeps: list[float] = []
    with pytest.raises(ServiceUnavailable) as caught:
        fetch_proxy(settings(grid, port=free_port(), max_attempts=3), tmp_path, sleep=sleeps.append)
    assert len(sleeps) == 2, "three attempts, two waits between them"
    assert (caught.value.code, caught.value.name, caught.value.transient) == (1324, "SERVICENOTAVAILABLE", True)
    assert "cannot reach MyProxy server localhost:" in caught.value.message


def test_the_server_is_found_through_the_environment(grid, stored, tmp_path, monkeypatch):
    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE)
    monkeypatch.setenv("MYPROXY_SERVER", "localhost")
    monkeypatch.setenv("MYPROXY_SERVER_PORT", str(grid.myproxy_port))
    options = MyProxyOptions.from_options({"enabled": "yes", "passphrase_env": PASSPHRASE_ENV})
    resolved = MyProxySettings.resolve(options, job_user="mxp")
    assert (resolved.server, resolved.port, resolved.username) == ("localhost", grid.myproxy_port, "mxp")
    assert_valid_user_proxy(grid, fetch_proxy(resolved, tmp_path).path)


# -- the job -------------------------------------------------------------------------------


def job_queue(grid: LocalGrid, **myproxy) -> QueueConfig:
    return QueueConfig.from_dict(
        {
            "copytool": "gridftp",
            "transfer": {"backoff_initial": 0.01, "backoff_jitter": 0.01, "max_attempts": 2},
            "myproxy": {
                "server": "localhost",
                "port": grid.myproxy_port,
                "retrieve_with": "pilot-proxy",
                "backoff_initial": 0.01,
                "backoff_max": 0.02,
                **myproxy,
            },
        }
    )


SHOW_PROXY = 'stat -c %a "$X509_USER_PROXY" > proxy-mode.txt; echo "$X509_USER_PROXY" > proxy-path.txt'


def test_a_job_uses_the_retrieved_proxy_and_removes_it_at_cleanup(grid, stored, tmp_path):
    (grid.gridftp_dir / "creds-job").mkdir(exist_ok=True)
    checksum = write_file(grid.gridftp_dir / "creds-job" / "in.dat", 100_000)
    params = job_params.parse(
        f"globus-user={stored['trusted']} dir-in={grid.gridftp_url('creds-job/')} files-in=in.dat "
        f"dir-out={grid.gridftp_url('creds-job/out/')} files-out=proxy-mode.txt"
    )
    with Job(params, job_queue(grid), tmp_path / "work") as job:
        (staged,) = job.stage_in()
        job.run_payload(["sh", "-c", SHOW_PROXY])
        job.stage_out()
        payload_proxy = Path(job.proxy_path)
        assert payload_proxy != grid.pilot_proxy
        assert payload_proxy.parent == tmp_path / "work"
    assert staged.checksum == checksum, "the robot's proxy is in no grid-mapfile: only the user's proxy works"
    assert (tmp_path / "work" / "proxy-mode.txt").read_text().strip() == "600"
    assert Path((tmp_path / "work" / "proxy-path.txt").read_text().strip()) == payload_proxy
    assert not payload_proxy.exists(), "the payload proxy is deleted at cleanup"
    assert (grid.gridftp_dir / "creds-job" / "out" / "proxy-mode.txt").exists()
    report = job.report.to_dict()
    assert report["credentials"]["identity"] == grid.user.dn
    assert report["credentials"]["source"] == f"myproxy localhost:{grid.myproxy_port}"


def test_without_myproxy_the_robot_proxy_is_refused_by_the_server(grid, stored, tmp_path):
    (grid.gridftp_dir / "creds-job2").mkdir(exist_ok=True)
    write_file(grid.gridftp_dir / "creds-job2" / "in.dat", 10)
    params = job_params.parse(f"dir-in={grid.gridftp_url('creds-job2/')} files-in=in.dat")
    queue = QueueConfig.from_dict({"copytool": "gridftp"})
    with pytest.raises(PhaseFailed) as caught, Job(params, queue, tmp_path / "work") as job:
        job.stage_in()
    assert caught.value.name == "STAGEINAUTHENTICATIONFAILURE"


@pytest.mark.parametrize("protocol", ["gridftp", "xrootd"])
def test_each_mover_authenticates_with_the_payload_proxy(grid, stored, tmp_path, protocol):
    if protocol == "gridftp":
        (grid.gridftp_dir / "creds-each").mkdir(exist_ok=True)
        write_file(grid.gridftp_dir / "creds-each" / "x.dat", 1000)
        url = grid.gridftp_url("creds-each/")
    else:
        directory = grid.xrootd_dir / "creds-each"
        directory.mkdir(exist_ok=True)
        write_file(directory / "x.dat", 1000)
        url = grid.xrootd_url("creds-each/")
    params = job_params.parse(f"globus-user={stored['trusted']} dir-in={url} files-in=x.dat")
    queue = job_queue(grid)
    queue = dataclasses.replace(queue, copytool=protocol)
    with Job(params, queue, tmp_path / "work") as job:
        (result,) = job.stage_in()
    assert result.status.value == "done"


def test_the_payload_proxy_is_removed_after_a_payload_failure(grid, stored, tmp_path):
    params = job_params.parse(f"globus-user={stored['trusted']}")
    with pytest.raises(PayloadFailed), Job(params, job_queue(grid), tmp_path / "work") as job:
        payload_proxy = Path(job.proxy_path)
        job.run_payload(["sh", "-c", SHOW_PROXY + "; exit 3"])
    assert (tmp_path / "work" / "proxy-mode.txt").read_text().strip() == "600"
    assert not payload_proxy.exists()
    assert [p.name for p in (tmp_path / "work").iterdir() if "proxy" in p.name and p.suffix == ".pem"] == []


def test_a_failed_logon_ends_the_job_in_the_credentials_phase_with_a_report(grid, stored, tmp_path):
    params = job_params.parse(f"globus-user={stored['trusted']}")
    queue = job_queue(grid, port=free_port(), max_attempts=2)
    with pytest.raises(ServiceUnavailable), Job(params, queue, tmp_path / "work", report_path=tmp_path / "r.json"):
        pytest.fail("the job body must not run without credentials")
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["failed_phase"] == "credentials"
    assert (report["error"]["code"], report["error"]["transient"]) == (1324, True)


def test_a_proxy_too_short_for_the_job_is_refused_before_any_transfer(grid, stored, tmp_path, monkeypatch):
    short = make_proxy(grid.user, tmp_path / "short.pem", hours=0.25)
    monkeypatch.setenv("X509_USER_PROXY", str(short))
    params = job_params.parse(f"dir-in={grid.gridftp_url('nowhere/')} files-in=x.dat")
    queue = QueueConfig.from_dict({"copytool": "gridftp", "credentials": {"min_lifetime": 3600}})
    with pytest.raises(ProxyTooShort), Job(params, queue, tmp_path / "work") as job:
        job.stage_in()
    stage_in = job.report.to_dict()["phases"]["stage-in"]
    assert stage_in["files"] == [], "no transfer was attempted"
    assert stage_in["error"]["code"] == 1382
    monkeypatch.setenv("X509_USER_PROXY", str(grid.pilot_proxy))


def test_a_legacy_proxy_is_refused_where_rfc3820_is_required(grid, tmp_path, monkeypatch):
    legacy = make_proxy(grid.user, tmp_path / "legacy.pem", rfc=False)
    monkeypatch.setenv("X509_USER_PROXY", str(legacy))
    params = job_params.parse(f"dir-in={grid.gridftp_url('nowhere/')} files-in=x.dat")
    queue = QueueConfig.from_dict({"copytool": "gridftp", "credentials": {"require_rfc3820": True}})
    with pytest.raises(NoProxy, match="RFC 3820"), Job(params, queue, tmp_path / "work") as job:
        job.stage_in()
    monkeypatch.setenv("X509_USER_PROXY", str(grid.pilot_proxy))


def test_no_log_line_holds_the_passphrase_the_key_or_the_pem(grid, stored, tmp_path, caplog, monkeypatch):
    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE)
    caplog.set_level(logging.DEBUG)
    params = job_params.parse("globus-user=mxp")
    queue = job_queue(grid, retrieve_with="passphrase", passphrase_env=PASSPHRASE_ENV)
    with Job(params, queue, tmp_path / "work", report_path=tmp_path / "r.json") as job:
        key_lines = [
            line for line in Path(job.proxy_path).read_text().splitlines() if line and not line.startswith("-----")
        ]
        job.run_payload(["true"])
    # The same job from the console, at the most verbose level.
    (tmp_path / "q.json").write_text(
        json.dumps({"myproxy": {"server": "localhost", "port": grid.myproxy_port, "passphrase_env": PASSPHRASE_ENV}})
    )
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "pilot_movers",
            "-v",
            "run",
            "--job-params",
            "globus-user=mxp",
            "--queue-config",
            str(tmp_path / "q.json"),
            "--report",
            str(tmp_path / "r2.json"),
            "--",
            "true",
        ],
        capture_output=True,
        text=True,
        env={**os.environ},
    )
    assert cli.returncode == 0, cli.stderr
    text = "\n".join(r.getMessage() for r in caplog.records) + cli.stdout + cli.stderr
    text += (tmp_path / "r.json").read_text() + (tmp_path / "r2.json").read_text()
    assert "retrieved a proxy of" in text, "the logs were captured"
    assert PASSPHRASE not in text
    assert "PRIVATE KEY" not in text and "BEGIN CERTIFICATE" not in text
    assert not any(line in text for line in key_lines), "no line of the proxy's PEM is logged"


@pytest.mark.parametrize("protocol", ["gridftp", "xrootd"])
def test_two_jobs_in_one_process_each_use_their_own_users_proxy(grid, stored, tmp_path, protocol):
    """A multi-job pilot: two jobs in threads of one process, each fetching its own user's proxy
    from MyProxy: one user every server maps, one no server knows. Neither borrows the other's
    proxy: the first always succeeds, the second is always refused, however they interleave."""
    grid.store_credential("stranger", owner=grid.unauthorised)
    if protocol == "gridftp":
        base, url = grid.gridftp_dir / "two-jobs", grid.gridftp_url("two-jobs/")
    else:
        base, url = grid.xrootd_dir / "two-jobs", grid.xrootd_url("two-jobs/")
    base.mkdir(exist_ok=True)
    names = [f"f{i}.dat" for i in range(6)]
    for index, name in enumerate(names):
        write_file(base / name, 200_000, seed=index)
        if protocol == "xrootd":  # the XRootD server runs as nobody
            os.chown(base / name, 65534, 65534)
    queue = dataclasses.replace(job_queue(grid), copytool=protocol)
    queue = dataclasses.replace(queue, transfer=queue.transfer.replace(max_attempts=1, concurrency=3))
    outcomes: dict[str, object] = {}

    def run(label: str, user: str) -> None:
        params = job_params.parse(f"globus-user={user} dir-in={url} files-in={','.join(names)}")
        job = Job(params, queue, tmp_path / label, handle_signals=False)
        try:
            with job:
                job.stage_in()
            outcomes[label] = "ok"
        except PhaseFailed as exc:
            outcomes[label] = exc.name

    for round_ in range(3):
        threads = [
            threading.Thread(target=run, args=(f"user-{round_}", stored["trusted"])),
            threading.Thread(target=run, args=(f"stranger-{round_}", "stranger")),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert outcomes[f"user-{round_}"] == "ok", outcomes
        assert outcomes[f"stranger-{round_}"] == "STAGEINAUTHENTICATIONFAILURE", outcomes
        for name in names:
            assert file_checksum(tmp_path / f"user-{round_}" / name) == file_checksum(base / name)
            assert not (tmp_path / f"stranger-{round_}" / name).exists()


def test_an_expired_pilot_proxy_at_the_logon_says_whose_proxy_expired_and_what_to_do(grid, stored, tmp_path):
    """Issue 18: the pilot's own proxy, presented to MyProxy, had expired; the job said only
    ``tls alert certificate expired``, with the user's credential blamed."""
    import datetime

    expired = tmp_path / "expired-pilot.pem"
    make_proxy(
        grid.pilot,
        expired,
        hours=12,
        not_before=datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=13),
    )
    queue = tmp_path / "q.json"
    queue.write_text(
        json.dumps({"myproxy": {"server": "localhost", "port": grid.myproxy_port, "retrieve_with": "pilot-proxy"}})
    )
    out = tmp_path / "work"
    env = {**os.environ, "X509_USER_PROXY": str(expired), "X509_CERT_DIR": str(grid.cert_dir)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pilot_movers",
            "run",
            "--job-params",
            f"globus-user={stored['trusted']}",
            "--queue-config",
            str(queue),
            "--workdir",
            str(out),
            "--report",
            str(tmp_path / "r.json"),
            "--",
            "true",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert (report["error"]["name"], report["error"]["code"], report["error"]["transient"]) == (
        "CERTIFICATEHASEXPIRED",
        1373,
        False,
    )
    message = report["error"]["message"]
    assert "the pilot's own proxy" in message and str(expired) in message
    assert "expired at" in message and "Renew the pilot's proxy" in message
    assert "tls alert" not in done.stderr


@pytest.mark.parametrize("mover", ["gridftp", "xrootd", "https", "datahost"])
def test_a_missing_trust_dir_is_a_configuration_error_before_any_transfer(grid, tmp_path, mover, request):
    """Issue 18: X509_CERT_DIR naming no directory was reported as a server error, retried three
    times, exit 3 (a pilot resubmitted for ever to a broken node). It is the node's
    configuration: exit 1, BADQUEUECONFIGURATION, no transfer attempted."""
    if mover == "gridftp":
        directory = grid.gridftp_url("trust-dir/")
    elif mover == "xrootd":
        directory = grid.xrootd_url("trust-dir/")
    elif mover == "https":
        directory = grid.https_url("trust-dir/")
    else:
        datahost = request.getfixturevalue("datahost")
        directory = f"datahost://{datahost.address}/griduser/"
    queue = tmp_path / "q.json"
    queue.write_text(json.dumps({"copytool": mover}))
    env = {**os.environ, "X509_USER_PROXY": str(grid.user_proxy), "X509_CERT_DIR": str(tmp_path / "no-such-dir")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pilot_movers",
            "run",
            "--job-params",
            f"dir-in={directory} files-in=a.dat",
            "--queue-config",
            str(queue),
            "--workdir",
            str(tmp_path / "w"),
            "--report",
            str(tmp_path / "r.json"),
            "--",
            "true",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert (report["error"]["name"], report["error"]["transient"]) == ("BADQUEUECONFIGURATION", False)
    assert "no-such-dir" in report["error"]["message"] and "IGTF" in report["error"]["message"]
    assert not report["phases"].get("stage-in", {}).get("files"), "no transfer was attempted"
