"""Listing, download and delete of a user's files.

A download is answered by Apache, not Django: the view checks the caller and the file, then
answers with ``X-Sendfile`` (mod_xsendfile streams the file, with Range, ETag and
Last-Modified) and tags the response so that Apache's transfer log can say how fast it went.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any, Optional

from django.http import HttpRequest, HttpResponse
from django.utils.http import content_disposition_header

from datahost_server import quotas, storage, transfer_log
from datahost_server.access import identify
from datahost_server.answers import ProtocolError, done_answer, json_answer
from datahost_server.models import StoredFile, Transfer
from datahost_server.views.endpoint import endpoint, flag
from pilot_movers.https_datahost import protocol

#: The response header that links a download to its Transfer record (logged by Apache).
TRANSFER_HEADER = protocol.TRANSFER_HEADER


def file_rows(user: Any, entries: Optional[Sequence[storage.FileEntry]] = None) -> list[dict[str, Any]]:
    """The user's files (or ``entries``, one page of them) with sizes, times and the checksums
    recorded when they were stored."""
    if entries is None:
        entries = storage.list_files(user.pk)
        records = {r.name: r for r in StoredFile.objects.filter(user=user)}
    else:
        records = {r.name: r for r in StoredFile.objects.filter(user=user, name__in=[e.name for e in entries])}
    rows = []
    for entry in entries:
        record = records.get(entry.name)
        fresh = record is not None and record.size == entry.size and record.mtime_ns == entry.mtime_ns
        rows.append(
            {
                "name": entry.name,
                "size": entry.size,
                "modified": datetime.datetime.fromtimestamp(entry.mtime_ns / 1e9, datetime.timezone.utc).isoformat(),
                "adler32": record.adler32 if fresh and record is not None else None,
            }
        )
    return rows


@endpoint("GET")
def list_files(request: HttpRequest) -> HttpResponse:
    """``GET /datahost/list/``: the caller's files, usage and quotas."""
    caller = identify(request)
    rows = file_rows(caller.user)
    return json_answer(
        {
            "user": caller.user.get_username(),
            "auth": caller.auth,
            "dn": caller.dn,
            "files": rows,
            "usage_bytes": sum(row["size"] for row in rows),
            "quotas": [limit.to_dict() for limit in quotas.limits(caller.user)],
        }
    )


@endpoint("GET", "HEAD")
def receive(request: HttpRequest, name: str) -> HttpResponse:
    """``GET /datahost/receive/<name>``: the file, sent by Apache."""
    return _send_file(request, name)


def _send_file(request: HttpRequest, name: str) -> HttpResponse:
    caller = identify(request)
    try:
        path = storage.file_path(caller.user.pk, name)
    except storage.BadName as exc:
        raise ProtocolError("bad_name", str(exc)) from None
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise ProtocolError("not_found", f"no file {name} in your storage") from None
    response = HttpResponse(status=200, content_type="application/octet-stream")
    response["X-Sendfile"] = str(path)
    response["X-DataHost-Delivery"] = "x-sendfile"
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=name)
    response["Cache-Control"] = "private, no-cache"
    record = StoredFile.objects.filter(user=caller.user, name=name).first()
    if record is not None and record.size == stat.st_size and record.mtime_ns == stat.st_mtime_ns:
        response["Digest"] = f"adler32={record.adler32}"
    if request.method == "GET":
        transfer = Transfer.objects.create(
            user=caller.user,
            kind=Transfer.DOWNLOAD,
            name=name,
            state=Transfer.RUNNING,
            started=datetime.datetime.now(datetime.timezone.utc),
            total_bytes=stat.st_size,
            auth=caller.auth,
        )
        response[TRANSFER_HEADER] = str(transfer.token)
    return response


@endpoint("GET", "HEAD")
def receive_by_query(request: HttpRequest) -> HttpResponse:
    """``GET /datahost/receive/?filename=NAME`` (or ``?name=``): the same as ``receive/NAME``."""
    name = request.GET.get("filename") or request.GET.get("name")
    if not name:
        identify(request)  # who is asking comes first: 401/403 before a usage error
        raise ProtocolError("bad_request", "name the file: /datahost/receive/NAME or /datahost/receive/?filename=NAME")
    return _send_file(request, name)


@endpoint("POST", back="/datahost/")
def delete(request: HttpRequest) -> HttpResponse:
    """``POST /datahost/delete/`` with ``name``: remove one of the caller's files."""
    caller = identify(request, write=True)
    name = request.POST.get("name") or request.GET.get("name") or ""
    try:
        path = storage.file_path(caller.user.pk, name)
    except storage.BadName as exc:
        raise ProtocolError("bad_name", str(exc)) from None
    with storage.commit_lock():
        try:
            path.unlink()
        except FileNotFoundError:
            raise ProtocolError("not_found", f"no file {name} in your storage") from None
        StoredFile.objects.filter(user=caller.user, name=name).delete()
    return done_answer(request, {"deleted": name}, f"Deleted {name}.")


@endpoint("POST", back="/datahost/")
def rename(request: HttpRequest) -> HttpResponse:
    """``POST /datahost/rename/`` with ``name``, ``to`` and optionally ``overwrite``: give a file
    another name, atomically (a mover uploads to a temporary name, verifies, then renames)."""
    caller = identify(request, write=True)
    name, to = request.POST.get("name") or "", request.POST.get("to") or ""
    overwrite = flag(request.POST.get("overwrite"))
    try:
        source, target = storage.file_path(caller.user.pk, name), storage.file_path(caller.user.pk, to)
    except storage.BadName as exc:
        raise ProtocolError("bad_name", str(exc)) from None
    with storage.commit_lock():
        if not source.is_file():
            raise ProtocolError("not_found", f"no file {name} in your storage")
        if source == target:
            return done_answer(request, {"renamed": name, "to": to}, f"{name} keeps its name.")
        if target.exists() and not overwrite:
            raise ProtocolError("exists", f"{to} already exists: delete it first or ask to overwrite it")
        try:
            storage.place(source, target, overwrite=overwrite)
        except FileExistsError:
            raise ProtocolError("exists", f"{to} already exists: delete it first or ask to overwrite it") from None
        StoredFile.objects.filter(user=caller.user, name=to).delete()
        StoredFile.objects.filter(user=caller.user, name=name).update(name=to)
    return done_answer(request, {"renamed": name, "to": to}, f"Renamed {name} to {to}.")


@endpoint("GET")
def history(request: HttpRequest) -> HttpResponse:
    """``GET /datahost/history/``: the caller's transfers, newest first, with MB/s."""
    caller = identify(request)
    transfer_log.ingest()
    try:
        limit = max(1, min(1000, int(request.GET.get("limit", "100"))))
    except ValueError:
        raise ProtocolError("bad_request", "limit must be a number") from None
    transfers = Transfer.objects.filter(user=caller.user)[:limit]
    return json_answer({"user": caller.user.get_username(), "transfers": [t.to_dict() for t in transfers]})
