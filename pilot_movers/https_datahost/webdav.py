"""WebDAV over HTTPS for one job: one requests session, the job's credentials on every request,
and every answer that is not a success turned into a MoverError.

TLS: the server is verified against the job's CA directory, passed on each request (requests
lets ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` replace a session-wide ``verify``); the session
ignores the environment (``trust_env`` off: no ``.netrc``, no proxy variables). Credentials: the
job's proxy as client certificate (``cert=(proxy, proxy)``: the file holds the chain and the
key), and/or its bearer token in ``Authorization``, re-read for every request.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Union
from urllib.parse import quote

import requests

from pilot_movers.checksums import Checksum
from pilot_movers.credentials.bundle import Credentials
from pilot_movers.engine.contract import FileStat
from pilot_movers.errors import CredentialError, MoverError, Scope, TransferFailed
from pilot_movers.https_datahost.digests import parse_digest, want_digest
from pilot_movers.https_datahost.http_errors import error_for_exception, error_for_status, http_status, refused_write
from pilot_movers.https_datahost.interrupts import Interruptible
from pilot_movers.https_datahost.propfind import STAT_REQUEST, BadMultiStatus, normal_path, parse_multistatus
from pilot_movers.https_datahost.tls import DEFAULT_CA_DIR, make_adapter, verify_setting
from pilot_movers.https_datahost.tokens import bearer_token
from pilot_movers.values import Location
from pilot_movers.version import __version__

log = logging.getLogger(__name__)

#: Bytes of an error answer's body kept for the message (servers explain themselves there).
DETAIL_BYTES = 300
#: The most a PROPFIND answer may hold (a listing of a few hundred thousand files).
MAX_MULTISTATUS_BYTES = 64 << 20
#: Characters left as they are in URL paths (a Location's path is already in URL form).
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"


@dataclass(frozen=True)
class SessionSettings:
    """How the session talks: which credentials it sends, timeouts, pool size, proxy."""

    auth: str = "auto"
    """``auto``: the proxy as client certificate when there is one, and the bearer token when
    there is one; ``x509``: the certificate only; ``token``: the token only (required)."""
    connect_timeout: float = 30.0
    read_timeout: float = 300.0
    pool_size: int = 10
    http_proxy: Optional[str] = None
    insecure_for_tests_only: bool = False


class WebDAVSession:
    """A job's WebDAV client. Thread safe: the movers' workers share it (the connection pool is
    the only state, and it is sized to their number)."""

    def __init__(self, credentials: Credentials, settings: SessionSettings) -> None:
        self.credentials = credentials
        self.settings = settings
        self.interruptible = Interruptible()
        self._verify = verify_setting(
            credentials.ca_dir or DEFAULT_CA_DIR, insecure_for_tests_only=settings.insecure_for_tests_only
        )
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.headers["User-Agent"] = f"pilot-movers/{__version__}"
        adapter = make_adapter(settings.pool_size, self.interruptible)
        self.session.mount("https://", adapter)
        self._proxies = {"https": settings.http_proxy} if settings.http_proxy else {}
        self._servers: dict[str, str] = {}
        self._lock = threading.Lock()
        if settings.auth == "token" and bearer_token(credentials) is None:
            raise CredentialError("auth = token, but the job has no bearer token (BEARER_TOKEN, BEARER_TOKEN_FILE)")

    def close(self) -> None:
        self.session.close()

    # -- addressing ------------------------------------------------------------------------

    @staticmethod
    def url(location: Location) -> str:
        """``davs://host:port/path`` or ``https://...`` as the https URL requests fetches."""
        return f"https://{location.netloc}{quote(location.path, safe=_PATH_SAFE)}"

    def server_software(self, location: Location) -> str:
        """The ``Server`` header the location's server last sent ('' before any answer)."""
        with self._lock:
            return self._servers.get(location.netloc, "")

    # -- requests --------------------------------------------------------------------------

    def credentials_for_request(self) -> tuple[Optional[tuple[str, str]], dict[str, str]]:
        """(client certificate, headers) for one request: the token is read now."""
        mode = self.settings.auth
        proxy = self.credentials.x509_proxy
        cert = (proxy, proxy) if proxy and mode != "token" else None
        headers = {}
        if mode != "x509":
            token = bearer_token(self.credentials)
            if token:
                headers["Authorization"] = f"Bearer {token}"
        return cert, headers

    def request(
        self,
        method: str,
        location: Location,
        *,
        expected: Sequence[int],
        scope: Scope,
        headers: Optional[dict[str, str]] = None,
        writing: bool = False,
        stream: bool = False,
        data: Any = None,
        file: Optional[str] = None,
    ) -> Any:
        """Send one request; the response when its status is ``expected``, else the MoverError
        for it (``writing``: a 403 is looked into, to tell a destination that refuses writes from
        a credential that is refused everywhere)."""
        cert, auth_headers = self.credentials_for_request()
        url = self.url(location)
        try:
            response = self.session.request(
                method,
                url,
                headers={**auth_headers, **(headers or {})},
                data=data,
                cert=cert,
                verify=self._verify,
                proxies=self._proxies,
                timeout=(self.settings.connect_timeout, self.settings.read_timeout),
                allow_redirects=False,
                stream=stream,
            )
        except Exception as exc:  # noqa: BLE001 - every failure becomes a MoverError
            raise error_for_exception(exc, address=location.netloc, endpoint=location.server, file=file) from None
        server = response.headers.get("Server")
        if server:
            with self._lock:
                self._servers[location.netloc] = server
        if response.status_code in expected:
            return response
        detail = _detail(response, method)
        what = f"{method} {url}"
        status = response.status_code
        if status == 403 and writing and self._can_read(location.parent):
            raise refused_write(status, what=what, endpoint=location.server, detail=detail, file=file)
        raise error_for_status(status, what=what, endpoint=location.server, scope=scope, detail=detail, file=file)

    def _can_read(self, directory: Location) -> bool:
        """Does our credential get an answer about ``directory`` (it is not refused everywhere)?"""
        try:
            self.propfind(directory, depth=0)
        except MoverError:
            return False
        return True

    # -- WebDAV operations -----------------------------------------------------------------

    def propfind(self, location: Location, *, depth: int) -> dict[str, Optional[FileStat]]:
        """Path -> FileStat of ``location`` (and its children, depth 1); SourceNotFound (404)
        when it does not exist."""
        response = self.request(
            "PROPFIND",
            location,
            expected=(207,),
            scope=Scope.SOURCE,
            headers={"Depth": str(depth), "Content-Type": 'application/xml; charset="utf-8"'},
            data=STAT_REQUEST,
            stream=True,
        )
        with response:
            body = response.raw.read(MAX_MULTISTATUS_BYTES + 1, decode_content=True)
        if len(body) > MAX_MULTISTATUS_BYTES:
            raise TransferFailed(f"the PROPFIND answer of {location.url} is larger than {MAX_MULTISTATUS_BYTES} bytes")
        try:
            return parse_multistatus(body)
        except BadMultiStatus as exc:
            raise TransferFailed(f"PROPFIND {location.url}: {exc}", transient=True, endpoint=location.server) from None

    def stat(self, location: Location) -> Optional[FileStat]:
        """The file or directory at ``location``; None when nothing is there."""
        try:
            found = self.propfind(location, depth=0)
        except MoverError as exc:
            if http_status(exc) == 404:
                return None
            raise
        path = normal_path(location.path)
        if path in found:
            return found[path]
        return next(iter(found.values()), None) if len(found) == 1 else None

    def digests(self, location: Location, algorithms: Sequence[str]) -> dict[str, Checksum]:
        """The checksums the server computes for the file (HEAD with Want-Digest); only those it
        answered (none when it does not do Want-Digest)."""
        response = self.request(
            "HEAD", location, expected=(200,), scope=Scope.SOURCE, headers={"Want-Digest": want_digest(algorithms)}
        )
        response.close()
        return parse_digest(response.headers.get("Digest"))

    def mkcol(self, location: Location) -> None:
        """Make a directory; one that exists already (405) is fine. 409: its parent is missing."""
        response = self.request("MKCOL", location, expected=(200, 201, 204, 405), scope=Scope.DESTINATION, writing=True)
        response.close()

    def make_parents(self, location: Location) -> None:
        """Make the directories above ``location`` that are missing (WebDAV's MKCOL makes one
        level at a time; a 409 means the level above is missing too)."""
        missing: list[Location] = []
        directory = location.parent
        while directory.path != "/":
            try:
                self.mkcol(directory)
                break
            except MoverError as exc:
                if http_status(exc) != 409:  # 409 Conflict: the level above is missing too
                    raise
            missing.append(directory)
            directory = directory.parent
        for directory in reversed(missing):
            self.mkcol(directory)

    def move(self, source: Location, target: Location, *, overwrite: bool) -> None:
        """MOVE with ``Overwrite: F`` unless ``overwrite``: a server that follows RFC 4918
        refuses (412, DestinationExists) instead of replacing."""
        response = self.request(
            "MOVE",
            source,
            expected=(200, 201, 204),
            scope=Scope.DESTINATION,
            headers={"Destination": self.url(target), "Overwrite": "T" if overwrite else "F"},
            writing=True,
        )
        response.close()

    def delete(self, location: Location) -> None:
        """Remove a file; one that is not there (404) is fine."""
        response = self.request("DELETE", location, expected=(200, 202, 204, 404), scope=Scope.DESTINATION)
        response.close()


def _detail(response: Any, method: str) -> str:
    """The first line of an error answer's body (what the server said), for the message."""
    if method == "HEAD":
        response.close()
        return ""
    try:
        raw: Union[bytes, Any] = response.raw.read(DETAIL_BYTES, decode_content=True) if response.raw else b""
    except Exception:  # noqa: BLE001 - the status says enough
        raw = b""
    finally:
        response.close()
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else ""
    if text.lstrip().startswith("<"):  # an HTML or XML page: not one sentence
        return ""
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return line[:200]
