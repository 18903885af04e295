"""Password login and logout (a session cookie), and ``whoami``.

``GET /datahost/login/``: the login page for browsers; for programs, JSON that sets the
``csrftoken`` cookie they must echo in ``X-CSRFToken``. ``POST /datahost/login/`` (``username``,
``password``; CSRF-checked like any form): 200 and the session cookie, or 401, or 429 with
``Retry-After`` once a user name or an address has had too many wrong passwords (throttle.py).
``POST /datahost/logout/``: ends the session.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import authenticate, login, logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from datahost_server import throttle
from datahost_server.access import identify
from datahost_server.answers import json_answer, wants_html
from datahost_server.views.endpoint import endpoint


@sensitive_post_parameters("password")
@never_cache
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    next_url = request.POST.get("next") or request.GET.get("next") or "/datahost/"
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}, require_https=True):
        next_url = "/datahost/"
    if request.method == "GET":
        if wants_html(request):
            return render(request, "datahost/login.html", {"next": next_url})
        return json_answer({"csrftoken": get_token(request), "login": "POST username and password here"})
    username = request.POST.get("username", "")
    wait = throttle.retry_after(username, throttle.client_address(request))
    if wait is not None:
        return _throttled(request, next_url, wait)
    user = authenticate(request, username=username, password=request.POST.get("password", ""))
    raced = getattr(request, "datahost_throttled_for", None)  # throttled by logins sent at the same time
    if user is None and raced is not None:
        return _throttled(request, next_url, int(raced))
    if user is None:
        message = "wrong user name or password"
        if wants_html(request):
            return render(request, "datahost/login.html", {"next": next_url, "error": message}, status=401)
        return json_answer({"error": message, "reason": "not_authenticated"}, status=401)
    login(request, user)
    if wants_html(request):
        return HttpResponseRedirect(next_url, status=303)
    return json_answer(
        {
            "user": user.get_username(),
            "session_idle_seconds": settings.SESSION_COOKIE_AGE,
            "csrftoken": get_token(request),
        }
    )


def _throttled(request: HttpRequest, next_url: str, wait: int) -> HttpResponse:
    window = settings.DATAHOST_LOGIN_WINDOW // 60
    message = (
        f"too many wrong passwords for this user name or from this address in {window} minutes: "
        f"try again in {wait} seconds"
    )
    response: HttpResponse
    if wants_html(request):
        response = render(request, "datahost/login.html", {"next": next_url, "error": message}, status=429)
    else:
        response = json_answer({"error": message, "reason": "throttled", "retry_after": wait}, status=429)
    response["Retry-After"] = str(wait)
    return response


@require_http_methods(["POST"])
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    if wants_html(request):
        return HttpResponseRedirect("/datahost/login/", status=303)
    return json_answer({"user": None})


@endpoint("GET")
def whoami(request: HttpRequest) -> HttpResponse:
    caller = identify(request)
    return json_answer(
        {
            "user": caller.user.get_username(),
            "auth": caller.auth,
            "dn": caller.dn,
            "session_idle_seconds": settings.SESSION_COOKIE_AGE if caller.auth == "session" else None,
        }
    )
