"""The protocol's answers: JSON bodies, one status code per kind of outcome, and the same
errors turned into a message on the page for people using a browser.

Every error body is ``{"error": "<one sentence>", "reason": "<stable machine word>"}``.
"""

from __future__ import annotations

from typing import Any, Optional

from django.contrib import messages
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse

#: reason -> HTTP status. Clients map statuses, never message text.
STATUSES = {
    "bad_request": 400,
    "bad_name": 400,
    "no_file": 400,
    "not_authenticated": 401,
    "forbidden": 403,
    "unknown_certificate": 403,
    "csrf": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "exists": 409,
    "length_required": 411,
    "throttled": 429,
    "checksum_mismatch": 422,
    "size_mismatch": 422,
    "client_disconnected": 400,
    "quota_exceeded": 507,
    "no_space": 507,
}


class ProtocolError(Exception):
    """Raised by views and helpers; turned into the answer by ``error_answer``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message

    @property
    def status(self) -> int:
        return STATUSES[self.reason]


def wants_html(request: HttpRequest) -> bool:
    """A browser (asks for text/html) gets pages and redirects; every other client gets JSON."""
    return "text/html" in request.META.get("HTTP_ACCEPT", "")


def json_answer(data: dict[str, Any], status: int = 200) -> JsonResponse:
    response = JsonResponse(data, status=status)
    response["Cache-Control"] = "no-store"
    return response


def error_answer(request: HttpRequest, error: ProtocolError, *, back: Optional[str] = None) -> HttpResponse:
    """JSON for programs; for a browser, the message on the page it came from (``back``)."""
    if back is not None and wants_html(request) and error.reason not in ("not_authenticated",):
        messages.error(request, error.message)
        return HttpResponseRedirect(back, status=303)
    if back is not None and wants_html(request):
        return HttpResponseRedirect(f"/datahost/login/?next={back}", status=303)
    return json_answer({"error": error.message, "reason": error.reason}, status=error.status)


def done_answer(request: HttpRequest, data: dict[str, Any], message: str, *, status: int = 200) -> HttpResponse:
    """Success: JSON for programs, a redirect to the main page with ``message`` for browsers."""
    if wants_html(request):
        messages.success(request, message)
        return HttpResponseRedirect("/datahost/", status=303)
    return json_answer(data, status=status)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """Django's CSRF_FAILURE_VIEW: the same error shape as every other refusal."""
    message = (
        "request refused: CSRF check failed (" + reason.rstrip(".") + "); reload the page, or send the "
        "csrftoken cookie's value in X-CSRFToken and this site's address in Origin"
    )
    if wants_html(request):
        return HttpResponse(f"<h1>Forbidden</h1><p>{_escape(message)}</p>", status=403)
    return json_answer({"error": message, "reason": "csrf"}, status=403)


def bad_request(request: HttpRequest, exception: Optional[Exception] = None) -> HttpResponse:
    """Django's handler400 (a body that cannot be parsed, a file part where none belongs, a body
    over the limits): the protocol's error shape."""
    message = str(exception) if exception is not None and str(exception) else "bad request"
    if isinstance(exception, RequestDataTooBig):
        message = "the request's form fields are larger than this address takes"
    return _plain_error(request, message, "bad_request")


def not_found(request: HttpRequest, exception: Optional[Exception] = None) -> HttpResponse:
    """Django's handler404: a JSON error for programs, a short page for browsers."""
    return _plain_error(request, f"there is nothing at {request.path}", "not_found")


def _plain_error(request: HttpRequest, message: str, reason: str) -> HttpResponse:
    status = STATUSES[reason]
    if wants_html(request):
        return HttpResponse(f"<h1>{status}</h1><p>{_escape(message)}</p>", status=status)
    return json_answer({"error": message, "reason": reason}, status=status)


def _escape(text: str) -> str:
    from django.utils.html import escape

    return str(escape(text))
