"""The ``https`` mover: files between this node and WebDAV servers (``https://``, ``davs://``).

One requests session per job (opened in ``open``, closed in ``close``) whose connection pool is
sized to the job's concurrency, so parallel transfers reuse their TLS connections. Each file:

* download: GET with ``Want-Digest`` into the engine's temporary file, checksummed while the
  bytes arrive; a connection that breaks mid-way is resumed with ``Range`` (``resume_attempts``
  times, while the engine's clocks allow), the bytes already written kept;
* upload: PUT streamed from disk, checksummed while the bytes leave, then the server's own
  checksum of the copy (HEAD with ``Want-Digest``), compared with what was sent; a server that
  refuses the PUT because the directory is missing (409) gets MKCOLs first.

Either way the checksums come from this process (``ChecksumSource.STREAMED``), in one pass; the
server's, when it gives one, confirm that the copy is the source (``Copied.verified``). Memory
stays at one block per transfer whatever the file's size. A cancelled clock stops the transfer
at the next block, and breaks off a request blocked in the kernel at once (``interrupts``).

Credentials: the job's proxy as client certificate, and/or its bearer token (WLCG), read again
for every request (``auth``). TLS verification is always on, against the job's CA directory;
only ``insecure_for_tests_only`` turns it off, with a warning in the log.
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
import threading
from dataclasses import dataclass
from typing import Any, Literal, Optional

from pilot_movers.base import Mover
from pilot_movers.checksums import Checksum
from pilot_movers.config_values import BYTES, DURATION, HOUR, KIB, MIB, RETRIES, WORKERS, between, check_fields, option
from pilot_movers.engine.contract import (
    Capabilities,
    ChecksumSource,
    Copied,
    CopyRequest,
    CredentialKind,
    Namespace,
)
from pilot_movers.errors import (
    ChecksumsDiffer,
    MoverError,
    NoSpace,
    Scope,
    ServiceUnavailable,
    SizeMismatch,
    TransferFailed,
)
from pilot_movers.https_datahost.http_errors import error_for_exception, http_status
from pilot_movers.https_datahost.streams import DownloadFile, UploadBody, make_local_parent
from pilot_movers.https_datahost.webdav import SessionSettings, WebDAVSession
from pilot_movers.https_datahost.webdav_namespace import WebDAVNamespace
from pilot_movers.library_versions import described
from pilot_movers.oserrors import from_oserror
from pilot_movers.values import Location, Role

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HTTPSOptions:
    """``[mover:https]``."""

    auth: Literal["auto", "x509", "token"] = "auto"
    """``auto``: the proxy as client certificate and the bearer token, whichever the job has;
    ``x509``: the certificate only; ``token``: the token only (the job must have one)."""
    block_size: int = option(1 << 20, BYTES, between(KIB, 256 * MIB))
    """Bytes read or written at a time (memory per transfer)."""
    connect_timeout: float = option(30.0, DURATION, between(0.1, HOUR))
    read_timeout: float = option(300.0, DURATION, between(0.1, HOUR))
    """Seconds one wait for bytes may last (the engine's stall clock usually acts first)."""
    resume_attempts: int = option(5, RETRIES)
    """Times a download whose connection broke is resumed with Range before the attempt fails."""
    server_checksums: bool = True
    """Ask the server for its checksum (Want-Digest) to compare each copy with."""
    no_clobber: Literal["auto", "server", "look-first"] = "auto"
    """How a rename avoids replacing a file: ``server`` trusts MOVE's ``Overwrite: F``;
    ``look-first`` looks first; ``auto`` trusts it except on servers known to ignore it (XRootD)."""
    pool_size: Optional[int] = option(None, WORKERS)
    """Connections kept per server (default: the job's concurrency)."""
    http_proxy: Optional[str] = None
    """An HTTP proxy to reach servers through (the environment's proxy variables are ignored)."""
    insecure_for_tests_only: bool = False
    """Do not verify servers' certificates. For tests only: logged as a warning every time."""

    def __post_init__(self) -> None:
        check_fields(self, where="[mover:https]")


class HTTPSMover(Mover):
    name = "https"
    schemes = ("https", "davs")
    capabilities = Capabilities(
        checksums=ChecksumSource.STREAMED,
        atomic_no_clobber_rename=True,
        batched_stat=True,
        credential=CredentialKind.X509_PROXY,
    )
    Options = HTTPSOptions
    options: HTTPSOptions
    default_ports = {"https": 443, "davs": 443}

    @classmethod
    def library(cls) -> Optional[str]:
        return described("requests", "requests")

    def setup(self) -> None:
        self._session: Optional[WebDAVSession] = None
        self._namespace: Optional[WebDAVNamespace] = None
        self._lock = threading.Lock()
        #: Downloads resumed with Range in this mover's life (observability, and tests).
        self.resumptions = 0

    @classmethod
    def credential_for(cls, options: Any) -> CredentialKind:
        """``auth = token``: a bearer token only, so a job needs no proxy for this mover."""
        if isinstance(options, HTTPSOptions) and options.auth == "token":
            return CredentialKind.BEARER_TOKEN
        return cls.capabilities.credential

    # -- lifecycle -------------------------------------------------------------------------

    def open(self) -> None:
        options = self.options
        self._session = WebDAVSession(
            self.credentials,
            SessionSettings(
                auth=options.auth,
                connect_timeout=options.connect_timeout,
                read_timeout=options.read_timeout,
                pool_size=options.pool_size or self.settings.concurrency,
                http_proxy=options.http_proxy,
                insecure_for_tests_only=options.insecure_for_tests_only,
            ),
        )
        self._namespace = WebDAVNamespace(self._session, options.no_clobber)

    def close(self) -> None:
        session, self._session, self._namespace = self._session, None, None
        if session is not None:
            session.close()

    @property
    def session(self) -> WebDAVSession:
        if self._session is None:
            raise RuntimeError("the https mover is not open")
        return self._session

    def remote_namespace(self, location: Location) -> Namespace:
        if self._namespace is None:
            raise RuntimeError("the https mover is not open")
        return self._namespace

    def translate_exception(self, exc: Exception) -> MoverError:
        return error_for_exception(exc, address="the server", endpoint="https")

    # -- copies ----------------------------------------------------------------------------

    def copy_file(self, request: CopyRequest) -> Copied:
        source, target = request.source, request.target
        if source.is_local == target.is_local:
            raise TransferFailed(
                "the https mover copies between this node and a server, not between two servers "
                f"({source.url} -> {target.url})",
                transient=False,
            )
        with self.session.interruptible.scope(request.clock):
            try:
                if target.is_local:
                    return self._download(request)
                return self._upload(request)
            except MoverError:
                request.clock.raise_if_cancelled()  # the cancel's reason, not the broken connection's
                raise

    def _verify_algorithm(self, request: CopyRequest) -> str:
        expected = request.expected_checksum
        return expected.algorithm if expected is not None else request.checksum_algorithm

    # -- download --------------------------------------------------------------------------

    def _download(self, request: CopyRequest) -> Copied:
        make_local_parent(request.target.path)
        with DownloadFile(request.target.path, request.algorithms) as out:
            resumed = self._receive(request, out)
            checksums = out.checksums()
        if resumed:
            log.info("%s: download complete after %d resumption(s) with Range", request.spec.name, resumed)
            with self._lock:
                self.resumptions += resumed
        compared = _compare(checksums, self._server_checksums(request.source, request), what=request.source.url)
        return Copied(out.written, checksums, verified=compared and request.expected_checksum is None)

    def _receive(self, request: CopyRequest, out: DownloadFile) -> int:
        """GET the source into ``out``, resuming with Range where a connection broke; returns how
        many times it resumed."""
        source, clock, name = request.source, request.clock, request.spec.name
        remote = _RemoteFile()
        resumed = 0
        while True:
            clock.raise_if_cancelled()
            try:
                response = self.session.request(
                    "GET",
                    source,
                    expected=(200, 206),
                    scope=Scope.SOURCE,
                    headers=remote.resume_headers(out.written),
                    stream=True,
                    file=name,
                )
                with response:
                    if not _continues(response, out.written):
                        if out.written:
                            log.info("%s: the server sends the whole file again", name)
                            out.restart()
                        remote.learn(response, clock)
                    for chunk in response.iter_content(self.options.block_size):
                        clock.raise_if_cancelled()
                        out.write(chunk)
                        clock.progress(out.written)
                if remote.size is None or out.written >= remote.size:
                    break
                failure: MoverError = ServiceUnavailable(
                    f"the connection ended after {out.written} of {remote.size} bytes", endpoint=source.server
                )
            except Exception as exc:  # noqa: BLE001 - decided here: resume, or fail the attempt
                clock.raise_if_cancelled()
                failure = error_for_exception(exc, address=source.netloc, endpoint=source.server, file=name)
                if not (failure.transient and out.written and remote.size is not None):
                    raise failure from None
            resumed += 1
            self._wait_to_resume(request, out.written, remote.size, failure, resumed)
        if remote.size is not None and out.written != remote.size:
            raise SizeMismatch(f"received {out.written} bytes, the server announced {remote.size}")
        return resumed

    def _wait_to_resume(
        self, request: CopyRequest, written: int, size: Optional[int], failure: MoverError, resumption: int
    ) -> None:
        """Wait (longer each time, cancellable) before resumption number ``resumption``, or fail
        the attempt when there have been enough."""
        allowed = self.options.resume_attempts
        if resumption > allowed:
            raise ServiceUnavailable(
                f"the download broke off after {written} bytes and could not be resumed "
                f"({allowed} resumptions): {failure.message}",
                endpoint=request.source.server,
            )
        delay = min(0.25 * 2 ** (resumption - 1), 5.0)
        log.info(
            "%s: the download broke off at %d of %s bytes (%s); resuming with Range in %.2f s (%d of %d)",
            request.spec.name,
            written,
            size,
            failure.message,
            delay,
            resumption,
            allowed,
        )
        request.clock.touch()
        if request.clock.cancelled.wait(delay):
            request.clock.raise_if_cancelled()

    def _server_checksums(self, location: Location, request: CopyRequest) -> dict[str, Checksum]:
        """The server's checksums of the file, asked after the transfer (HEAD with Want-Digest;
        not on the GET: XrdHttp 5.5 then computes the checksum before it checks the file exists
        and the caller may read it, and answers 500 for both). A server that cannot compute one
        (5xx, or no Digest) gives none: the copy keeps the checksums computed here."""
        if not self.options.server_checksums:
            return {}
        try:
            return self.session.digests(location, (self._verify_algorithm(request), *request.algorithms))
        except MoverError as exc:
            status = http_status(exc)
            if status is None or status < 500:
                raise
            log.info("%s: %s gives no checksum (%s)", request.spec.name, location.server, exc.message)
            return {}

    # -- upload ----------------------------------------------------------------------------

    def _upload(self, request: CopyRequest) -> Copied:
        source, target, clock = request.source, request.target, request.clock
        flags = os.O_RDONLY | (os.O_NOFOLLOW if request.spec.role is Role.OUTPUT else 0)
        try:
            descriptor = os.open(source.path, flags)
        except OSError as exc:
            raise from_oserror(exc, scope=Scope.SOURCE, what=source.path) from None
        with open(descriptor, "rb", buffering=0) as handle:
            size = os.fstat(handle.fileno()).st_size
            clock.set_size(size)
            try:
                body = self._put(handle, size, request)
            except MoverError as exc:
                if http_status(exc) != 409:  # 409 Conflict: the directory is missing
                    raise self._full_or(exc, request) from None
                self.session.make_parents(target)
                body = self._put(handle, size, request)
        if body.sent != size:
            raise SizeMismatch(f"{body.sent} of {size} bytes were sent", scope=Scope.SOURCE)
        checksums = body.digest.checksums()
        clock.touch()  # the server may take a while to checksum a large file
        server_sums = self._server_checksums(target, request)
        compared = _compare(checksums, server_sums, what=target.url, sent=True)
        return Copied(size, checksums, verified=compared and request.expected_checksum is None)

    def _full_or(self, error: MoverError, request: CopyRequest) -> MoverError:
        """A PUT whose connection the server closed with no answer at all may have met a full
        disk: XrdHttp 5.5 answers nothing then, not even 507. When the server still answers a
        PROPFIND of the directory and closes a 1-byte PUT there the same way, the disk is full
        (inferred, and said so); otherwise ``error`` stands."""
        if http_status(error) is not None or not error.transient or request.clock.cancelled.is_set():
            return error
        directory = request.target.parent
        probe = directory.join(f".pilot-movers-space-{secrets.token_hex(4)}.part")
        try:
            self.session.stat(directory)
        except MoverError:
            return error  # the server itself is gone: a retry may help
        try:
            response = self.session.request(
                "PUT", probe, expected=(200, 201, 204), scope=Scope.DESTINATION, data=b"\0", writing=True
            )
            response.close()
        except MoverError as refused:
            if isinstance(refused, NoSpace):
                return refused
            if http_status(refused) is None and refused.transient:
                return NoSpace(
                    f"{error.message}; the server answers for {directory.url} but closes even a 1-byte "
                    "upload there without a reply: its disk is full (XrdHttp says nothing else then)",
                    errno=errno.ENOSPC,
                )
            return error
        finally:
            try:
                self.session.delete(probe)
            except MoverError:
                pass
        return error

    def _put(self, handle: Any, size: int, request: CopyRequest) -> UploadBody:
        handle.seek(0)
        body = UploadBody(
            handle,
            size,
            algorithms=request.algorithms,
            clock=request.clock,
            label=request.source.path,
            block_size=self.options.block_size,
        )
        response = self.session.request(
            "PUT",
            request.target,
            expected=(200, 201, 204),
            scope=Scope.DESTINATION,
            headers={"Content-Type": "application/octet-stream"},
            data=body if size else b"",  # requests would send an empty stream chunked
            writing=True,
            file=request.spec.name,
        )
        response.close()
        return body


class _RemoteFile:
    """What a download knows of the file on the server: its size and validator, from the answer
    that started the transfer (a 200, or a 206 that did not continue where the copy stands)."""

    def __init__(self) -> None:
        self.size: Optional[int] = None
        self.validator: Optional[str] = None

    def learn(self, response: Any, clock: Any) -> None:
        self.size = _content_length(response)
        self.validator = response.headers.get("ETag") or response.headers.get("Last-Modified")
        if self.size is not None:
            clock.set_size(self.size)

    def resume_headers(self, written: int) -> dict[str, str]:
        """Range (and If-Range) for the rest of the file once ``written`` bytes are here. A closed
        range: XrdHttp 5.5 answers an open one (``bytes=N-``) with no bytes."""
        if not written or self.size is None:
            return {}
        headers = {"Range": f"bytes={written}-{self.size - 1}"}
        if self.validator:
            headers["If-Range"] = self.validator
        return headers


def _continues(response: Any, written: int) -> bool:
    """Is this answer the rest of the file from ``written`` on (206 with a matching range)?"""
    if response.status_code != 206 or not written:
        return False
    unit, _, rest = response.headers.get("Content-Range", "").partition(" ")
    try:
        return unit == "bytes" and int(rest.split("-", 1)[0]) == written
    except ValueError:
        return False


def _content_length(response: Any) -> Optional[int]:
    length = response.headers.get("Content-Length", "")
    return int(length) if length.isdigit() else None


def _compare(mine: tuple[Checksum, ...], server: dict[str, Checksum], *, what: str, sent: bool = False) -> bool:
    """Compare the checksums computed here with the server's; True when at least one algorithm
    was compared (and all matched). A mismatch: the copy differs (ChecksumsDiffer; the engine judges)."""
    compared = False
    for checksum in mine:
        theirs = server.get(checksum.algorithm)
        if theirs is None:
            continue
        if theirs != checksum:
            here = "were sent" if sent else "arrived"
            raise ChecksumsDiffer(
                f"the server has {checksum.algorithm} {theirs.value} for {what}, but bytes with "
                f"{checksum.value} {here}",
                algorithm=checksum.algorithm,
                source_differs=False,
            )
        compared = True
    return compared
