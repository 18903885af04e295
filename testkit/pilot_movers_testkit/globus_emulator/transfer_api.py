"""The Transfer API v0.10 routes of file operations (ls, stat, mkdir, rename), transfer and
delete submissions, and tasks. Endpoints are in ``endpoint_api``, bookmarks in ``bookmark_api``.
"""

from __future__ import annotations

import fnmatch
import operator
import os
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from flask import Response, jsonify, request

from pilot_movers_testkit.globus_emulator import transfer_routes as routes
from pilot_movers_testkit.globus_emulator.endpoints import Endpoint
from pilot_movers_testkit.globus_emulator.errors import GCP_TO_GCP, TransferError, bad_request, not_found
from pilot_movers_testkit.globus_emulator.faults import FaultKind, Target
from pilot_movers_testkit.globus_emulator.local_files import Hasher, file_document, list_directory
from pilot_movers_testkit.globus_emulator.task_filters import task_filter
from pilot_movers_testkit.globus_emulator.tasks import DEFAULT_DEADLINE, Item, Task, utc_now

blueprint = routes.transfer_blueprint("globus_transfer")


# -- file operations ---------------------------------------------------------------------------


def _file_operation_target(endpoint_id: str, globus_path: str, operation: str, *, write: bool) -> tuple[Endpoint, Path]:
    emulator = routes.emulator()
    endpoint = emulator.visible_endpoint(endpoint_id, routes.caller())
    emulator.require_reachable(endpoint, operation)
    local = endpoint.local_path(globus_path)
    endpoint.check_access(local, write=write, globus_path=globus_path)
    if emulator.faults.find(FaultKind.PERMISSION_DENIED, Target(endpoint=endpoint.id, path=globus_path)):
        raise TransferError(
            403, "EndpointPermissionDenied", f"Denied by endpoint\nFile: {globus_path}\nMessage: Permission denied"
        )
    return endpoint, local


def _path_not_found(endpoint: Endpoint, globus_path: str, operation: str) -> TransferError:
    return TransferError(
        404,
        "ClientError.NotFound",
        f"Path not found, Error ({operation})\nEndpoint: {endpoint.display_name} ({endpoint.id})\n"
        f"Message: No such file or directory\nFile: {globus_path}",
    )


@blueprint.get("/operation/endpoint/<endpoint_id>/ls")
def operation_ls(endpoint_id: str) -> tuple[Response, int]:
    globus_path = request.args.get("path") or "/~/"
    endpoint, local = _file_operation_target(endpoint_id, globus_path, "DirListing", write=False)
    if not local.exists():
        raise _path_not_found(endpoint, globus_path, "list")
    if not local.is_dir():
        raise TransferError(
            502, "ExternalError.DirListingFailed.NotDirectory", f"Path {globus_path} is not a directory"
        )
    try:
        entries = list_directory(local, show_hidden=routes.flag("show_hidden", True))
    except PermissionError:
        raise TransferError(403, "EndpointPermissionDenied", f"Permission denied listing {globus_path}") from None
    entries = _filter_entries(entries, request.args.getlist("filter"))
    _order_entries(entries, request.args.get("orderby") or "")
    limit = routes.int_arg("limit", 100000, 100000)
    offset = routes.int_arg("offset", 0)
    page = entries[offset : offset + limit]
    shown = globus_path if globus_path.endswith("/") else globus_path + "/"
    body = {
        "DATA_TYPE": "file_list",
        "endpoint": endpoint.id,
        "path": shown,
        "absolute_path": None,
        "rename_supported": True,
        "symlink_supported": True,
        "length": len(page),
        "total": len(entries),
        "DATA": page,
    }
    return jsonify(body), 200


def _filter_entries(entries: list[dict[str, Any]], filters: list[str]) -> list[dict[str, Any]]:
    """The filters listings need most: ``type:dir``, ``type:file``, ``name:NAME``, ``name:~GLOB``
    (clauses joined by ``/``)."""
    for text in filters:
        for clause in filter(None, text.split("/")):
            field, _, value = clause.partition(":")
            if field == "type":
                kinds = set(value.split(","))
                entries = [e for e in entries if e["type"] in kinds]
            elif field == "name" and value.startswith("~"):
                entries = [e for e in entries if fnmatch.fnmatchcase(e["name"], value[1:])]
            elif field == "name":
                names = set(value.split(","))
                entries = [e for e in entries if e["name"] in names]
            else:
                raise bad_request(f"Unsupported filter {clause!r}")
    return entries


def _order_entries(entries: list[dict[str, Any]], orderby: str) -> None:
    for clause in reversed([c.strip() for c in orderby.split(",") if c.strip()]):
        field, _, direction = clause.partition(" ")
        if field not in ("name", "type", "size", "last_modified", "permissions", "user", "group"):
            raise bad_request(f"Unsupported orderby field {field!r}")
        entries.sort(key=operator.itemgetter(field), reverse=direction.strip().upper() == "DESC")


@blueprint.get("/operation/endpoint/<endpoint_id>/stat")
def operation_stat(endpoint_id: str) -> tuple[Response, int]:
    globus_path = request.args.get("path") or "/~/"
    endpoint, local = _file_operation_target(endpoint_id, globus_path, "Stat", write=False)
    if not os.path.lexists(local):
        raise _path_not_found(endpoint, globus_path, "stat")
    return jsonify(file_document(local)), 200


@blueprint.post("/operation/endpoint/<endpoint_id>/mkdir")
def operation_mkdir(endpoint_id: str) -> tuple[Response, int]:
    body = routes.json_body()
    globus_path = body.get("path")
    if not isinstance(globus_path, str) or not globus_path:
        raise bad_request("path is required")
    endpoint, local = _file_operation_target(endpoint_id, globus_path, "Mkdir", write=True)
    if os.path.lexists(local):
        raise TransferError(
            502, "ExternalError.MkdirFailed.Exists", f"Path already exists, Error (mkdir)\nFile: {globus_path}"
        )
    if not local.parent.is_dir():
        raise _path_not_found(endpoint, globus_path, "mkdir")
    try:
        local.mkdir()
    except PermissionError:
        raise TransferError(403, "EndpointPermissionDenied", f"Permission denied creating {globus_path}") from None
    return routes.result(
        {"DATA_TYPE": "mkdir_result", "code": "DirectoryCreated", "message": "The directory was created successfully"},
        202,
    )


@blueprint.post("/operation/endpoint/<endpoint_id>/rename")
def operation_rename(endpoint_id: str) -> tuple[Response, int]:
    body = routes.json_body()
    old_path, new_path = body.get("old_path"), body.get("new_path")
    if not isinstance(old_path, str) or not isinstance(new_path, str) or not old_path or not new_path:
        raise bad_request("old_path and new_path are required")
    endpoint, old_local = _file_operation_target(endpoint_id, old_path, "Rename", write=True)
    _, new_local = _file_operation_target(endpoint_id, new_path, "Rename", write=True)
    if not os.path.lexists(old_local):
        raise _path_not_found(endpoint, old_path, "rename")
    if os.path.lexists(new_local):
        raise TransferError(
            502, "ExternalError.RenameFailed.Exists", f"Path already exists, Error (rename)\nFile: {new_path}"
        )
    if not new_local.parent.is_dir():
        raise _path_not_found(endpoint, new_path, "rename")
    try:
        os.rename(old_local, new_local)
    except PermissionError:
        raise TransferError(403, "EndpointPermissionDenied", f"Permission denied renaming {old_path}") from None
    return routes.result(
        {"DATA_TYPE": "result", "code": "FileRenamed", "message": "File or directory renamed successfully"}
    )


# -- submissions -------------------------------------------------------------------------------


@blueprint.get("/submission_id")
def submission_id() -> tuple[Response, int]:
    return jsonify({"DATA_TYPE": "submission_id", "value": str(uuid.uuid1())}), 200


def _parse_deadline(value: Any) -> datetime:
    if value in (None, ""):
        return utc_now() + DEFAULT_DEADLINE
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise bad_request(f"Invalid deadline {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _duplicate_of(submission: Any) -> Optional[Task]:
    if not isinstance(submission, str) or not submission:
        return None
    task = routes.emulator().tasks.by_submission(submission)
    if task is not None and task.owner.id != routes.caller().id:
        raise bad_request("This submission id was used by someone else")
    return task


def _accepted(kind: str, task: Task, code: str = "Accepted") -> tuple[Response, int]:
    message = (
        f"The {kind} has been accepted and a task has been created and queued for execution"
        if code == "Accepted"
        else "A submission with this id was already accepted"
    )
    return routes.result(
        {
            "DATA_TYPE": f"{kind}_result",
            "code": code,
            "message": message,
            "submission_id": task.submission_id,
            "task_id": task.task_id,
            "task_link": {
                "DATA_TYPE": "link",
                "href": f"task/{task.task_id}?format=json",
                "rel": "related",
                "resource": "task",
                "title": "related task",
            },
        },
        202 if code == "Accepted" else 200,
    )


def _options(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "label": body.get("label"),
        "deadline": _parse_deadline(body.get("deadline")),
        "submission_id": body.get("submission_id") or str(uuid.uuid1()),
    }


@blueprint.post("/transfer")
def submit_transfer() -> tuple[Response, int]:
    emulator, caller = routes.emulator(), routes.caller()
    body = routes.json_body()
    if body.get("DATA_TYPE") != "transfer":
        raise bad_request("DATA_TYPE must be 'transfer'")
    duplicate = _duplicate_of(body.get("submission_id"))
    if duplicate is not None:
        return _accepted("transfer", duplicate, "Duplicate")
    items = body.get("DATA") or []
    if not items:
        raise bad_request("A transfer requires at least one item", code="ClientError.BadRequest.NoTransferItems")
    source = emulator.visible_endpoint(str(body.get("source_endpoint")), caller)
    destination = emulator.visible_endpoint(str(body.get("destination_endpoint")), caller)
    if source.is_globus_connect and destination.is_globus_connect:
        raise TransferError(403, *GCP_TO_GCP)
    parsed = []
    for raw in items:
        if not isinstance(raw, dict) or raw.get("DATA_TYPE", "transfer_item") != "transfer_item":
            raise bad_request("Each item of DATA must be a transfer_item")
        if not raw.get("source_path") or not raw.get("destination_path"):
            raise bad_request("Each transfer_item needs source_path and destination_path")
        algorithm = raw.get("checksum_algorithm")
        try:
            Hasher(algorithm)
        except ValueError as error:
            raise bad_request(str(error)) from None
        parsed.append(
            Item(
                str(raw["source_path"]),
                str(raw["destination_path"]),
                recursive=bool(raw.get("recursive")),
                external_checksum=raw.get("external_checksum"),
                checksum_algorithm=algorithm,
            )
        )
    sync_level = body.get("sync_level")
    if sync_level is not None and sync_level not in (0, 1, 2, 3):
        raise bad_request("sync_level must be 0, 1, 2 or 3")
    task = Task(
        Task.new_id(),
        "TRANSFER",
        caller,
        source,
        destination,
        parsed,
        sync_level=sync_level,
        verify_checksum=bool(body.get("verify_checksum")),
        preserve_timestamp=bool(body.get("preserve_timestamp")),
        encrypt_data=bool(body.get("encrypt_data")),
        skip_source_errors=bool(body.get("skip_source_errors")),
        fail_on_quota_errors=bool(body.get("fail_on_quota_errors")),
        delete_destination_extra=bool(body.get("delete_destination_extra")),
        **_options(body),
    )
    emulator.start_task(task)
    return _accepted("transfer", task)


@blueprint.post("/delete")
def submit_delete() -> tuple[Response, int]:
    emulator, caller = routes.emulator(), routes.caller()
    body = routes.json_body()
    if body.get("DATA_TYPE") != "delete":
        raise bad_request("DATA_TYPE must be 'delete'")
    duplicate = _duplicate_of(body.get("submission_id"))
    if duplicate is not None:
        return _accepted("delete", duplicate, "Duplicate")
    items = body.get("DATA") or []
    if not items:
        raise bad_request("A delete requires at least one item", code="ClientError.BadRequest.NoDeleteItems")
    endpoint = emulator.visible_endpoint(str(body.get("endpoint")), caller)
    parsed = []
    for raw in items:
        if not isinstance(raw, dict) or not raw.get("path"):
            raise bad_request("Each delete_item needs a path")
        parsed.append(Item(str(raw["path"])))
    task = Task(
        Task.new_id(),
        "DELETE",
        caller,
        endpoint,
        None,
        parsed,
        recursive_delete=bool(body.get("recursive")),
        ignore_missing=bool(body.get("ignore_missing")),
        **_options(body),
    )
    emulator.start_task(task)
    return _accepted("delete", task)


# -- tasks -------------------------------------------------------------------------------------


def _task(task_id: str) -> Task:
    task = routes.emulator().tasks.get(task_id)
    if task is None or task.owner.id != routes.caller().id:
        raise not_found(f"Task {task_id} not found")
    return task


@blueprint.get("/task/<task_id>")
def get_task(task_id: str) -> tuple[Response, int]:
    return jsonify(_task(task_id).to_dict()), 200


@blueprint.get("/task_list")
def task_list() -> tuple[Response, int]:
    caller = routes.caller()
    wanted = task_filter(request.args.get("filter") or "")
    tasks = [t for t in routes.emulator().tasks.all() if t.owner.id == caller.id and wanted(t)]
    tasks.sort(key=lambda t: t.request_time, reverse=True)
    limit = routes.int_arg("limit", 10, 1000)
    offset = routes.int_arg("offset", 0)
    page = [t.to_dict() for t in tasks[offset : offset + limit]]
    body = {
        "DATA_TYPE": "task_list",
        "length": len(page),
        "limit": limit,
        "offset": offset,
        "total": len(tasks),
        "DATA": page,
    }
    return jsonify(body), 200


@blueprint.get("/task/<task_id>/event_list")
def task_event_list(task_id: str) -> tuple[Response, int]:
    task = _task(task_id)
    with task.lock:
        events = list(reversed(task.events))
    for clause in filter(None, (request.args.get("filter") or "").split("/")):
        field, _, value = clause.partition(":")
        if field != "is_error":
            raise bad_request(f"Unsupported filter {clause!r}")
        wanted = value.strip().lower() in ("1", "true")
        events = [e for e in events if e.is_error == wanted]
    limit = routes.int_arg("limit", 10, 1000)
    offset = routes.int_arg("offset", 0)
    page = [e.to_dict() for e in events[offset : offset + limit]]
    body = {
        "DATA_TYPE": "event_list",
        "length": len(page),
        "limit": limit,
        "offset": offset,
        "total": len(events),
        "DATA": page,
    }
    return jsonify(body), 200


@blueprint.get("/task/<task_id>/successful_transfers")
def task_successful_transfers(task_id: str) -> tuple[Response, int]:
    task = _task(task_id)
    if task.type != "TRANSFER":
        raise bad_request("Successful transfers are only kept for transfer tasks")
    marker = routes.int_arg("marker", 0)
    size = routes.emulator().settings.successful_transfers_page_size
    with task.lock:
        done = list(task.successful)
    page = done[marker : marker + size]
    next_marker = marker + size if marker + size < len(done) else None
    body = {
        "DATA_TYPE": "successful_transfers",
        "marker": marker,
        "next_marker": next_marker,
        "DATA": [{"DATA_TYPE": "successful_transfer", "source_path": s, "destination_path": d} for s, d in page],
    }
    return jsonify(body), 200


@blueprint.post("/task/<task_id>/cancel")
def cancel_task(task_id: str) -> tuple[Response, int]:
    task = _task(task_id)
    if not task.active:
        raise TransferError(409, "TaskComplete", f"Task {task_id} is already complete")
    task.cancel_requested.set()
    if task.done.wait(10.0):
        return routes.result(
            {"DATA_TYPE": "result", "code": "Canceled", "message": "The task has been cancelled successfully."}
        )
    return routes.result(
        {"DATA_TYPE": "result", "code": "CancelAccepted", "message": "The task will be cancelled shortly."}
    )


@blueprint.get("/task/<task_id>/pause_info")
def task_pause_info(task_id: str) -> tuple[Response, int]:
    """``globus task pause-info``: the emulator has no pause rules and no activity manager pauses
    a task, so every task's answer is the one of a task nobody paused."""
    _task(task_id)
    body: dict[str, Any] = {
        "source_pause_message": None,
        "source_pause_message_share": None,
        "destination_pause_message": None,
        "destination_pause_message_share": None,
        "pause_rules": [],
    }
    return jsonify(body), 200


@blueprint.put("/task/<task_id>")
def update_task(task_id: str) -> tuple[Response, int]:
    """``globus task update``: the label and the deadline of a task still in progress."""
    task = _task(task_id)
    body = routes.json_body()
    unknown = sorted(set(body) - {"DATA_TYPE", "label", "deadline"})
    if body.get("DATA_TYPE", "task") != "task" or unknown:
        raise bad_request(f"Only label and deadline can be updated on a task (got {', '.join(unknown) or 'DATA_TYPE'})")
    label = body.get("label", task.label)
    if label is not None and not isinstance(label, str):
        raise bad_request("label must be a string or null")
    deadline = _parse_deadline(body["deadline"]) if "deadline" in body else task.deadline
    with task.lock:
        if not task.active:
            raise TransferError(409, "TaskComplete", f"Task {task_id} is already complete")
        task.label, task.deadline = label, deadline
    return routes.result({"DATA_TYPE": "result", "code": "Updated", "message": "Task updated successfully"})
