"""Wrong passwords are throttled, per user name and per client address.

Each wrong password is recorded (user name as typed, client address, time). Once a user name has
``DATAHOST_LOGIN_FAILURES_PER_USER`` of them within the last ``DATAHOST_LOGIN_WINDOW`` seconds,
or an address ``DATAHOST_LOGIN_FAILURES_PER_ADDRESS``, password logins for that name, or from
that address, are refused with 429 until the oldest of those failures leaves the window (the
answer's ``Retry-After``), right password or not: guessing gets a handful of tries per window.
A successful login clears that user name's record. The records live in the database, so every
front-end of an instance counts the same failures.
"""

from __future__ import annotations

import datetime
import math
from typing import Any, Optional

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest

from datahost_server.models import LoginFailure


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _window() -> datetime.timedelta:
    return datetime.timedelta(seconds=int(settings.DATAHOST_LOGIN_WINDOW))


def retry_after(username: str, address: str, *, excluding: Optional[int] = None) -> Optional[int]:
    """Seconds until a login for ``username`` from ``address`` may be tried, or None: now.
    ``excluding``: the record of the attempt being judged (counted as a failure until it succeeds)."""
    now = _now()
    since = now - _window()
    LoginFailure.objects.filter(at__lt=since).delete()  # what left the window
    recent = LoginFailure.objects.filter(at__gte=since).exclude(pk=excluding)
    waits = []
    for failures, limit in (
        (recent.filter(username=username), settings.DATAHOST_LOGIN_FAILURES_PER_USER),
        (recent.filter(address=address), settings.DATAHOST_LOGIN_FAILURES_PER_ADDRESS),
    ):
        wait = _wait(failures, int(limit), now)
        if wait is not None:
            waits.append(wait)
    return max(waits) if waits else None


def _wait(failures: QuerySet[LoginFailure], limit: int, now: datetime.datetime) -> Optional[int]:
    """When ``limit`` failures are in the window: seconds until enough of them have left it."""
    times = list(failures.order_by("-at").values_list("at", flat=True)[:limit])
    if len(times) < limit:
        return None
    oldest_that_counts = times[-1]
    return max(1, math.ceil((oldest_that_counts + _window() - now).total_seconds()))


def succeeded(username: str) -> None:
    LoginFailure.objects.filter(username=username).delete()


def client_address(request: Optional[HttpRequest]) -> str:
    """The address the request came from (Apache's REMOTE_ADDR; no proxy sits in front)."""
    return str((request.META.get("REMOTE_ADDR") if request is not None else None) or "0.0.0.0")


class ThrottledModelBackend(ModelBackend):
    """Django's password check behind the throttle, for every login form (the admin's too)."""

    def authenticate(
        self,
        request: Optional[HttpRequest],
        username: Optional[str] = None,
        password: Optional[str] = None,
        **kwargs: Any,
    ) -> Any:
        if username is None or password is None:
            return None
        address = client_address(request)
        # Counted as a failure before the (slow) password check: logins sent all at once each see
        # the others, so parallel requests cannot try more passwords than the limit allows.
        attempt = LoginFailure.objects.create(username=username[:150], address=address, at=_now())
        wait = retry_after(username, address, excluding=attempt.pk)
        if wait is not None:
            attempt.delete()  # a refused attempt tried no password: it does not count
            if request is not None:
                request.datahost_throttled_for = wait
            raise PermissionDenied("too many wrong passwords")
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is not None:
            succeeded(username)
        return user
