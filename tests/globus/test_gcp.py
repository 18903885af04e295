"""A Globus Connect Personal endpoint with the stand-in ``globusconnectpersonal``, run as a
subprocess the way a pilot runs the real one: create the endpoint, -setup with its key, -start in
the background, -status, transfer, -stop; the service's rules for personal endpoints."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import globus_sdk
import pytest
from pilot_movers_testkit.globus import LocalGlobus, wait_until
from pilot_movers_testkit.globus_emulator.gcp import SOCKET_DIR_ENV

from tests.globus.support import events, leftovers, wait_for_task, write_bytes


class GCP:
    """The stand-in run as a command, with a private TMPDIR, HOME and config dir."""

    def __init__(self, globus: LocalGlobus, base: Path) -> None:
        self.base = base
        self.home = base / "home"
        self.tmpdir = base / "tmp"
        self.config_dir = base / "gcp"
        for directory in (self.home, self.tmpdir):
            directory.mkdir(parents=True, exist_ok=True)
        self.env = globus.gcp_env(self.tmpdir, self.home)
        self.started: list[subprocess.Popen[str]] = []

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["globusconnectpersonal", *args], env=self.env, capture_output=True, text=True, timeout=60
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            ["globusconnectpersonal", "-dir", str(self.config_dir), "-start", *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.started.append(process)
        return process

    def status(self) -> subprocess.CompletedProcess[str]:
        return self.run("-status")

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)
            process.communicate()


@pytest.fixture
def gcp(globus: LocalGlobus, tmp_path: Path) -> Iterator[GCP]:
    stand_in = GCP(globus, tmp_path / "worker")
    yield stand_in
    stand_in.stop_all()


def create_gcp_endpoint(tc: globus_sdk.TransferClient, name: str = "pilot-wn-1") -> tuple[str, str]:
    created = tc.post(
        "/v0.10/endpoint", data={"DATA_TYPE": "endpoint", "display_name": name, "is_globus_connect": True}
    )
    return created["id"], created["globus_connect_setup_key"]


def connected(tc: globus_sdk.TransferClient, endpoint_id: str) -> bool:
    return bool(tc.get_endpoint(endpoint_id)["gcp_connected"])


def test_a_personal_endpoint_serves_transfers_only_while_its_gcp_runs(
    globus: LocalGlobus, tc: globus_sdk.TransferClient, gcp: GCP
) -> None:
    endpoint_id, setup_key = create_gcp_endpoint(tc)
    workdir = gcp.base / "job"
    workdir.mkdir()
    payload = write_bytes(globus.endpoints["SITE1"].directory / "input.root", 256 * 1024)

    # Before -setup and -start: listings are refused, a transfer is accepted but waits.
    with pytest.raises(globus_sdk.TransferAPIError) as refused:
        tc.operation_ls(endpoint_id, path=str(workdir))
    assert (refused.value.http_status, refused.value.code) == (502, "ExternalError.DirListingFailed.GCDisconnected")
    data = globus_sdk.TransferData(
        source_endpoint=globus.endpoints["SITE1"].id, destination_endpoint=endpoint_id, verify_checksum=True
    )
    data.add_item("/input.root", f"{workdir}/input.root")
    task_id = tc.submit_transfer(data)["task_id"]
    waiting = wait_until(lambda: task if (task := tc.get_task(task_id))["nice_status"] == "GC_NOT_CONNECTED" else None)
    assert waiting["status"] == "ACTIVE"
    assert [e["code"] for e in events(tc, task_id)] == ["STARTED", "GC_NOT_CONNECTED"]
    assert (gcp.status().returncode, gcp.status().stdout) == (
        1,
        "No Globus Connect Personal connected to Globus Online Service\n",
    )

    # -setup with the single-use key writes the config dir.
    setup = gcp.run("-dir", str(gcp.config_dir), "-setup", "--setup-key", setup_key)
    assert setup.returncode == 0, setup.stderr
    assert "setup completed successfully" in setup.stdout
    assert (gcp.config_dir / "lta" / "client-id.txt").read_text().strip() == endpoint_id
    local = globus_sdk.LocalGlobusConnectPersonal(config_dir=str(gcp.config_dir))
    assert local.endpoint_id == endpoint_id
    owner = local.get_owner_info()
    assert owner is not None and owner.id == globus.client_id
    again = gcp.run("-dir", str(gcp.config_dir / "other"), "-setup", "--setup-key", setup_key)
    assert again.returncode == 1
    assert tc.get_endpoint(endpoint_id)["globus_connect_setup_key"] is None

    # -start in the background: connected, the waiting task runs, bytes land in the job's dir.
    running = gcp.start("-restrict-paths", f"rw{workdir}")
    wait_until(lambda: connected(tc, endpoint_id), what="the GCP connected")
    status = gcp.status()
    assert status.returncode == 0
    assert status.stdout.splitlines()[0] == "Globus Online:   connected"
    assert status.stdout.splitlines()[1] in ("Transfer Status: idle", "Transfer Status: active")
    task = wait_for_task(tc, task_id)
    assert task["status"] == "SUCCEEDED"
    assert (workdir / "input.root").read_bytes() == payload
    assert leftovers(workdir) == []
    assert [f["name"] for f in tc.operation_ls(endpoint_id, path=str(workdir))] == ["input.root"]

    # Only the restrict paths are reachable; a second -start for the same user and TMPDIR is refused.
    with pytest.raises(globus_sdk.TransferAPIError) as outside:
        tc.operation_ls(endpoint_id, path=str(gcp.home))
    assert outside.value.code == "EndpointPermissionDenied"
    second = gcp.run("-dir", str(gcp.config_dir), "-start")
    assert (second.returncode, second.stderr) == (1, "Another Globus Connect Personal is currently running\n")

    # Stage-out from the personal endpoint, then -stop: disconnected at once.
    result = write_bytes(workdir / "hist.root", 1000, seed=7)
    out = globus_sdk.TransferData(
        source_endpoint=endpoint_id, destination_endpoint=globus.endpoints["mxp#MXP_BNL_TEST"].id
    )
    out.add_item(f"{workdir}/hist.root", "/results/hist.root")
    assert wait_for_task(tc, tc.submit_transfer(out)["task_id"])["status"] == "SUCCEEDED"
    assert (globus.endpoints["mxp#MXP_BNL_TEST"].directory / "results" / "hist.root").read_bytes() == result
    stopped = gcp.run("-stop")
    assert stopped.returncode == 0
    assert stopped.stdout == (
        "Globus Connect Personal is currently running and connected to Globus Online\nSending stop signal... Done\n"
    )
    assert running.wait(timeout=30) == 0
    assert not connected(tc, endpoint_id)
    assert gcp.status().returncode == 1
    assert gcp.run("-stop").returncode == 1
    assert tc.delete_endpoint(endpoint_id)["code"] == "Deleted"


def test_a_gcp_cannot_write_outside_its_restrict_paths(
    globus: LocalGlobus, tc: globus_sdk.TransferClient, gcp: GCP
) -> None:
    endpoint_id, setup_key = create_gcp_endpoint(tc)
    readonly = gcp.base / "readonly"
    readonly.mkdir()
    assert gcp.run("-dir", str(gcp.config_dir), "-setup", "--setup-key", setup_key).returncode == 0
    gcp.start("-restrict-paths", f"r{readonly}")
    wait_until(lambda: connected(tc, endpoint_id), what="the GCP connected")
    write_bytes(globus.endpoints["SITE1"].directory / "f", 10)
    data = globus_sdk.TransferData(source_endpoint=globus.endpoints["SITE1"].id, destination_endpoint=endpoint_id)
    data.add_item("/f", f"{readonly}/f")
    task_id = tc.submit_transfer(data)["task_id"]
    task = wait_for_task(tc, task_id)
    assert (task["status"], task["fatal_error"]["code"]) == ("FAILED", "PERMISSION_DENIED")
    assert not (readonly / "f").exists()


def test_a_killed_gcp_leaves_its_endpoint_disconnected_within_seconds(
    globus: LocalGlobus, tc: globus_sdk.TransferClient, gcp: GCP
) -> None:
    endpoint_id, setup_key = create_gcp_endpoint(tc)
    assert gcp.run("-dir", str(gcp.config_dir), "-setup", "--setup-key", setup_key).returncode == 0
    running = gcp.start()
    wait_until(lambda: connected(tc, endpoint_id), what="the GCP connected")
    running.send_signal(signal.SIGKILL)
    running.wait(timeout=30)
    wait_until(lambda: not connected(tc, endpoint_id), timeout=5, what="the endpoint disconnected")
    # the stale control socket does not stop the next start
    assert (gcp.tmpdir / f"globusconnect_{os.getuid()}.sock").exists()
    gcp.start()
    wait_until(lambda: connected(tc, endpoint_id), what="the GCP connected again")


def test_sigterm_disconnects_the_gcp(globus: LocalGlobus, tc: globus_sdk.TransferClient, gcp: GCP) -> None:
    endpoint_id, setup_key = create_gcp_endpoint(tc)
    assert gcp.run("-dir", str(gcp.config_dir), "-setup", "--setup-key", setup_key).returncode == 0
    running = gcp.start()
    wait_until(lambda: connected(tc, endpoint_id), what="the GCP connected")
    running.terminate()
    assert running.wait(timeout=30) == 128 + signal.SIGTERM
    assert not connected(tc, endpoint_id)
    assert not (gcp.tmpdir / f"globusconnect_{os.getuid()}.sock").exists()


def test_each_node_has_its_own_gcp(globus: LocalGlobus, tc: globus_sdk.TransferClient, tmp_path: Path) -> None:
    """Two emulated nodes (a control socket dir each) run one GCP each for the same user."""
    first, second = GCP(globus, tmp_path / "job1"), GCP(globus, tmp_path / "job2")
    try:
        ids = []
        for stand_in, name in ((first, "job1"), (second, "job2")):
            endpoint_id, setup_key = create_gcp_endpoint(tc, name)
            assert stand_in.run("-dir", str(stand_in.config_dir), "-setup", "--setup-key", setup_key).returncode == 0
            stand_in.start()
            ids.append(endpoint_id)
        for endpoint_id in ids:
            wait_until(lambda endpoint_id=endpoint_id: connected(tc, endpoint_id), what="both connected")
        assert first.status().returncode == 0
        assert second.status().returncode == 0
    finally:
        first.stop_all()
        second.stop_all()


def test_a_private_tmpdir_does_not_give_a_second_gcp_on_one_node(
    globus: LocalGlobus, tc: globus_sdk.TransferClient, tmp_path: Path
) -> None:
    """As GCP 3.2.8's control script does, the control socket ignores TMPDIR: one GCP per user and
    node, whatever temp dir each job gives it."""
    first, second = GCP(globus, tmp_path / "job1"), GCP(globus, tmp_path / "job2")
    second.env[SOCKET_DIR_ENV] = first.env[SOCKET_DIR_ENV]  # the same node ...
    assert second.env["TMPDIR"] != first.env["TMPDIR"]  # ... with private temp dirs
    try:
        for stand_in, name in ((first, "job1"), (second, "job2")):
            _, setup_key = create_gcp_endpoint(tc, name)
            assert stand_in.run("-dir", str(stand_in.config_dir), "-setup", "--setup-key", setup_key).returncode == 0
        first.start()
        wait_until(lambda: first.status().returncode == 0, what="the first GCP running")
        assert second.status().returncode == 0  # it sees the first one
        refused = second.start()
        assert refused.wait(timeout=30) == 1
        assert refused.communicate()[1] == "Another Globus Connect Personal is currently running\n"
    finally:
        first.stop_all()
        second.stop_all()


def test_a_gcp_that_cannot_reach_the_relay_runs_but_never_connects(
    globus: LocalGlobus, tc: globus_sdk.TransferClient, gcp: GCP
) -> None:
    endpoint_id, setup_key = create_gcp_endpoint(tc)
    assert gcp.run("-dir", str(gcp.config_dir), "-setup", "--setup-key", setup_key).returncode == 0
    fault = globus.emulator.cut_relay()
    running = gcp.start()
    wait_until(lambda: gcp.status().returncode == 0, what="the GCP answering -status")
    time.sleep(1.0)  # several heartbeats
    assert gcp.status().stdout.splitlines()[0] == "Globus Online:   disconnected"
    assert running.poll() is None
    assert not connected(tc, endpoint_id)
    globus.emulator.remove_fault(fault)
    wait_until(lambda: connected(tc, endpoint_id), what="the GCP connected once the relay is back")
    assert gcp.status().stdout.splitlines()[0] == "Globus Online:   connected"


def test_two_personal_endpoints_cannot_transfer_to_each_other(
    globus: LocalGlobus, tc: globus_sdk.TransferClient
) -> None:
    one, _ = create_gcp_endpoint(tc, "wn-a")
    two, _ = create_gcp_endpoint(tc, "wn-b")
    data = globus_sdk.TransferData(source_endpoint=one, destination_endpoint=two)
    data.add_item("/tmp/a", "/tmp/b")
    with pytest.raises(globus_sdk.TransferAPIError) as refused:
        tc.submit_transfer(data)
    assert refused.value.http_status == 403
    assert refused.value.code == "PermissionDenied"
    assert "Globus Connect Personal" in refused.value.message


def test_a_personal_endpoint_is_private_to_its_owner(
    globus: LocalGlobus, tc: globus_sdk.TransferClient, user_tc: globus_sdk.TransferClient
) -> None:
    endpoint_id, _ = create_gcp_endpoint(tc)
    with pytest.raises(globus_sdk.TransferAPIError) as refused:
        user_tc.get_endpoint(endpoint_id)
    assert refused.value.http_status == 403


def test_the_command_line_is_the_real_ones(gcp: GCP) -> None:
    assert gcp.run("-version").stdout == "3.2.8\n"
    unknown = gcp.run("-frobnicate")
    assert unknown.returncode == 1
    assert "unknown option -frobnicate" in unknown.stderr
    not_set_up = gcp.run("-dir", str(gcp.base / "nothing"), "-start")
    assert not_set_up.returncode == 1
    bad_key = gcp.run("-dir", str(gcp.config_dir), "-setup", "--setup-key", "no-such-key")
    assert bad_key.returncode == 1
    assert not (gcp.config_dir / "lta" / "client-id.txt").exists()
