"""A person's session stays alive while an upload streams.

Sessions expire after ``SESSION_COOKIE_AGE`` seconds without a request (``SESSION_SAVE_EVERY_
REQUEST`` makes the age count from the last one). An upload is one request that may last longer
than that, so the session is saved (its expiry pushed forward) when the upload starts, every
quarter of the idle time while bytes keep arriving, and when it ends. An upload that stalls stops
refreshing, so an abandoned browser still logs out.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.contrib.sessions.backends.base import UpdateError
from django.db import DatabaseError
from django.http import HttpRequest

log = logging.getLogger(__name__)


class SessionKeepAlive:
    """Refreshes the expiry of ``request.session`` at most every ``interval`` seconds."""

    def __init__(self, request: HttpRequest, *, enabled: bool) -> None:
        self.request = request
        self.enabled = enabled
        self.interval = max(1.0, settings.SESSION_COOKIE_AGE / 4)
        self._last = 0.0

    def touch(self, _bytes_so_far: int = 0, *, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        try:
            self.request.session.save()  # writes expire_date = now + SESSION_COOKIE_AGE
        except (DatabaseError, UpdateError) as exc:  # a refresh that fails must not fail the upload
            log.warning("could not refresh a session during an upload: %s", type(exc).__name__)
