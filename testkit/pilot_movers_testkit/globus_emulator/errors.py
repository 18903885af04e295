"""The errors the emulated services answer with, carrying the real services' status and code.

Transfer errors become ``{"code", "message", "request_id", "resource"}`` (a ``TransferAPIError`` in
the SDK); Auth token-endpoint errors become RFC 6749 ``{"error": ...}`` bodies (an ``AuthAPIError``).
"""

from __future__ import annotations


class TransferError(Exception):
    """A Transfer API error: HTTP status, the service's error code, a message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class OAuthError(Exception):
    """An error of the Auth token endpoint (``invalid_client``, ``invalid_grant``, ...)."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(f"{status} {error}")
        self.status = status
        self.error = error


class AuthAPIError(Exception):
    """An error of Auth's API routes (userinfo, identities): rendered as the SDK's Auth fixtures
    show them, a JSON:API ``errors`` array plus OAuth's ``error``/``error_description``."""

    def __init__(self, status: int, code: str, detail: str, title: str) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.title = title


# Codes with a source (see docs/globus-emulator.md, "Rules kept"):
NO_CREDENTIALS = ("ClientError.AuthenticationFailed", "No credentials supplied")
TOKEN_NOT_ACTIVE = ("AuthenticationFailed", "Token is not active")
GCP_DISCONNECTED_MESSAGE = "The GCP endpoint is not currently connected to Globus"

# No public source found for the code of this refusal; kept in one place so it is easy to correct.
GCP_TO_GCP = (
    "PermissionDenied",
    "Transfers between two Globus Connect Personal endpoints require a Globus Plus subscription; "
    "both the source and the destination are personal endpoints",
)

# No public source found for the code of this refusal (the ACL documentation says only shared
# endpoints, guest collections and S3 endpoints have an ACL); kept here so it is easy to correct.
NO_ACCESS_LIST = (
    "ClientError.BadRequest",
    "Endpoint {name} ({id}) has no access control list: only shared endpoints (guest collections) "
    "and S3 endpoints have one",
)


def not_found(what: str) -> TransferError:
    return TransferError(404, "ClientError.NotFound", what)


def bad_request(message: str, code: str = "ClientError.BadRequest") -> TransferError:
    return TransferError(400, code, message)


def permission_denied(message: str) -> TransferError:
    return TransferError(403, "PermissionDenied", message)
