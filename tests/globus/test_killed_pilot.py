"""A killed pilot must not block the node (issue 22): after SIGKILL (an OOM kill, a batch system's
hard limit) no cleanup runs. Its GCP dies with it (the kernel's parent-death signal), and the
next job of the user on the node removes what it left (its GCP config dir, its worker endpoint on
the service, any process of its GCP's group) and runs. Through the real CLI, against the Transfer
API emulator and its stand-in globusconnectpersonal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pilot_movers_testkit.globus import wait_until

from tests.globus.pilots import SENDJOB, WRITE_10MB, Site


def gcp_processes(workdir: Path) -> dict[int, str]:
    """Processes of a GCP restricted to ``workdir`` (the job's own), by pid."""
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            command = Path(f"/proc/{name}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = Path(f"/proc/{name}/stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            continue
        if state != "Z" and "-start" in command and f"rw{workdir}" in command:
            found[int(name)] = command
    return found


def processes_in(directory: Path) -> list[int]:
    """Processes whose working directory is ``directory``."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.path.realpath(f"/proc/{name}/cwd") == os.path.realpath(directory):
                    found.append(int(name))
            except OSError:
                continue
    return found


def test_after_sigkill_the_gcp_dies_and_the_next_job_removes_what_the_killed_one_left(site: Site) -> None:
    site.put("SITE1", "/home/osg_data/panda/0064.file", os.urandom(2_000_000))
    first_dir = site.base / "killed"
    pilot = subprocess.Popen(
        site.command(
            SENDJOB, ["sh", "-c", "touch payload-started; sleep 120"], first_dir, site.write_queue(), site.base / "r1"
        ),
        env=site.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until((first_dir / "payload-started").exists, timeout=90, what="the payload running")
        assert gcp_processes(first_dir), "the job's GCP runs while its payload does"
        (endpoint,) = [e for e in site.emulator.endpoints.all() if e.is_globus_connect]
        state_dirs = list((site.base / "gcp-state").iterdir())
        pilot.kill()  # SIGKILL: no cleanup runs
        pilot.wait(timeout=30)
    finally:
        if pilot.poll() is None:
            pilot.kill()
    killed_at = time.monotonic()
    wait_until(lambda: not gcp_processes(first_dir), timeout=10, what="the killed pilot's GCP to die with it")
    print(f"\nthe killed pilot's GCP was gone {time.monotonic() - killed_at:.2f} s after SIGKILL")
    for pid in processes_in(first_dir):  # the killed pilot's payload is not this test's subject
        os.kill(pid, signal.SIGKILL)
    assert [e.id for e in site.emulator.endpoints.all() if e.is_globus_connect] == [endpoint.id], "still registered"
    assert state_dirs and all(d.exists() for d in state_dirs), "and its config dir is still on disk"
    assert not site.gcp_running(), "nothing holds the node's GCP control socket"

    doctor = subprocess.run(
        [sys.executable, "-m", "pilot_movers", "doctor", "--json"], env=site.env(), capture_output=True, text=True
    )
    said = [f for f in json.loads(doctor.stdout)["findings"] if f["check"] == "left by killed jobs"]
    assert any(str(state_dirs[0]) in f["message"] and "removed now" in f["message"] for f in said), said
    assert any(f"globus-endpoint {endpoint.id}" in f["message"] for f in said), said
    assert not state_dirs[0].exists(), "the doctor removed the killed job's GCP config dir"

    second, _ = site.run(SENDJOB, WRITE_10MB, site.base / "next")
    assert second.returncode == 0, second.stderr
    assert endpoint.id not in [e.id for e in site.emulator.endpoints.all()], "the killed job's endpoint was deleted"
    assert f"deleted the worker endpoint {endpoint.id}, left by a job that was killed" in second.stderr
    site.assert_nothing_left()
    assert json.loads((site.base / "next-report.json").read_text())["error"] is None


def test_a_service_hanging_at_cleanup_is_waited_for_at_most_cleanup_timeout_and_sigterm_cuts_it_short(
    site: Site,
) -> None:
    """The Transfer API stops answering once the payload ran (a frozen load balancer): deleting
    the worker endpoint must not hold the job for minutes (60 s x 4 tries before), the endpoint is
    listed in left_behind, stays in the ledger for the next Globus job; a SIGTERM ends the wait."""
    from pilot_movers_testkit.globus_emulator import FaultKind

    site.put("SITE1", "/home/osg_data/panda/0064.file", os.urandom(100_000))
    for stop_with_sigterm in (False, True):
        workdir = site.base / f"hung-{stop_with_sigterm}"
        report_path = site.base / f"hung-{stop_with_sigterm}.json"
        queue = site.write_queue(f"q-{stop_with_sigterm}.json", transfer={"cleanup_timeout": 6})
        pilot = subprocess.Popen(
            site.command(SENDJOB, ["sh", "-c", "touch payload-started; sleep 1; exit 3"], workdir, queue, report_path),
            env=site.env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_until((workdir / "payload-started").exists, timeout=90, what="the payload running")
        hang = site.emulator.inject(FaultKind.API_HANG)
        try:
            started = time.monotonic()
            if stop_with_sigterm:
                time.sleep(3.0)  # the payload ended (1 s); the cleanup waits on the service
                pilot.send_signal(signal.SIGTERM)
            _, err = pilot.communicate(timeout=120)
            took = time.monotonic() - started
        finally:
            site.emulator.remove_fault(hang)
            if pilot.poll() is None:
                pilot.kill()
        report = json.loads(report_path.read_text())
        left = [item for item in report["left_behind"] if item["kind"] == "globus-endpoint"]
        assert len(left) == 1, (report["left_behind"], err[-2000:])
        assert report["error"]["name"] == "PAYLOADEXECUTIONFAILURE", "the job's own failure stays its error"
        if stop_with_sigterm:
            assert pilot.returncode == 1 and took < 3 + 2, f"the job ended {took:.1f} s after the service hung"
            assert "cleanup cut short by SIGTERM: no more waiting on servers" in report["cleanup"]
        else:
            assert pilot.returncode == 1 and took < 1 + 6 + 5, f"the cleanup took {took:.1f} s"
        print(f"\nservice hanging at cleanup, SIGTERM={stop_with_sigterm}: the job ended {took:.1f} s after")
    (still,) = [e.id for e in site.emulator.endpoints.all() if e.is_globus_connect]  # the last job's
    next_job, _ = site.run(SENDJOB, WRITE_10MB, site.base / "after")
    assert next_job.returncode == 0, next_job.stderr
    assert f"deleted the worker endpoint {still}, left by a job that was killed" in next_job.stderr
    site.assert_nothing_left()


def test_two_jobs_of_one_user_on_two_nodes_run_side_by_side_with_a_refresh_token(site: Site) -> None:
    """With the user's refresh token the worker endpoint is the user's, and the key=value seed
    names it like the user's real endpoint (globus-endpoint-local=mxp#MXP_BNL_TEST): while one
    job's exists, another job resolving mxp#MXP_BNL_TEST got a permanent 9001 "ambiguous"."""
    import shutil
    import tempfile

    from tests.globus.pilots import KEY_VALUE

    site.put("mxp#MXP_BNL_TEST", "/direct/usatlas+u/mxp/xs.sh", os.urandom(300_000))
    token = site.emulator.register_refresh_token(site.globus.client_id, "mxp")
    other_node = Path(tempfile.mkdtemp(prefix="gn-", dir="/tmp"))
    env = site.env(GLOBUS_REFRESH_TOKEN=token)

    def params(job: str) -> str:
        return KEY_VALUE.replace("dir-out=/home/usatlas1", f"dir-out=/home/usatlas1/{job}")

    try:
        first = subprocess.Popen(
            site.command(
                params("one"),
                ["sh", "-c", "touch started; sleep 6"],
                site.base / "one",
                site.write_queue(),
                site.base / "one.json",
            ),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        # the first job's worker endpoint (the user's, "named" MXP_BNL_TEST) exists while its payload runs
        wait_until((site.base / "one" / "started").exists, timeout=60, what="the first job's payload")
        second_env = {**env, **site.globus.node_env(other_node)}
        second, report = site.run(params("two"), ["true"], site.base / "two", env=second_env)
        assert first.poll() is None, "the two jobs overlapped"
        _, first_err = first.communicate(timeout=180)
    finally:
        shutil.rmtree(other_node, ignore_errors=True)
    assert second.returncode == 0, second.stderr[-3000:]
    assert first.returncode == 0, first_err[-3000:]
    assert report["error"] is None
    names = {t.destination.display_name for t in site.tasks() if t.destination.is_globus_connect}
    assert names == {"MXP_BNL_TEST pilot-movers-job-one", "MXP_BNL_TEST pilot-movers-job-two"}
    site.assert_nothing_left()


def test_a_200_file_stage_out_makes_one_rename_per_file_and_few_other_calls_and_the_report_counts_them(
    site: Site,
) -> None:
    """Issue 22 (API budget): all pilots of a VO share one OAuth2 client, and the service
    rate-limits per client. A stage-out of 200 files made 601 one-at-a-time calls after the task
    (ls, ls, rename per file). The copy is verified by the service where it lies (no listing) and
    the rename refuses a file in the way itself (no look first): one rename per file (the Transfer
    API has no bulk rename) and a number of other calls that does not grow with the files."""
    site.put("SITE1", "/home/osg_data/panda/0064.file", b"x" * 1000)
    names = [f"out{i:03d}.dat" for i in range(200)]
    params = (
        "--StageinGOsrc=SITE1:/home/osg_data/panda/0064.file --OutputGO=SITE1:/home/osg_data/panda/out/ "
        f"--WorkingendpointGO=OSGDEV --Data={','.join(names)}"
    )
    payload = ["python3", "-c", f"[open(n, 'w').write(n) for n in {names!r}]"]
    before = site.emulator.api_calls()
    done, report = site.run(params, payload, site.base / "many")
    assert done.returncode == 0, done.stderr[-3000:]
    calls = {k: v - before.get(k, 0) for k, v in site.emulator.api_calls().items() if v - before.get(k, 0)}
    print("\nTransfer API calls of a job with 1 input and 200 outputs:", json.dumps(calls, indent=1))
    renames = calls.pop("POST /v0.10/operation/endpoint/<endpoint_id>/rename")
    assert renames == 200, "one per output (the input is renamed in the work dir, on this node)"
    assert calls.get("GET /v0.10/operation/endpoint/<endpoint_id>/ls", 0) <= 4, calls
    assert sum(calls.values()) <= 40, calls
    counted = {phase: report["phases"][phase]["service_requests"]["globus"] for phase in ("stage-in", "stage-out")}
    assert counted["stage-out"] >= 200 and counted["stage-in"] >= 1, counted
    assert "no progress" not in done.stderr, "no false stall warnings (201 before)"
    assert len(list((site.directory("SITE1") / "home/osg_data/panda/out").iterdir())) == 200


def test_an_endpoint_a_forged_ledger_line_names_is_not_deleted_unless_it_is_a_dead_jobs_worker(site: Site) -> None:
    """The payload can read the ledger's key and forge ``hold globus-endpoint ID``: the next
    Globus job deletes only a pilot-movers worker endpoint that no GCP serves."""
    from pilot_movers.ledger import Ledger

    site.put("SITE1", "/home/osg_data/panda/0064.file", b"x" * 1000)
    site1 = site.globus.endpoints["SITE1"].id
    record = Ledger(site.env()["PILOT_MOVERS_STATE_DIR"]).record(str(site.base / "forger"))
    record.hold("globus-endpoint", site1)
    record.close()
    done, _ = site.run(SENDJOB, WRITE_10MB, site.base / "next")
    assert done.returncode == 0, done.stderr[-2000:]
    assert site1 in [e.id for e in site.emulator.endpoints.all()], "a site's endpoint is never deleted"
    assert f"endpoint {site1}, listed as left by a killed job, is not a pilot-movers worker endpoint" in done.stderr
    site.assert_nothing_left()
