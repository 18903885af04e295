"""The DataHost protocol client (requests): password sessions or client certificates, listing,
streamed uploads and downloads, delete, upload from URL, history.

Every failure is a ``pilot_movers.errors.MoverError``: ``AuthenticationFailed`` (401/403, TLS
handshake refused), ``SourceNotFound`` (404), ``DestinationExists`` (409, or a local file in the
way), ``NoSpace`` (507: quota), ``ChecksumsDiffer``/``SizeMismatch`` (a copy that does not match),
``ServiceUnavailable`` (connection errors, timeouts, 5xx: transient), ``TransferCancelled`` (the
caller's ``should_cancel`` raised it), ``TransferFailed`` (anything else). Never a requests
exception. Thread use: one client per thread (a requests Session is not thread-safe).
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union
from urllib.parse import quote

from pilot_movers.checksums import Checksum, StreamingDigest
from pilot_movers.errors import (
    ChecksumsDiffer,
    DestinationExists,
    MoverError,
    Scope,
    ServiceUnavailable,
    SizeMismatch,
)
from pilot_movers.https_datahost import protocol
from pilot_movers.https_datahost.answers import error_for_answer
from pilot_movers.https_datahost.http_errors import describe, error_for_exception
from pilot_movers.https_datahost.multipart import MultipartBody, Progress
from pilot_movers.https_datahost.results import (
    DownloadResult,
    Listing,
    RemoteFile,
    TransferRecord,
    UploadResult,
)
from pilot_movers.https_datahost.tls import make_adapter, verify_setting
from pilot_movers.oserrors import from_oserror
from pilot_movers.version import __version__

log = logging.getLogger(__name__)

FILE_FIELD = protocol.FILE_FIELD
CHUNK = 1 << 20
#: Uploads at least this large ask the server first (GET /datahost/transmit/?name=&size=), so a
#: refusal (quota, name taken) costs no bytes; smaller ones just send.
PREFLIGHT_BYTES = 4 << 20
DEFAULT_TIMEOUT = (30.0, 300.0)
"""(connect, read) seconds: the read timeout applies to each wait for bytes, not the transfer."""
SESSION_COOKIE = "datahost_session"
CSRF_COOKIE = "csrftoken"

Cancel = Callable[[], None]
"""Raises (e.g. TransferCancelled) when the transfer must stop; called between blocks."""


def base_url(address: str) -> str:
    """``host``, ``host:port`` or ``https://host:port`` -> ``https://host:port``."""
    address = address.strip().rstrip("/")
    if address.startswith("https://"):
        return address
    if "://" in address:
        raise ValueError(f"the DataHost is reached over https only, not {address}")
    return f"https://{address}"


class DataHostClient:
    """A client of one DataHost.

    ``address``: ``host:port``. ``ca_dir``: grid CA directory (default ``$X509_CERT_DIR``).
    ``cert``/``key``: a client certificate or proxy (``key`` defaults to ``cert``, as in a proxy
    file) for certificate authentication; otherwise log in with ``login``, or pass ``cookies``
    saved from an earlier login. ``use_env_proxies=False`` bypasses HTTP proxies. ``adapter``: a
    requests transport adapter to mount instead of the default one (``tls.make_adapter``: the
    movers pass one sized to their concurrency, whose requests a cancel can break off).

    With certificate authentication a client keeps no state between requests besides its
    connection pool, so threads may share one (the movers do); a password session's cookies are
    per client.
    """

    def __init__(
        self,
        address: str,
        *,
        ca_dir: Optional[str] = None,
        cert: Optional[str] = None,
        key: Optional[str] = None,
        cookies: Optional[dict[str, str]] = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        use_env_proxies: bool = True,
        insecure_for_tests_only: bool = False,
        adapter: Any = None,
    ) -> None:
        import requests

        self.base_url = base_url(address)
        self.address = self.base_url.removeprefix("https://")
        self._verify = verify_setting(ca_dir, insecure_for_tests_only=insecure_for_tests_only)
        self._cert = (cert, key or cert) if cert else None
        self._timeout = timeout
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.mount("https://", adapter if adapter is not None else make_adapter())
        self.session.headers["User-Agent"] = f"pilot-movers-datahost/{__version__}"
        self.session.headers[protocol.CLIENT_HEADER] = f"pilot-movers/{__version__}"
        for name, value in (cookies or {}).items():
            self.session.cookies.set(name, value)
        self._proxies = requests.utils.get_environ_proxies(self.base_url) if use_env_proxies else {}

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> DataHostClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def cookies(self) -> dict[str, str]:
        """The session's cookies, to save and hand to a later client (never log them)."""
        return {cookie.name: cookie.value or "" for cookie in self.session.cookies}

    @property
    def uses_certificate(self) -> bool:
        return self._cert is not None

    # -- sessions ----------------------------------------------------------------------------

    def login(self, user: str, password: str) -> str:
        """Log in with a password; the session cookie stays in this client (``cookies()``)."""
        self._request("GET", protocol.LOGIN, accept_json=True)  # sets the csrftoken cookie
        answer = self._request("POST", protocol.LOGIN, data={"username": user, "password": password})
        return str(answer.json()["user"])

    def logout(self) -> None:
        self._request("POST", protocol.LOGOUT)
        self.session.cookies.clear()

    def whoami(self) -> dict[str, Any]:
        return dict(self._request("GET", protocol.WHOAMI).json())

    # -- files -------------------------------------------------------------------------------

    def listing(self) -> Listing:
        answer = self._request("GET", protocol.LIST).json()
        return Listing(
            user=answer["user"],
            auth=answer["auth"],
            files=[RemoteFile.from_answer(row) for row in answer["files"]],
            usage_bytes=int(answer["usage_bytes"]),
            quotas=list(answer.get("quotas") or []),
        )

    def ls(self) -> list[RemoteFile]:
        return self.listing().files

    def stat(self, name: str) -> RemoteFile:
        """Size and recorded checksum of one file (HEAD); SourceNotFound if there is none."""
        response = self._request("HEAD", self._receive_path(name), file=name)
        digest = _adler32_from_digest(response.headers.get("Digest"))
        return RemoteFile(name, int(response.headers.get("Content-Length", 0)), None, digest)

    def rm(self, name: str) -> None:
        self._request("POST", protocol.DELETE, data={"name": name}, file=name)

    def rename(self, name: str, to: str, *, overwrite: bool = False) -> None:
        """Rename a remote file atomically (DestinationExists if ``to`` exists, unless ``overwrite``)."""
        data = {"name": name, "to": to, **({"overwrite": "1"} if overwrite else {})}
        self._request("POST", protocol.RENAME, data=data, file=name)

    def put(
        self,
        path: Union[str, os.PathLike[str]],
        name: Optional[str] = None,
        *,
        overwrite: bool = False,
        checksum: Optional[str] = None,
        username: Optional[str] = None,
        progress: Optional[Progress] = None,
        should_cancel: Optional[Cancel] = None,
        algorithms: Sequence[str] = ("adler32",),
    ) -> UploadResult:
        """Upload a local file, streamed from disk (constant memory at any size).

        ``checksum``: the adler32 (hex) the file must have; the server refuses to store it
        otherwise. Whether given or not, the adler32 computed while sending is compared with the
        server's; a mismatch removes the remote file and raises ChecksumsDiffer.
        ``username``: sent as the 2010 protocol's form field (the server checks it is the caller).
        ``algorithms``: checksums to compute while sending besides adler32 (``UploadResult.checksums``).
        """
        path = os.fspath(path)
        name = name or os.path.basename(path)
        size = os.stat(path).st_size
        query = f"?name={quote(name)}" + ("&overwrite=1" if overwrite else "")
        if username:
            query += f"&username={quote(username)}"
        if size >= PREFLIGHT_BYTES:
            self._request("GET", f"{protocol.TRANSMIT}{query}&size={size}", file=name)
        started = time.monotonic()
        fields = {"username": username} if username else {}
        with MultipartBody(
            path,
            field=FILE_FIELD,
            filename=name,
            fields=fields,
            progress=progress,
            should_cancel=should_cancel,
            algorithms=algorithms,
        ) as body:
            headers = {"Content-Type": body.content_type, protocol.SIZE_HEADER: str(size)}
            if checksum:
                headers[protocol.CHECKSUM_HEADER] = f"adler32:{checksum}"
            answer = self._request(
                "POST", f"{protocol.TRANSMIT}{query}", data=body, headers=headers, file=name, expected=(201,)
            ).json()
            sent = body.adler32
            checksums = body.checksums()
        if answer.get("adler32") != sent or int(answer.get("size", -1)) != size:
            self._remove_quietly(name)
            raise ChecksumsDiffer(
                f"the server stored {answer.get('size')} bytes with adler32 {answer.get('adler32')}, "
                f"{size} bytes with adler32 {sent} were sent",
                file=name,
                endpoint=self.base_url,
            )
        return UploadResult(
            name=str(answer["name"]),
            size=size,
            adler32=sent,
            seconds=time.monotonic() - started,
            server_seconds=float(answer.get("seconds") or 0.0),
            mb_per_s=float(answer.get("mb_per_s") or 0.0),
            checksums=checksums,
        )

    def get(
        self,
        name: str,
        destination: Union[str, os.PathLike[str]],
        *,
        overwrite: bool = False,
        progress: Optional[Progress] = None,
        should_cancel: Optional[Cancel] = None,
        resume_attempts: int = 3,
        algorithms: Sequence[str] = ("adler32",),
        in_place: bool = False,
    ) -> DownloadResult:
        """Download ``name`` to ``destination`` (a file, or a directory to put it in).

        Bytes stream to a hidden temporary file next to the destination, renamed into place only
        when complete and verified (size, and the adler32 the server recorded when it has one);
        a connection that breaks mid-way is resumed with a Range request, up to
        ``resume_attempts`` times. The temporary file is removed on every failure. ``algorithms``:
        checksums to compute while receiving besides adler32 (``DownloadResult.checksums``).
        ``in_place``: ``destination`` is already the caller's own temporary name (the engine's):
        the bytes go straight there, and the caller removes it on failure.
        """
        target = Path(destination)
        if target.is_dir():
            target = target / name
        if target.exists() and not overwrite:
            raise DestinationExists(f"{target} already exists", file=name, endpoint=self.base_url)
        temporary = target if in_place else target.parent / f".{target.name}.datahost-{secrets.token_hex(6)}.part"
        started = time.monotonic()
        try:
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except OSError as exc:
            raise from_oserror(exc, scope=Scope.DESTINATION, what=str(temporary)).bind(file=name) from None
        try:
            with os.fdopen(descriptor, "wb", buffering=0) as handle:
                state = _Download(handle, algorithms, str(temporary))
                self._download(name, state, progress, should_cancel, resume_attempts)
            if state.total is not None and state.done != state.total:
                raise SizeMismatch(f"received {state.done} of {state.total} bytes", file=name, endpoint=self.base_url)
            verified = False
            if state.digest is not None:
                if state.digest != state.adler32:
                    raise ChecksumsDiffer(
                        f"received bytes have adler32 {state.adler32}, the server recorded {state.digest}",
                        file=name,
                        endpoint=self.base_url,
                    )
                verified = True
            if not in_place:
                _place(temporary, target, overwrite=overwrite, name=name)
        finally:
            if not in_place and temporary.exists():
                temporary.unlink()
        return DownloadResult(
            name=name,
            path=str(target),
            size=state.done,
            adler32=state.adler32,
            verified=verified,
            seconds=time.monotonic() - started,
            resumed=state.resumed,
            checksums=state.checksums(),
        )

    def _download(
        self,
        name: str,
        state: _Download,
        progress: Optional[Progress],
        should_cancel: Optional[Cancel],
        resume_attempts: int,
    ) -> None:
        import requests

        broken = (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError)
        while True:
            failure: Exception
            headers = {}
            if state.done:
                headers["Range"] = f"bytes={state.done}-"
                if state.validator:
                    headers["If-Range"] = state.validator
            response = None
            try:
                response = self._request(
                    "GET", self._receive_path(name), headers=headers, stream=True, file=name, expected=(200, 206)
                )
            except ServiceUnavailable as exc:
                if not state.done:  # nothing to resume: the caller decides whether to try again
                    raise
                failure = exc  # the server is not back yet: wait, and resume
            if response is not None:
                try:
                    with response:
                        state.start(response)
                        for chunk in response.iter_content(CHUNK):
                            if should_cancel is not None:
                                should_cancel()
                            state.write(chunk)
                            if progress is not None:
                                progress(state.done, state.total)
                    if state.total is None or state.done >= state.total:
                        return
                    failure = SizeMismatch(f"the connection ended after {state.done} of {state.total} bytes")
                except broken as exc:
                    failure = exc
            if state.resumed >= resume_attempts:
                raise ServiceUnavailable(
                    f"the download broke off after {state.done} bytes and could not be resumed "
                    f"({resume_attempts} attempts): {describe(failure)}",
                    file=name,
                    endpoint=self.base_url,
                )
            state.resumed += 1
            log.info("download of %s broke off at %d bytes; resuming (%d)", name, state.done, state.resumed)
            _wait(min(0.2 * 2**state.resumed, 5.0), should_cancel)

    # -- upload from URL and history ---------------------------------------------------------

    def pull(self, url: str, name: Optional[str] = None, *, overwrite: bool = False) -> TransferRecord:
        """Ask the server to fetch ``url`` into ``name``; returns at once (state ``queued``)."""
        data = {"url": url, **({"name": name} if name else {}), **({"overwrite": "1"} if overwrite else {})}
        answer = self._request("POST", protocol.PULL, data=data, file=name, expected=(202,)).json()
        return TransferRecord.from_answer(answer["pull"])

    def pull_status(self, pull_id: int) -> TransferRecord:
        return TransferRecord.from_answer(self._request("GET", f"{protocol.PULLS}{int(pull_id)}").json()["pull"])

    def wait_for_pull(
        self,
        pull_id: int,
        *,
        timeout: float = 3600.0,
        interval: float = 0.5,
        progress: Optional[Progress] = None,
    ) -> TransferRecord:
        """Poll until the pull is done or failed (returned either way), or ServiceUnavailable
        after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            record = self.pull_status(pull_id)
            if progress is not None:
                progress(record.bytes or 0, record.total_bytes)
            if record.finished_state:
                return record
            if time.monotonic() > deadline:
                raise ServiceUnavailable(f"the pull {pull_id} did not finish within {timeout:g} s", file=record.name)
            time.sleep(interval)

    def history(self, limit: int = 100) -> list[TransferRecord]:
        answer = self._request("GET", f"{protocol.HISTORY}?limit={int(limit)}").json()
        return [TransferRecord.from_answer(row) for row in answer["transfers"]]

    # -- plumbing ----------------------------------------------------------------------------

    @staticmethod
    def _receive_path(name: str) -> str:
        return protocol.RECEIVE + quote(name, safe="")

    def _request(
        self,
        method: str,
        path: str,
        *,
        expected: tuple[int, ...] = (200,),
        file: Optional[str] = None,
        accept_json: bool = False,
        headers: Optional[dict[str, str]] = None,
        **kwargs: Any,
    ) -> Any:

        headers = dict(headers or {})
        if accept_json:
            headers["Accept"] = "application/json"
        if method not in ("GET", "HEAD"):
            token = self.session.cookies.get(CSRF_COOKIE)
            if token:
                headers["X-CSRFToken"] = token
            headers["Origin"] = self.base_url
        url = self.base_url + path
        try:
            response = self.session.request(
                method,
                url,
                headers=headers,
                verify=self._verify,
                cert=self._cert,
                proxies=self._proxies,
                timeout=self._timeout,
                allow_redirects=False,
                **kwargs,
            )
        except Exception as exc:  # noqa: BLE001 - every failure becomes a MoverError
            raise error_for_exception(exc, address=self.address, endpoint=self.base_url, file=file) from None
        if response.status_code in expected:
            return response
        body = _json_or_none(response) if method != "HEAD" else None
        response.close()
        raise error_for_answer(response.status_code, body, endpoint=self.base_url, file=file)

    def _remove_quietly(self, name: str) -> None:
        try:
            self.rm(name)
        except MoverError as exc:
            log.warning("could not remove the mismatching copy of %s: %s", name, exc)


def _wait(seconds: float, should_cancel: Optional[Cancel]) -> None:
    """Sleep, asking ``should_cancel`` every 50 ms (a cancel must not wait for the backoff)."""
    deadline = time.monotonic() + seconds
    while True:
        if should_cancel is not None:
            should_cancel()
        left = deadline - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, 0.05))


class _Download:
    """What a download has received so far, across resumed connections."""

    def __init__(self, handle: Any, algorithms: Sequence[str], label: str) -> None:
        self.handle = handle
        self.label = label
        self.algorithms = ("adler32", *algorithms)
        self.done = 0
        self.total: Optional[int] = None
        self.validator: Optional[str] = None
        self.digest: Optional[str] = None
        self.resumed = 0
        self._digest = StreamingDigest(self.algorithms)

    @property
    def adler32(self) -> str:
        return self._digest.checksum("adler32").value

    def checksums(self) -> tuple[Checksum, ...]:
        return self._digest.checksums()

    def start(self, response: Any) -> None:
        """A response began: whole file (200: start over) or the rest of it (206)."""
        if response.status_code == 206:
            first = _range_start(response.headers.get("Content-Range", ""))
            if first == self.done:
                return
        # 200, or a range that does not continue where we are: start from the beginning.
        try:
            self.handle.seek(0)
            self.handle.truncate()
        except OSError as exc:
            raise from_oserror(exc, scope=Scope.DESTINATION, what=self.label) from None
        self.done = 0
        self._digest = StreamingDigest(self.algorithms)
        length = response.headers.get("Content-Length")
        self.total = int(length) if length is not None and length.isdigit() else None
        self.validator = response.headers.get("ETag") or response.headers.get("Last-Modified")
        self.digest = _adler32_from_digest(response.headers.get("Digest"))

    def write(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        try:
            while view:
                view = view[self.handle.write(view) :]
        except OSError as exc:  # a full disk is NOLOCALSPACE, not a network failure
            raise from_oserror(exc, scope=Scope.DESTINATION, what=self.label) from None
        self._digest.update(chunk)
        self.done += len(chunk)


def _range_start(content_range: str) -> Optional[int]:
    """``bytes 1000-9999/10000`` -> 1000."""
    try:
        unit, _, rest = content_range.partition(" ")
        return int(rest.split("-", 1)[0]) if unit == "bytes" else None
    except ValueError:
        return None


def _adler32_from_digest(header: Optional[str]) -> Optional[str]:
    """``adler32=0a1b2c3d`` (RFC 3230, as XrdHttp and the DataHost send it) -> ``0a1b2c3d``."""
    for part in (header or "").split(","):
        algorithm, _, value = part.strip().partition("=")
        if algorithm.lower() == "adler32" and value:
            return value.strip().lower().zfill(8)
    return None


def _place(temporary: Path, target: Path, *, overwrite: bool, name: str) -> None:
    if overwrite:
        os.replace(temporary, target)
        return
    try:
        os.link(temporary, target)
    except FileExistsError:
        raise DestinationExists(f"{target} already exists", file=name) from None
    temporary.unlink()


def _json_or_none(response: Any) -> Optional[dict[str, Any]]:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
