"""The wrapper every protocol endpoint shares: allowed methods, ProtocolError to answer.

Endpoints are exempt from Django's CSRF middleware because they decide per caller (see
access.py): a session must pass the token check, a certificate write must not come from a
browser on another site.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from datahost_server.answers import ProtocolError, error_answer

View = Callable[..., HttpResponse]


def endpoint(*methods: str, back: str | None = None) -> Callable[[View], View]:
    """Allow ``methods`` only; turn ProtocolError into its answer (a page message for browsers
    when ``back`` names the page to return to)."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                if request.method not in methods:
                    raise ProtocolError(
                        "method_not_allowed", f"{request.method} is not allowed here; use {', '.join(methods)}"
                    )
                return view(request, *args, **kwargs)
            except ProtocolError as error:
                response = error_answer(request, error, back=back)
                if error.reason == "method_not_allowed":
                    response["Allow"] = ", ".join(methods)
                return response

        return csrf_exempt(wrapper)

    return decorate


def flag(value: str | None) -> bool:
    """``1``, ``true``, ``yes``, ``on`` (any case) -> True."""
    return (value or "").strip().lower() in ("1", "true", "yes", "on")
