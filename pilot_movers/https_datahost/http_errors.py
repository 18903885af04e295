"""HTTP failures as the library's errors, for the https and datahost movers and the DataHost
client: network and TLS failures by exception type (and OpenSSL's reason code), answers by
status code. Never by message text.

A TLS failure is an authentication failure (never retried) only when the handshake was refused:
a certificate that did not verify, on either side, or an alert the peer sent about ours. A TLS
connection that merely broke (the server died mid-transfer: an unexpected EOF, a reset) is a
network failure like any other, and a retry can cure it.
"""

from __future__ import annotations

import ssl
from typing import Iterator, Optional

from pilot_movers.errors import (
    AuthenticationFailed,
    DestinationExists,
    DestinationNotWritable,
    MoverError,
    NoSpace,
    Scope,
    ServiceUnavailable,
    SourceNotFound,
    TransferFailed,
    TransferTimeout,
)

#: OpenSSL reason codes that mean "connection broke", not "credential refused".
_BROKEN_CONNECTION = ("UNEXPECTED_EOF", "EOF", "ZERO_RETURN", "BAD_RECORD_MAC", "DECRYPTION_FAILED", "SHUTDOWN")
#: ... and words in reason codes that mean a certificate was refused (TLSV1_ALERT_UNKNOWN_CA,
#: SSLV3_ALERT_BAD_CERTIFICATE, TLSV13_ALERT_CERTIFICATE_REQUIRED, CERTIFICATE_VERIFY_FAILED...).
_REFUSAL_WORDS = ("ALERT", "CERTIFICATE", "VERIFY", "HANDSHAKE_FAILURE", "NO_SHARED_CIPHER")


def causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception behind it: ``__cause__``, ``__context__``, and the wrapped
    reasons urllib3 and requests keep in ``reason`` and ``args``."""
    seen: set[int] = set()
    pending = [exc]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        inner = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        inner += [arg for arg in current.args if isinstance(arg, BaseException)]
        pending += [e for e in inner if isinstance(e, BaseException)]


def tls_refusal(exc: BaseException) -> Optional[ssl.SSLError]:
    """The TLS error behind ``exc`` when it is a refused handshake (see the module's doc)."""
    for cause in causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return cause
        if isinstance(cause, (ssl.SSLEOFError, ssl.SSLZeroReturnError, ssl.SSLSyscallError)):
            return None
        if isinstance(cause, ssl.SSLError):
            reason = str(getattr(cause, "reason", "") or "").upper()
            if any(word in reason for word in _BROKEN_CONNECTION):
                return None
            if any(word in reason for word in _REFUSAL_WORDS):
                return cause
    return None


def describe(exc: BaseException) -> str:
    """A one-line description of a network error, innermost reason first."""
    reason: BaseException = exc
    seen = set()
    while reason.__context__ is not None and id(reason) not in seen:
        seen.add(id(reason))
        reason = reason.__context__
    text = str(reason) or type(reason).__name__
    return text.splitlines()[0][:300] if text else type(exc).__name__


def error_for_exception(exc: BaseException, *, address: str, endpoint: str, file: Optional[str] = None) -> MoverError:
    """A requests (or urllib3, or socket) exception as a MoverError: a refused TLS handshake is
    AuthenticationFailed; a timeout or any other network failure ServiceUnavailable (a retry may
    help); a local I/O error TransferFailed."""
    import requests
    import urllib3

    if isinstance(exc, MoverError):
        return exc
    refusal = tls_refusal(exc)
    if refusal is not None:
        return AuthenticationFailed(
            f"the TLS handshake with {address} failed: {describe(refusal)} (is the CA directory the one that "
            "signed the server, and is the client certificate valid and known to its CA?)",
            file=file,
            endpoint=endpoint,
        )
    if isinstance(exc, requests.exceptions.Timeout):
        return ServiceUnavailable(f"{address} did not answer in time", file=file, endpoint=endpoint)
    if isinstance(exc, (requests.exceptions.RequestException, ConnectionError, TimeoutError, ssl.SSLError)):
        return ServiceUnavailable(f"cannot reach {address}: {describe(exc)}", file=file, endpoint=endpoint)
    if isinstance(exc, urllib3.exceptions.HTTPError):
        return ServiceUnavailable(f"the connection to {address} broke: {describe(exc)}", file=file, endpoint=endpoint)
    if isinstance(exc, OSError):
        return TransferFailed(f"talking to {address} failed: {exc}", file=file, endpoint=endpoint)
    return TransferFailed(f"{type(exc).__name__}: {exc}", file=file, endpoint=endpoint)


def error_for_status(
    status: int,
    *,
    what: str,
    endpoint: str,
    scope: Scope,
    detail: str = "",
    file: Optional[str] = None,
) -> MoverError:
    """An HTTP answer that is not a success as a MoverError, by status code only.

    ``what`` says what was asked (``PUT https://...``), ``scope`` which side of the transfer the
    URL is (a 404 is NOSUCHFILE for a source; a write refused at a destination is decided by the
    caller, who can tell a read-only destination from a refused credential); ``detail`` is the
    server's own words, for people.
    """
    words = f": {detail}" if detail else ""
    message = f"{what} answered HTTP {status}{words}"
    error: MoverError
    if status in (401, 403):
        error = AuthenticationFailed(message, file=file, endpoint=endpoint)
    elif status == 404 and scope is not Scope.DESTINATION:
        error = SourceNotFound(message, file=file, endpoint=endpoint)
    elif status == 412:
        error = DestinationExists(message, file=file, endpoint=endpoint)
    elif status == 507:
        error = NoSpace(message, file=file, endpoint=endpoint)
    elif status == 408:
        error = TransferTimeout(message, file=file, endpoint=endpoint)
    elif status in (423, 425, 429) or (status >= 500 and status != 501):
        error = ServiceUnavailable(message, file=file, endpoint=endpoint)
    else:
        error = TransferFailed(message, scope=scope, file=file, endpoint=endpoint)
    error.http_status = status
    return error


def http_status(error: MoverError) -> Optional[int]:
    """The HTTP status an error was made from (None: it was not an answer)."""
    status = getattr(error, "http_status", None)
    return status if isinstance(status, int) else None


def refused_write(status: int, *, what: str, endpoint: str, detail: str = "", file: Optional[str] = None) -> MoverError:
    """A write the destination refused (403) although our credential may read there: the
    destination is not writable to us, which is a destination error and not an authentication
    failure."""
    words = f": {detail}" if detail else ""
    error = DestinationNotWritable(f"{what} answered HTTP {status}{words}", file=file, endpoint=endpoint)
    error.http_status = status
    return error
