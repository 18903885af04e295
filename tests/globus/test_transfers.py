"""Transfer and delete tasks through the real TransferClient: real bytes between the endpoints'
directories, verified; the task document, events and successful transfers as the service keeps
them; failures and injected faults ending the way the service ends them."""

from __future__ import annotations

import datetime
import hashlib
import time
import zlib
from pathlib import Path

import globus_sdk
import pytest
from pilot_movers_testkit.globus import LocalGlobus, wait_until

from tests.globus.support import events, leftovers, md5, wait_for_task, write_bytes

SRC = "mxp#MXP_BNL_TEST"
DST = "SITE1"


def transfer(globus: LocalGlobus, **options: object) -> globus_sdk.TransferData:
    return globus_sdk.TransferData(
        source_endpoint=globus.endpoints[SRC].id, destination_endpoint=globus.endpoints[DST].id, **options
    )


def src_dir(globus: LocalGlobus) -> Path:
    return globus.endpoints[SRC].directory


def dst_dir(globus: LocalGlobus) -> Path:
    return globus.endpoints[DST].directory


def codes(tc: globus_sdk.TransferClient, task_id: str) -> list[str]:
    return [event["code"] for event in events(tc, task_id)]


def test_a_verified_transfer_moves_real_bytes_and_reports_like_the_service(
    globus: LocalGlobus, tc: globus_sdk.TransferClient
) -> None:
    first = write_bytes(src_dir(globus) / "data" / "a.root", 3 * 1024 * 1024 + 17, seed=1)
    second = write_bytes(src_dir(globus) / "data" / "b.root", 1000, seed=2)
    globus.emulator.limit_throughput(4 * 1024 * 1024, label="verified")  # slow enough to be seen ACTIVE
    data = transfer(globus, label="verified", verify_checksum=True)
    data.add_item("/data/a.root", "/in/a.root", external_checksum=md5(first), checksum_algorithm="MD5")
    data.add_item("/data/b.root", "/in/b.root")
    submitted = tc.submit_transfer(data)
    assert submitted.http_status == 202
    assert (submitted["DATA_TYPE"], submitted["code"]) == ("transfer_result", "Accepted")
    running = tc.get_task(submitted["task_id"])
    assert running["status"] == "ACTIVE"
    assert running["completion_time"] is None

    task = wait_for_task(tc, submitted["task_id"])
    assert task["status"] == "SUCCEEDED"
    assert (task["type"], task["label"], task["verify_checksum"]) == ("TRANSFER", "verified", True)
    assert (task["files"], task["files_transferred"], task["files_skipped"]) == (2, 2, 0)
    assert task["bytes_transferred"] == len(first) + len(second)
    assert task["bytes_checksummed"] == len(first) + len(second)
    assert (task["faults"], task["fatal_error"], task["nice_status"]) == (0, None, None)
    assert task["source_endpoint_id"] == globus.endpoints[SRC].id
    assert task["destination_endpoint_display_name"] == "SITE1"
    assert task["completion_time"] is not None
    assert (dst_dir(globus) / "in" / "a.root").read_bytes() == first
    assert (dst_dir(globus) / "in" / "b.root").read_bytes() == second
    assert leftovers(dst_dir(globus)) == []
    assert codes(tc, submitted["task_id"]) == ["STARTED", "SUCCEEDED"]
    done = [(t["source_path"], t["destination_path"]) for t in tc.task_successful_transfers(submitted["task_id"])]
    assert done == [("/data/a.root", "/in/a.root"), ("/data/b.root", "/in/b.root")]


@pytest.mark.parametrize("algorithm", ["ADLER32", "SHA256", "MD5"])
def test_external_checksums_in_each_algorithm_are_checked(
    globus: LocalGlobus, tc: globus_sdk.TransferClient, algorithm: str
) -> None:
    payload = write_bytes(src_dir(globus) / "f", 5000)
    value = {
        "ADLER32": format(zlib.adler32(payload), "08x"),
        "SHA256": hashlib.sha256(payload).hexdigest(),
        "MD5": md5(payload),
    }[algorithm]
    data = transfer(globus, verify_checksum=True)
    data.add_item("/f", "/f", external_checksum=value.upper(), checksum_algorithm=algorithm)
    task = wait_for_task(tc, tc.submit_transfer(data)["task_id"])
    assert task["status"] == "SUCCEEDED"
    assert (dst_dir(globus) / "f").read_bytes() == payload


def test_a_recursive_transfer_copies_the_tree(globus: LocalGlobus, tc: globus_sdk.TransferClient) -> None:
    tree = {
        f"run/{n}/f{n}.dat": write_bytes(src_dir(globus) / "run" / str(n) / f"f{n}.dat", 100 * n + 1, n)
        for n in range(3)
    }
    data = transfer(globus)
    data.add_item("/run", "/copy", recursive=True)
    task = wait_for_task(tc, tc.submit_transfer(data)["task_id"])
    assert task["status"] == "SUCCEEDED"
    assert task["files_transferred"] == 3
    for name, payload in tree.items():
        assert (dst_dir(globus) / name.replace("run", "copy", 1)).read_bytes() == payload


def test_successful_transfers_page_with_markers(globus: LocalGlobus, tc: globus_sdk.TransferClient) -> None:
    globus.emulator.settings.successful_transfers_page_size = 2
    data = transfer(globus)
    for n in range(5):
        write_bytes(src_dir(globus) / f"f{n}", 10 + n, n)
        data.add_item(f"/f{n}", f"/out/f{n}")
    task_id = tc.submit_transfer(data)["task_id"]
    assert wait_for_task(tc, task_id)["status"] == "SUCCEEDED"
    first = tc.task_successful_transfers(task_id)
    assert first["DATA_TYPE"] == "successful_transfers"
    assert [t["source_path"] for t in first] == ["/f0", "/f1"]
    assert first["next_marker"] == 2
    last = tc.task_successful_transfers(task_id, marker=4)
    assert [t["source_path"] for t in last] == ["/f4"]
    assert last["next_marker"] is None
    everything = [t["destination_path"] for t in tc.paginated.task_successful_transfers(task_id).items()]
    assert everything == [f"/out/f{n}" for n in range(5)]


def test_a_missing_source_fails_the_task_with_file_not_found(
    globus: LocalGlobus, tc: globus_sdk.TransferClient
) -> None:
    data = transfer(globus)
    data.add_item("/no/such.root", "/in/such.root")
    task_id = tc.submit_transfer(data)["task_id"]
    task = wait_for_task(tc, task_id)
    assert task["status"] == "FAILED"
    assert task["fatal_error"] == {"code": "FILE_NOT_FOUND", "description": "file not found"}
    failed = [e for e in events(tc, task_id) if e["is_error"]]
    assert [e["code"] for e in failed] == ["FILE_NOT_FOUND"]
    assert "/no/such.root" in failed[0]["details"]
    assert not (dst_dir(globus) / "in").exists() or leftovers(dst_dir(globus)) == []


def test_skip_source_errors_skips_a_missing_file(globus: LocalGlobus, tc: globus_sdk.TransferClient) -> None:
    payload = write_bytes(src_dir(globus) / "here", 10)
    data = transfer(globus, skip_source_errors=True)
    data.add_item("/gone", "/gone")
    data.add_item("/here", "/here")
    task = wait_for_task(tc, tc.submit_transfer(data)["task_id"])
    assert (task["status"], task["files_transferred"], task["files_skipped"]) == ("SUCCEEDED", 1, 1)
    assert (dst_dir(globus) / "here").read_bytes() == payload


def test_permission_denied_on_the_destination_fails_the_task(
    globus: LocalGlobus, tc: globus_sdk.TransferClient
) -> None:
    write_bytes(src_dir(globus) / "f", 10)
    globus.emulator.deny_permission("/protected/*", endpoint=DST)
    data = transfer(globus)
    data.add_item("/f", "/protected/f")
    task_id = tc.submit_transfer(data)["task_id"]
    task = wait_for_task(tc, task_id)
    assert task["status"] == "FAILED"
    assert task["fatal_error"]["code"] == "PERMISSION_DENIED"
    assert [e["code"] for e in events(tc, task_id) if e["is_error"]] == ["PERMISSION_DENIED"]
    assert not (dst_dir(globus) / "protected" / "f").exists()


def test_an_unreadable_source_is_permission_denied(globus: LocalGlobus, tc: globus_sdk.TransferClient) -> None:
    write_bytes(src_dir(globus) / "secret", 10)
    globus.emulator.deny_permission("/secret", endpoint=SRC)
    data = transfer(globus)
    data.add_item("/secret", "/secret")
    task = wait_for_task(tc, tc.submit_transfer(data)["task_id"])
    assert (task["status"], task["fatal_error"]["code"]) == ("FAILED", "PERMISSION_DENIED")


def test_a_corrupted_copy_is_retried_then_fails_with_checksum_mismatch(
    globus: LocalGlobus, tc: globus_sdk.TransferClient
) -> None:
    write_bytes(src_dir(globus) / "f", 4096)
    globus.emulator.corrupt("/f")
    data = transfer(globus, verify_checksum=True)
    data.add_item("/f", "/f")
    task_id = tc.submit_transfer(data)["task_id"]
    task = wait_for_task(tc, task_id)
    assert task["status"] == "FAILED"
    assert task["fatal_error"]["code"] == "CHECKSUM_MISMATCH"
    mismatches = [e for e in events(tc, task_id) if e["code"] == "CHECKSUM_MISMATCH"]
    assert len(mismatches) == globus.emulator.settings.runner.file_retries
    assert all(e["is_error"] for e in mismatches)
    assert task["faults"] == globus.emulator.settings.runner.file_retries - 1
    assert not (dst_dir(globus) / "f").exists()
    assert leftovers(dst_dir(globus)) == []


def test_a_copy_corrupted_once_is_retried_and_lands_intact(globus: LocalGlobus, tc: globus_sdk.TransferClient) -> None:
    payload = write_bytes(src_dir(globus) / "f", 4096)
    globus.emulator.corrupt("/f", times=1)
    data = transfer(globus, verify_checksum=True)
    data.add_item("/f", "/f")
    task_id = tc.submit_transfer(data)["task_id"]
    task = wait_for_task(tc, task_id)
    assert (task["status"], task["faults"], task["bytes_transferred"]) == ("SUCCEEDED", 1, len(payload))
    assert codes(tc, task_id) == ["STARTED", "CHECKSUM_MISMATCH", "SUCCEEDED"]
    assert (dst_dir(globus) / "f").read_bytes() == payload


def test_a_source_that_differs_from_the_external_checksum_fails_at_once(
    globus: LocalGlobus, tc: globus_sdk.TransferClient
) -> None:
    write_bytes(src_dir(globus) / "f", 100)
    data = transfer(globus, verify_checksum=True)
    data.add_item("/f", "/f", external_checksum="0" * 32, checksum_algorithm="MD5")
    task_id = tc.submit_transfer(data)["task_id"]
    task = wait_for_task(tc, task_id)
    assert (task["status"], task["fatal_error"]["code"]) == ("FAILED", "CHECKSUM_MISMATCH")
    assert codes(tc, task_id).count("CHECKSUM_MISMATCH") == 1
    assert not (dst_dir(globus) / "f").exists()


def test_quota_exceeded_fails_at_once_with_fail_on_quota_errors(
    globus: LocalGlobus, tc: globus_sdk.TransferClient
) -> None:
    write_bytes(src_dir(globus) / "f", 100)
    globus.emulator.exceed_quota("/full/*")
    data = transfer(globus, fail_on_quota_errors=True)
    data.add_item("/f", "/full/f")
    task_id = tc.submit_transfer(data)["task_id"]
    task = wait_for_task(tc, task_id)
    assert (task["status"], task["fatal_error"]["code"]) == ("FAILED", "QUOTA_EXCEEDED")
    assert codes(tc, task_id).count("QUOTA_EXCEEDED") == 1


def test_a_forced_failure_ends_the_task_with_its_code(globus: LocalGlobus, tc: globus_sdk.TransferClient) -> None:
    write_bytes(src_dir(globus) / "f", 100)
    globus.emulator.fail_task("ENDPOINT_ERROR", label="doomed")
    data = transfer(globus, label="doomed")
    data.add_item("/f", "/f")
    task = wait_for_task(tc, tc.submit_transfer(data)["task_id"])
    assert (task["status"], task["fatal_error"]["code"]) == ("FAILED", "ENDPOINT_ERROR")
    assert not (dst_dir(globus) / "f").exists()


def test_a_stall_stops_the_bytes_until_it_is_lifted(globus: LocalGlobus, tc: globus_sdk.TransferClient) -> None:
    payload = write_bytes(src_dir(globus) / "big", 2 * 1024 * 1024)
    stall = globus.emulator.stall(after_bytes=512 * 1024, path="/big")
    data = transfer(globus)
    data.add_item("/big", "/big")
    task_id = tc.submit_transfer(data)["task_id"]
    stuck = 512 * 1024  # a whole number of the emulator's 256 KiB chunks
    wait_until(lambda: tc.get_task(task_id)["bytes_transferred"] == stuck, what="bytes up to the stall")
    time.sleep(0.5)
    task = tc.get_task(task_id)
    assert (task["status"], task["bytes_transferred"]) == ("ACTIVE", stuck)
    globus.emulator.remove_fault(stall)
    assert wait_for_task(tc, task_id)["status"] == "SUCCEEDED"
    assert (dst_dir(globus) / "big").read_bytes() == payload


def test_cancel_ends_a_stalled_task_and_leaves_nothing_behind(
    globus: LocalGlobus, tc: globus_sdk.TransferClient
) -> None:
    write_bytes(src_dir(globus) / "big", 1024 * 1024)
    globus.emulator.stall(after_bytes=64 * 1024, path="/big")
    data = transfer(globus)
    data.add_item("/big", "/big")
    task_id = tc.submit_transfer(data)["task_id"]
    wait_until(lambda: tc.get_task(task_id)["bytes_transferred"], what="bytes moving")
    canceled = tc.cancel_task(task_id)
    assert (canceled["DATA_TYPE"], canceled["code"]) == ("result", "Canceled")
    task = tc.get_task(task_id)
    assert task["status"] == "FAILED"
    assert task["fatal_error"] == {"code": "CANCELED", "description": "canceled"}
    assert codes(tc, task_id)[-1] == "CANCELED"
    assert not (dst_dir(globus) / "big").exists()
    assert leftovers(dst_dir(globus)) == []
    with pytest.raises(globus_sdk.TransferAPIError) as again:
        tc.cancel_task(task_id)
    assert again.value.http_status == 409


def test_a_delayed_task_waits_queued_before_it_starts(globus: LocalGlobus, tc: globus_sdk.TransferClient) -> None:
    payload = write_bytes(src_dir(globus) / "f", 100)
    globus.emulator.delay_start(2.0, label="later")
    data = transfer(globus, label="later")
    data.add_item("/f", "/f")
    task_id = tc.submit_transfer(data)["task_id"]
    waiting = tc.get_task(task_id)
    assert (waiting["status"], waiting["nice_status"]) == ("ACTIVE", "Queued")
    assert codes(tc, task_id) == []
    assert wait_for_task(tc, task_id)["status"] == "SUCCEEDED"
    assert (dst_dir(globus) / "f").read_bytes() == payload


def test_throughput_limit_slows_a_task(globus: LocalGlobus, tc: globus_sdk.TransferClient) -> None:
    write_bytes(src_dir(globus) / "f", 400 * 1024)
    globus.emulator.limit_throughput(400 * 1024, path="/f")
    data = transfer(globus)
    data.add_item("/f", "/f")
    started = time.monotonic()
    task = wait_for_task(tc, tc.submit_transfer(data)["task_id"])
    assert task["status"] == "SUCCEEDED"
    assert time.monotonic() - started >= 0.8


@pytest.mark.parametrize("inactive", [False, True])
def test_a_task_waits_while_an_endpoint_is_offline(
    globus: LocalGlobus, tc: globus_sdk.TransferClient, inactive: bool
) -> None:
    payload = write_bytes(src_dir(globus) / "f", 100)
    outage = globus.emulator.take_offline(DST, inactive=inactive)
    data = transfer(globus)
    data.add_item("/f", "/f")
    task_id = tc.submit_transfer(data)["task_id"]
    waiting = wait_until(lambda: task if (task := tc.get_task(task_id))["nice_status"] == "CONNECT_FAILED" else None)
    assert waiting["status"] == ("INACTIVE" if inactive else "ACTIVE")
    assert waiting["faults"] >= 1
    assert "CONNECT_FAILED" in codes(tc, task_id)
    globus.emulator.remove_fault(outage)
    task = wait_for_task(tc, task_id)
    assert task["status"] == "SUCCEEDED"
    assert (dst_dir(globus) / "f").read_bytes() == payload


def test_a_passed_deadline_fails_the_task(globus: LocalGlobus, tc: globus_sdk.TransferClient) -> None:
    write_bytes(src_dir(globus) / "f", 100)
    globus.emulator.take_offline(DST)
    deadline = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=1)
    data = transfer(globus, deadline=deadline)
    data.add_item("/f", "/f")
    task = wait_for_task(tc, tc.submit_transfer(data)["task_id"])
    assert (task["status"], task["fatal_error"]["code"]) == ("FAILED", "EXPIRED")


def test_sync_level_skips_files_already_there(globus: LocalGlobus, tc: globus_sdk.TransferClient) -> None:
    write_bytes(src_dir(globus) / "f", 100)
    for expected in (1, 0):
        data = transfer(globus, sync_level="checksum")
        data.add_item("/f", "/f")
        task = wait_for_task(tc, tc.submit_transfer(data)["task_id"])
        assert (task["status"], task["files_transferred"], task["files_skipped"]) == (
            "SUCCEEDED",
            expected,
            1 - expected,
        )


def test_a_repeated_submission_id_is_the_same_task(globus: LocalGlobus, tc: globus_sdk.TransferClient) -> None:
    write_bytes(src_dir(globus) / "f", 100)
    submission = tc.get_submission_id()["value"]
    data = transfer(globus, submission_id=submission)
    data.add_item("/f", "/f")
    first = tc.submit_transfer(data)
    again = tc.submit_transfer(data)
    assert (first["code"], again["code"]) == ("Accepted", "Duplicate")
    assert first["task_id"] == again["task_id"]


def test_a_transfer_without_items_is_refused(globus: LocalGlobus, tc: globus_sdk.TransferClient) -> None:
    with pytest.raises(globus_sdk.TransferAPIError) as refused:
        tc.submit_transfer(transfer(globus))
    assert (refused.value.http_status, refused.value.code) == (400, "ClientError.BadRequest.NoTransferItems")


def test_submit_delete_removes_files_and_directories(globus: LocalGlobus, tc: globus_sdk.TransferClient) -> None:
    site = dst_dir(globus)
    write_bytes(site / "old.root", 10)
    write_bytes(site / "olddir" / "x", 10)
    data = globus_sdk.DeleteData(endpoint=globus.endpoints[DST].id, recursive=True)
    data.add_item("/old.root")
    data.add_item("/olddir")
    submitted = tc.submit_delete(data)
    assert (submitted["DATA_TYPE"], submitted["code"]) == ("delete_result", "Accepted")
    task = wait_for_task(tc, submitted["task_id"])
    assert (task["type"], task["status"]) == ("DELETE", "SUCCEEDED")
    assert not (site / "old.root").exists()
    assert not (site / "olddir").exists()


def test_deleting_a_missing_file_fails_unless_told_to_ignore_it(
    globus: LocalGlobus, tc: globus_sdk.TransferClient
) -> None:
    for ignore, status in ((False, "FAILED"), (True, "SUCCEEDED")):
        data = globus_sdk.DeleteData(endpoint=globus.endpoints[DST].id, ignore_missing=ignore)
        data.add_item("/not-there")
        task = wait_for_task(tc, tc.submit_delete(data)["task_id"])
        assert task["status"] == status
        if not ignore:
            assert task["fatal_error"]["code"] == "FILE_NOT_FOUND"


def test_task_list_shows_the_callers_tasks(globus: LocalGlobus, tc: globus_sdk.TransferClient) -> None:
    write_bytes(src_dir(globus) / "f", 10)
    data = transfer(globus, label="listed")
    data.add_item("/f", "/f")
    task_id = tc.submit_transfer(data)["task_id"]
    wait_for_task(tc, task_id)
    listed = tc.task_list(filter="type:TRANSFER/status:SUCCEEDED")
    assert [t["task_id"] for t in listed] == [task_id]
    assert listed["total"] == 1


def test_another_users_task_is_not_found(
    globus: LocalGlobus, tc: globus_sdk.TransferClient, user_tc: globus_sdk.TransferClient
) -> None:
    write_bytes(src_dir(globus) / "f", 10)
    data = transfer(globus)
    data.add_item("/f", "/f")
    task_id = tc.submit_transfer(data)["task_id"]
    with pytest.raises(globus_sdk.TransferAPIError) as hidden:
        user_tc.get_task(task_id)
    assert hidden.value.http_status == 404
