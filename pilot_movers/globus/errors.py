"""globus-sdk exceptions, task events and fatal errors -> MoverError, by HTTP status and the
service's error and event codes (never by message text).

No token, secret or setup key is ever part of a message: the SDK's errors carry none, and the
messages built here name clients by id only.
"""

from __future__ import annotations

from typing import Any, Optional

import globus_sdk

from pilot_movers.errors import (
    AuthenticationFailed,
    ChecksumsDiffer,
    CredentialRefused,
    DestinationNotWritable,
    GlobusSystemError,
    MoverError,
    NoSpace,
    Scope,
    SourceNotFound,
    TransferCancelled,
    TransferFailed,
    TransferTimeout,
    UnknownEndpoint,
)

#: Task event codes of a file that is not where it should be, or cannot be read as a file.
_NOT_FOUND = ("FILE_NOT_FOUND", "IS_A_DIRECTORY", "NOT_A_DIRECTORY")
#: Task event codes that say an endpoint or the service could not be reached: retried.
_UNREACHABLE = ("CONNECT_FAILED", "GC_NOT_CONNECTED", "ENDPOINT_ERROR", "NETWORK_FAILED", "TIMEOUT", "GC_PAUSED")


def oauth_error_name(exc: globus_sdk.GlobusAPIError) -> str:
    """The RFC 6749 ``error`` of a token endpoint answer (``invalid_grant``, ``invalid_client``)."""
    body = exc.raw_json if isinstance(exc.raw_json, dict) else {}
    return str(body.get("error") or exc.code or "").lower()


def from_auth_error(exc: globus_sdk.GlobusAPIError, *, client_id: str, grant: str, source: str) -> MoverError:
    """A refused token request: a permanent credential error saying what to do."""
    name = oauth_error_name(exc)
    where = f" (from {source})" if source else ""
    if name == "invalid_grant" and grant == "refresh_token":
        return CredentialRefused(
            f"Globus Auth refused the refresh token of client {client_id}{where} (invalid_grant: it expired, "
            "was revoked or was rotated away): re-authorise the user and give the pilot a new refresh token"
        )
    if name in ("invalid_client", "unauthorized_client") or exc.http_status == 401:
        return CredentialRefused(
            f"Globus Auth refused OAuth2 client {client_id}{where} ({name or exc.http_status}): "
            "check the client id and secret"
        )
    if exc.http_status >= 500 or exc.http_status == 429:
        return GlobusSystemError(f"Globus Auth answered {exc.http_status} to the token request of client {client_id}")
    return CredentialRefused(
        f"Globus Auth refused the token request of client {client_id}{where} ({name or exc.http_status})"
    )


def from_sdk_error(exc: Exception, *, what: str, scope: Optional[Scope] = None) -> MoverError:
    """Any exception a globus-sdk call raised, for the operation ``what`` names."""
    if isinstance(exc, MoverError):
        return exc
    if isinstance(exc, globus_sdk.NetworkError):
        return GlobusSystemError(f"{what}: cannot reach the Globus service: {type(exc).__name__}")
    if isinstance(exc, globus_sdk.TransferAPIError):
        return from_transfer_error(exc, what=what, scope=scope)
    if isinstance(exc, globus_sdk.GlobusAPIError):
        if exc.http_status == 401:
            return CredentialRefused(f"{what}: Globus refused the job's token ({exc.http_status} {exc.code})")
        return GlobusSystemError(f"{what}: {exc.http_status} {exc.code}: {exc.message}")
    return GlobusSystemError(f"{what}: {type(exc).__name__}: {exc}")


def from_transfer_error(exc: globus_sdk.TransferAPIError, *, what: str, scope: Optional[Scope] = None) -> MoverError:
    """A Transfer API error document ``{code, message}`` with its HTTP status."""
    status, code = exc.http_status, str(exc.code or "")
    reason = f"{what}: {code or status}: {_first_line(exc.message or '')}"
    if code == "EndpointNotFound":
        return UnknownEndpoint(reason)
    if status == 401:
        return CredentialRefused(reason)
    if status == 403 or "PermissionDenied" in code:
        if scope is Scope.DESTINATION and code == "EndpointPermissionDenied":
            return DestinationNotWritable(reason)
        return AuthenticationFailed(reason, scope=scope)
    if status == 404 or code.startswith("ClientError.NotFound"):
        return (
            SourceNotFound(reason, scope=scope)
            if scope is not Scope.DESTINATION
            else TransferFailed(reason, scope=scope)
        )
    if status == 429 or status >= 500 or code.startswith("ExternalError"):
        return GlobusSystemError(reason, scope=scope)
    return TransferFailed(reason, scope=scope)


def from_event(event: dict[str, Any], *, algorithm: str, scope: Scope) -> MoverError:
    """An error event of a task about one file (``scope``: whose path the event names)."""
    code = str(event.get("code") or "")
    details = event_summary(str(event.get("details") or event.get("description") or ""))
    reason = f"Globus {code}: {details}" if details else f"Globus {code}"
    if code in _NOT_FOUND:
        if scope is Scope.SOURCE:
            return SourceNotFound(reason)
        return TransferFailed(reason, scope=scope)
    if code == "PERMISSION_DENIED":
        if scope is Scope.DESTINATION:  # as on every transport: not an authentication failure
            return DestinationNotWritable(reason)
        return AuthenticationFailed(reason, scope=scope)
    if code in {"QUOTA_EXCEEDED", "NO_SPACE_LEFT"}:
        return NoSpace(reason)
    if code == "CHECKSUM_MISMATCH":
        # The service's details say when it is the source that lacks the expected checksum.
        source_wrong = "source file" in details.lower() and "expected" in details.lower()
        return ChecksumsDiffer(reason, algorithm=algorithm, source_differs=True if source_wrong else None)
    return from_fatal({"code": code, "description": details})


def from_fatal(fatal: Optional[dict[str, Any]]) -> MoverError:
    """A task's ``fatal_error`` (or one that names no file), for the files it did not move."""
    fatal = fatal or {}
    code = str(fatal.get("code") or "UNKNOWN")
    description = str(fatal.get("description") or "").strip()
    reason = f"the Globus task failed: {code}" + (f" ({description})" if description else "")
    if code == "CANCELED":
        return TransferCancelled(reason)
    if code in ("EXPIRED", "DEADLINE_EXCEEDED"):
        return TransferTimeout(reason)
    if code in _UNREACHABLE:
        return GlobusSystemError(reason)
    if code == "PERMISSION_DENIED":
        return AuthenticationFailed(reason)
    if code in _NOT_FOUND:
        return SourceNotFound(reason)
    if code in {"QUOTA_EXCEEDED", "NO_SPACE_LEFT"}:
        return NoSpace(reason)
    if code == "CHECKSUM_MISMATCH":
        return ChecksumsDiffer(reason)
    return GlobusSystemError(reason)


def event_fields(details: str) -> dict[str, str]:
    """``Key: value`` lines of an event's details (``File``, ``Endpoint``, ``Message`` ...)."""
    fields: dict[str, str] = {}
    for line in details.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and " " not in key.strip():
            fields.setdefault(key.strip(), value.strip())
    return fields


def event_summary(details: str) -> str:
    """One line of an event's details: its message, then the file and the endpoint."""
    fields = event_fields(details)
    if "Message" not in fields:
        return _first_line(details)
    where = ", ".join(f"{key.lower()} {fields[key]}" for key in ("File", "Endpoint") if key in fields)
    return fields["Message"] + (f" ({where})" if where else "")


def _first_line(text: str) -> str:
    """The service's messages span lines (``Error (RETR)``, ``Endpoint: ...``, ``File: ...``)."""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else ""
