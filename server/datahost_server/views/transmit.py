"""``POST /datahost/transmit/``: upload, the 2010 protocol's multipart form (``file2xmit``, and
optionally ``username``, which must be the caller's).

Before a byte of the body is read: the caller, the name (``?name=``), the existing file
(``?overwrite=1`` to replace it) and the quota are checked, with the declared size
(``X-DataHost-Size`` header or ``?size=``) or, failing that, the Content-Length. Then the body
streams to a temporary file (uploads.py), the session of a person is kept alive, and the file is
renamed into place only when it is complete, of the declared size and, if the client sent
``X-DataHost-Checksum: adler32:<hex>``, of that checksum. Whatever fails, nothing is left behind.

``GET /datahost/transmit/?name=N&size=S[&overwrite=1]`` runs the same checks without a body and
answers 200 or the error the upload would get. Clients ask first: with mod_wsgi in daemon mode,
Apache relays a request's whole body to the application before it relays the answer, so a refusal
decided before the body is read still reaches the client only after it has sent every byte.
"""

from __future__ import annotations

import datetime
import time
from typing import Any, Optional

from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest, HttpResponse, UnreadablePostError
from django.http.multipartparser import MultiPartParserError

from datahost_server import placement, quotas, storage
from datahost_server.access import SESSION, Caller, identify, require_csrf_token
from datahost_server.answers import ProtocolError, done_answer, json_answer
from datahost_server.keepalive import SessionKeepAlive
from datahost_server.models import Transfer
from datahost_server.uploads import FILE_FIELD, StreamToUserDirectory
from datahost_server.views.endpoint import endpoint, flag
from pilot_movers.https_datahost import protocol
from pilot_movers.https_datahost.protocol import meta_key

#: Bytes of a multipart body that are not the file (boundaries, part headers, small fields) are
#: at most this, so Content-Length minus this is a lower bound of the file's size.
MULTIPART_SLACK = 64 << 10


@endpoint("GET", "POST", back="/datahost/")
def transmit(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _dry_run(request)
    caller = identify(request, write=True, check_csrf=False)
    _check_claimed_user(caller, request.GET.get("username"))
    name = _name(request.GET.get("name"))
    overwrite = flag(request.GET.get("overwrite"))
    declared = _declared_size(request)
    length = _content_length(request)
    expected = _expected_adler32(request)
    lower_bound = declared if declared is not None else max(0, length - MULTIPART_SLACK)
    placement.precheck(caller.user, name, lower_bound, overwrite=overwrite)

    keepalive = SessionKeepAlive(request, enabled=caller.auth == SESSION)
    keepalive.touch(force=True)
    limit, limit_reason = _stream_limit(caller, name, overwrite, declared)
    handler = StreamToUserDirectory(
        request, caller.user.pk, limit=limit, limit_reason=limit_reason, on_progress=keepalive.touch
    )
    request.upload_handlers = [handler]
    started_at = datetime.datetime.now(datetime.timezone.utc)
    started = time.monotonic()
    transfer: Optional[Transfer] = None
    try:
        if caller.auth == SESSION:
            require_csrf_token(request)  # a browser's token is in the body: parsed by our handler
        transfer = Transfer.objects.create(
            user=caller.user,
            kind=Transfer.UPLOAD,
            name=name or "",
            state=Transfer.RUNNING,
            started=started_at,
            total_bytes=declared,
            auth=caller.auth,
        )
        fields = _parse(request)
        if handler.stopped is not None:
            raise _stopped(handler, caller, declared)
        _check_claimed_user(caller, fields.get("username"))
        received = handler.received
        if received is None and handler.bytes_received:  # the file part began and never ended
            raise ProtocolError("client_disconnected", "the client stopped sending before the upload was complete")
        if received is None:
            raise ProtocolError("no_file", f"the form has no file in the field {FILE_FIELD!r}")
        final_name = name or _name(received.name) or ""
        if declared is not None and received.size != declared:
            raise ProtocolError("size_mismatch", f"received {received.size} bytes, {declared} were declared")
        if expected is not None and received.adler32 != expected:
            raise ProtocolError(
                "checksum_mismatch", f"the file's adler32 is {received.adler32}, {expected} was expected"
            )
        entry = placement.commit(
            caller.user, handler.claim(), final_name, size=received.size, adler32=received.adler32, overwrite=overwrite
        )
        seconds = time.monotonic() - started
        _close(transfer, Transfer.DONE, name=final_name, size=received.size, seconds=seconds, error="")
        keepalive.touch(force=True)
        answer = {
            "name": entry.name,
            "size": entry.size,
            "adler32": received.adler32,
            "seconds": round(seconds, 6),
            "mb_per_s": round(transfer.mb_per_s or 0.0, 3),
            "transfer": transfer.pk,
        }
        return done_answer(request, answer, f"Uploaded {entry.name} ({entry.size} bytes).", status=201)
    except ProtocolError as error:
        if transfer is not None:
            _close(
                transfer,
                Transfer.FAILED,
                name=transfer.name,
                size=handler.bytes_received,
                seconds=time.monotonic() - started,
                error=error.message,
            )
        raise
    finally:
        handler.discard()


def _dry_run(request: HttpRequest) -> HttpResponse:
    """Would an upload of ``size`` bytes to ``name`` be accepted? (No body, nothing changes.)"""
    caller = identify(request)
    name = _name(request.GET.get("name"))
    size = _declared_size(request)
    if name is None or size is None:
        raise ProtocolError("bad_request", "ask with ?name=NAME&size=BYTES (and overwrite=1 to replace a file)")
    placement.precheck(caller.user, name, size, overwrite=flag(request.GET.get("overwrite")))
    limits = quotas.limits(caller.user)
    available = min((limit.available_bytes for limit in limits), default=None)
    return json_answer({"name": name, "size": size, "accepted": True, "available_bytes": available})


def _check_claimed_user(caller: Caller, claimed: Optional[str]) -> None:
    """The 2010 protocol's ``username`` (form field or query) must name the caller."""
    if claimed and claimed != caller.user.get_username():
        raise ProtocolError("forbidden", f"you are {caller.user.get_username()}, not {claimed}")


def _parse(request: HttpRequest) -> dict[str, Any]:
    """Read the body through the upload handler; the form's plain fields."""
    try:
        request.FILES  # noqa: B018 - parses the body
        return {key: request.POST.get(key) for key in request.POST}
    except (UnreadablePostError, OSError):
        raise ProtocolError(
            "client_disconnected", "the client stopped sending before the upload was complete"
        ) from None
    except (MultiPartParserError, SuspiciousOperation) as exc:
        raise ProtocolError("bad_request", f"the body is not a valid multipart form: {exc}") from None


def _stopped(handler: StreamToUserDirectory, caller: Caller, declared: Optional[int]) -> ProtocolError:
    if handler.stopped == "no_space":
        return ProtocolError("no_space", f"the server cannot store the file: {handler.write_error}")
    if handler.stopped == "size_mismatch":
        return ProtocolError("size_mismatch", f"the file is larger than the {declared} bytes declared")
    limits = quotas.limits(caller.user)
    tightest = min(limits, key=lambda limit: limit.available_bytes) if limits else None
    if tightest is None:  # pragma: no cover - a quota stop implies a quota
        return ProtocolError("quota_exceeded", "the upload exceeds a quota")
    return ProtocolError("quota_exceeded", str(quotas.QuotaExceeded(tightest, handler.bytes_received)))


def _stream_limit(
    caller: Caller, name: Optional[str], overwrite: bool, declared: Optional[int]
) -> tuple[Optional[int], str]:
    """The most bytes the file part may have while streaming, and the reason to give if passed."""
    if declared is not None:
        return declared, "size_mismatch"  # the declared size was checked against the quota
    limits = quotas.limits(caller.user)
    if not limits:
        return None, "quota_exceeded"
    replacing = (placement.existing_size(caller.user.pk, name) or 0) if (name and overwrite) else 0
    return min(limit.available_bytes for limit in limits) + replacing, "quota_exceeded"


def _close(transfer: Transfer, state: str, *, name: str, size: int, seconds: float, error: str) -> None:
    transfer.state = state
    transfer.name = name
    transfer.bytes = size
    transfer.seconds = seconds
    transfer.error = error
    transfer.finished = datetime.datetime.now(datetime.timezone.utc)
    transfer.save(update_fields=["state", "name", "bytes", "seconds", "error", "finished"])


def _name(value: Optional[str]) -> Optional[str]:
    if not value:
        return None
    try:
        return storage.check_name(value)
    except storage.BadName as exc:
        raise ProtocolError("bad_name", str(exc)) from None


def _content_length(request: HttpRequest) -> int:
    try:
        return int(request.META["CONTENT_LENGTH"])
    except (KeyError, ValueError):
        raise ProtocolError("length_required", "send the upload with a Content-Length") from None


def _declared_size(request: HttpRequest) -> Optional[int]:
    value = request.META.get(meta_key(protocol.SIZE_HEADER)) or request.GET.get("size")
    if value is None or value == "":
        return None
    try:
        size = int(value)
    except ValueError:
        raise ProtocolError("bad_request", f"the declared size {value!r} is not a number of bytes") from None
    if size < 0:
        raise ProtocolError("bad_request", "the declared size is negative")
    return size


def _expected_adler32(request: HttpRequest) -> Optional[str]:
    value = request.META.get(meta_key(protocol.CHECKSUM_HEADER))
    if not value:
        return None
    algorithm, _, digest = value.partition(":")
    digest = digest.strip().lower()
    if algorithm.strip().lower() not in ("adler32", "ad", "ad32") or not digest:
        raise ProtocolError("bad_request", "X-DataHost-Checksum must be adler32:<8 hex digits>")
    try:
        return format(int(digest, 16), "08x")
    except ValueError:
        raise ProtocolError("bad_request", f"{digest!r} is not a hexadecimal adler32") from None
