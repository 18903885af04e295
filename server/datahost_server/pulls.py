"""Upload from URL: the server fetches a public http(s) URL into a user's storage, in the
background (a small thread pool in the web application's process), while the user watches its
state in the listing or at ``/datahost/pulls/<id>``.

A pull streams into a temporary file like an upload, holds to the quota as bytes arrive, and is
put into place by the same ``placement.commit``. Addresses on loopback, private, link-local and
reserved networks are refused (the server must not become a way into its own network) unless
the instance allows them (tests). Redirects are followed by hand, each target checked the same
way. Pulls that were running in a process that died are marked failed when the next one starts.
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Optional
from urllib.parse import urljoin, urlsplit

from django.conf import settings
from django.db import close_old_connections, connection

from datahost_server import placement, quotas, storage
from datahost_server.answers import ProtocolError
from datahost_server.models import Transfer
from pilot_movers.checksums import adler32

log = logging.getLogger(__name__)

CHUNK = 1 << 20
MAX_REDIRECTS = 5
CONNECT_TIMEOUT = 15.0
READ_TIMEOUT = 120.0
PROGRESS_EVERY = 1.0  # seconds between progress updates in the database


class _Pool:
    """The pull threads of this process, created on the first pull."""

    lock = threading.Lock()
    executor: Optional[ThreadPoolExecutor] = None

    @classmethod
    def get(cls) -> ThreadPoolExecutor:
        with cls.lock:
            if cls.executor is None:
                cls.executor = ThreadPoolExecutor(settings.DATAHOST_PULL_WORKERS, thread_name_prefix="datahost-pull")
            return cls.executor


class PullFailed(Exception):
    """A pull that cannot complete; the message is shown to the user."""


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def submit(transfer: Transfer) -> None:
    """Start pulling in the background."""
    _Pool.get().submit(run, transfer.pk)


def check_url(url: str) -> str:
    """Refuse what is not an http(s) URL to a public address (unless private ones are allowed)."""
    try:
        parts = urlsplit(url)
        port = parts.port
        hostname = parts.hostname
        if hostname:
            hostname.encode("idna")  # a label over 63 characters, an empty label...
    except ValueError as exc:  # UnicodeError is one
        raise ProtocolError("bad_request", f"{url!r} is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not hostname:
        raise ProtocolError("bad_request", f"{url!r} is not an http:// or https:// URL")
    if parts.username or parts.password:
        raise ProtocolError("bad_request", "URLs with a user name or password are not pulled")
    if not settings.DATAHOST_PULL_ALLOW_PRIVATE:
        try:
            addresses = {info[4][0] for info in socket.getaddrinfo(hostname, port or 443)}
        except (socket.gaierror, ValueError):  # ValueError: a NUL, a bad label
            raise ProtocolError("bad_request", f"the host {hostname} cannot be resolved") from None
        for address in addresses:
            ip = ipaddress.ip_address(str(address).split("%")[0])
            if not ip.is_global:
                raise ProtocolError("bad_request", f"{hostname} is not a public address ({ip})")
    return url


def default_name(url: str) -> str:
    name = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    if not name:
        raise ProtocolError("bad_name", "the URL does not end in a file name: give one with 'name'")
    return storage.check_name(name)


def run(transfer_id: int) -> None:
    """The body of one pull, on a pool thread."""
    close_old_connections()
    try:
        transfer = Transfer.objects.select_related("user").get(pk=transfer_id)
        _pull(transfer)
    except Exception:  # the thread must survive; the transfer records what went wrong
        log.exception("pull %s failed unexpectedly", transfer_id)
        Transfer.objects.filter(pk=transfer_id, state__in=[Transfer.QUEUED, Transfer.RUNNING]).update(
            state=Transfer.FAILED, error="internal error", finished=_now()
        )
    finally:
        connection.close()


def _pull(transfer: Transfer) -> None:
    import requests

    transfer.state = Transfer.RUNNING
    transfer.started = _now()
    transfer.worker = worker_id()
    transfer.save(update_fields=["state", "started", "worker"])
    started = time.monotonic()
    temporary, descriptor = storage.temporary_file(transfer.user_id, "pull")
    size = 0
    try:
        with requests.Session() as session:
            session.trust_env = False
            response = _open(session, transfer.url)
            with response:
                total = _content_length(response)
                if total is not None:
                    transfer.total_bytes = total
                    transfer.save(update_fields=["total_bytes"])
                    _check_quota(transfer, total)
                adler, last_update = 1, time.monotonic()
                limit = _available(transfer)
                for chunk in response.iter_content(CHUNK):
                    size += len(chunk)
                    if limit is not None and size > limit:
                        raise PullFailed(str(quotas.QuotaExceeded(_tightest(transfer), size)))
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(descriptor, view) :]
                    adler = adler32(chunk, adler)
                    if time.monotonic() - last_update >= PROGRESS_EVERY:
                        last_update = time.monotonic()
                        Transfer.objects.filter(pk=transfer.pk).update(bytes=size)
                if total is not None and size != total:
                    raise PullFailed(f"the server sent {size} of {total} bytes")
        os.close(descriptor)
        descriptor = -1
        placement.commit(
            transfer.user,
            temporary,
            transfer.name,
            size=size,
            adler32=format(adler, "08x"),
            overwrite=transfer.overwrite,
        )
        temporary = None  # type: ignore[assignment]
        _finish(transfer, Transfer.DONE, size, time.monotonic() - started, "")
    except (PullFailed, ProtocolError) as exc:
        _finish(transfer, Transfer.FAILED, size, time.monotonic() - started, str(exc))
    except requests.RequestException as exc:
        _finish(transfer, Transfer.FAILED, size, time.monotonic() - started, _network_message(exc))
    finally:
        if descriptor >= 0:
            os.close(descriptor)
        storage.discard(temporary)


def _open(session: Any, url: str) -> Any:
    for _ in range(MAX_REDIRECTS + 1):
        check_url(url)
        response = session.get(
            url,
            stream=True,
            allow_redirects=False,
            timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
            verify=settings.DATAHOST_PULL_CA_BUNDLE or True,
            headers={"Accept-Encoding": "identity"},
        )
        if response.status_code in (301, 302, 303, 307, 308) and "Location" in response.headers:
            url = urljoin(url, response.headers["Location"])
            response.close()
            continue
        if response.status_code != 200:
            response.close()
            raise PullFailed(f"the source answered HTTP {response.status_code} {response.reason}")
        return response
    raise PullFailed(f"more than {MAX_REDIRECTS} redirects")


def _content_length(response: Any) -> Optional[int]:
    try:
        return int(response.headers["Content-Length"])
    except (KeyError, ValueError):
        return None


def _check_quota(transfer: Transfer, size: int) -> None:
    try:
        quotas.check(transfer.user, size, replacing=_replacing(transfer))
    except quotas.QuotaExceeded as exc:
        raise PullFailed(str(exc)) from None


def _replacing(transfer: Transfer) -> int:
    if not transfer.overwrite:
        return 0
    return placement.existing_size(transfer.user_id, transfer.name) or 0


def _available(transfer: Transfer) -> Optional[int]:
    found = quotas.limits(transfer.user)
    if not found:
        return None
    return min(limit.available_bytes for limit in found) + _replacing(transfer)


def _tightest(transfer: Transfer) -> quotas.Limit:
    return min(quotas.limits(transfer.user), key=lambda limit: limit.available_bytes)


def _finish(transfer: Transfer, state: str, size: int, seconds: float, error: str) -> None:
    transfer.state = state
    transfer.bytes = size
    transfer.seconds = seconds
    transfer.error = error
    transfer.finished = _now()
    transfer.save(update_fields=["state", "bytes", "seconds", "error", "finished"])


def _network_message(exc: Exception) -> str:
    import requests

    if isinstance(exc, requests.exceptions.SSLError):
        return "the source's TLS certificate could not be verified"
    if isinstance(exc, requests.exceptions.Timeout):
        return "the source stopped answering (timeout)"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return "the source cannot be reached or closed the connection"
    return f"the download failed ({type(exc).__name__})"


def recover_interrupted() -> int:
    """Mark pulls of this host whose process died as failed; return how many. Called when a
    process starts, before it runs pulls: a record naming this very pid is an earlier process's."""
    host = socket.gethostname()
    count = 0
    for transfer in Transfer.objects.filter(kind=Transfer.PULL, state__in=[Transfer.QUEUED, Transfer.RUNNING]):
        worker_host, _, pid = transfer.worker.partition(":")
        if worker_host != host or (pid.isdigit() and int(pid) != os.getpid() and _alive(int(pid))):
            continue
        transfer.state = Transfer.FAILED
        transfer.error = "interrupted: the server restarted before the pull finished"
        transfer.finished = _now()
        transfer.save(update_fields=["state", "error", "finished"])
        count += 1
    return count


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)
