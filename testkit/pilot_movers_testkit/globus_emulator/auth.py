"""Globus Auth as the emulator keeps it: identities, registered clients, refresh tokens, and the
access tokens issued from them, which expire.

Secrets and tokens are compared in constant time and never logged or shown by ``repr``.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Optional

from pilot_movers_testkit.globus_emulator.errors import NO_CREDENTIALS, TOKEN_NOT_ACTIVE, OAuthError, TransferError

TRANSFER_RESOURCE_SERVER = "transfer.api.globus.org"
TRANSFER_SCOPE = "urn:globus:auth:scope:transfer.api.globus.org:all"
AUTH_RESOURCE_SERVER = "auth.globus.org"
AUTH_SCOPES = ("openid", "profile", "email", "urn:globus:auth:scope:auth.globus.org:view_identity_set")
"""What Auth itself serves (userinfo, identities, ``globus whoami``): the CLI's ``auth`` login."""
CLIENT_USERNAME_DOMAIN = "clients.auth.globus.org"


@dataclass(frozen=True)
class Identity:
    """A Globus Auth identity: a user (``mxp@globusid.org``) or a client's own identity."""

    id: str
    username: str

    @property
    def short_name(self) -> str:
        """The part of the username before ``@``: what canonical names (``mxp#EP``) start with."""
        return self.username.split("@", 1)[0]


@dataclass
class Client:
    """A registered OAuth client; ``secret`` is None for a native (public) client."""

    client_id: str
    secret: Optional[str] = field(repr=False)
    identity: Identity


@dataclass
class RefreshToken:
    """A refresh token issued to ``client_id`` on behalf of ``identity``."""

    token: str = field(repr=False)
    client_id: str
    identity: Identity
    scope: str = TRANSFER_SCOPE
    rotate: bool = False
    expires_at: Optional[float] = None
    revoked: bool = False
    successor: Optional[str] = field(default=None, repr=False)
    """The token that replaced this one when it was rotated."""


@dataclass
class AccessToken:
    token: str = field(repr=False)
    identity: Identity
    resource_server: str
    scope: str
    expires_at: float
    client_id: str
    """The client the token was issued to."""
    issued_at: float = field(default_factory=time.time)


def _same(a: Optional[str], b: Optional[str]) -> bool:
    return a is not None and b is not None and hmac.compare_digest(a.encode(), b.encode())


class TokenStore:
    """Clients, refresh tokens and access tokens; safe to use from many threads."""

    def __init__(self, access_token_lifetime: float = 3600.0) -> None:
        self.access_token_lifetime = access_token_lifetime
        self._lock = threading.Lock()
        self._clients: dict[str, Client] = {}
        self._refresh: dict[str, RefreshToken] = {}
        self._access: dict[str, AccessToken] = {}
        self._users: dict[str, Identity] = {}
        self._issued: list[str] = []

    def issued_secrets(self) -> list[str]:
        """Every client secret, refresh token and access token made or registered so far, for
        tests and rehearsals that scan logs and reports for leaked secrets."""
        with self._lock:
            return list(self._issued)

    # -- registration (the emulator's admin side) -------------------------------------------

    def user(self, username: str) -> Identity:
        """The identity of ``username`` (``mxp`` means ``mxp@globusid.org``), made on first use."""
        if "@" not in username:
            username = f"{username}@globusid.org"
        with self._lock:
            identity = self._users.get(username)
            if identity is None:
                identity = Identity(str(uuid.uuid5(uuid.NAMESPACE_URL, f"globus-emulator:{username}")), username)
                self._users[username] = identity
            return identity

    def register_client(
        self, client_id: Optional[str] = None, secret: Optional[str] = None, *, native: bool = False
    ) -> Client:
        """A confidential client (a secret is made when none is given), or a native one."""
        client_id = client_id or str(uuid.uuid4())
        if not native and secret is None:
            secret = secrets.token_urlsafe(32)
        client = Client(
            client_id, None if native else secret, Identity(client_id, f"{client_id}@{CLIENT_USERNAME_DOMAIN}")
        )
        with self._lock:
            self._clients[client_id] = client
            if secret:
                self._issued.append(secret)
        return client

    def client(self, client_id: str) -> Optional[Client]:
        with self._lock:
            return self._clients.get(client_id)

    def register_refresh_token(
        self,
        client_id: str,
        username: str,
        *,
        token: Optional[str] = None,
        rotate: bool = False,
        lifetime: Optional[float] = None,
    ) -> str:
        """A refresh token for ``username``, usable by ``client_id``; rotated on each use if asked."""
        if self.client(client_id) is None:
            raise KeyError(f"no client {client_id} is registered")
        record = RefreshToken(
            token or secrets.token_urlsafe(48),
            client_id,
            self.user(username),
            rotate=rotate,
            expires_at=time.time() + lifetime if lifetime is not None else None,
        )
        with self._lock:
            self._refresh[record.token] = record
            self._issued.append(record.token)
        return record.token

    def revoke_refresh_token(self, token: str) -> bool:
        """Revoke a refresh token (access tokens already issued from it live until they expire, as
        at Globus). Returns whether the token was known."""
        with self._lock:
            record = self._refresh.get(token)
            if record is None:
                return False
            record.revoked = True
            return True

    def current_refresh_token(self, original: str) -> Optional[str]:
        """The token that replaced ``original`` through rotation (for tests), or ``original``."""
        with self._lock:
            record = self._refresh.get(original)
            while record is not None and record.successor is not None:
                record = self._refresh.get(record.successor)
            return record.token if record is not None else None

    # -- the token endpoint ------------------------------------------------------------------

    def authenticate_client(self, client_id: Optional[str], secret: Optional[str]) -> Client:
        """The client the request speaks for: Basic credentials, or a native client's id alone."""
        client = self.client(client_id) if client_id else None
        if client is None:
            raise OAuthError(401, "invalid_client")
        if client.secret is None:
            if secret:
                raise OAuthError(401, "invalid_client")
            return client
        if not _same(client.secret, secret):
            raise OAuthError(401, "invalid_client")
        return client

    def client_credentials_grant(self, client: Client, scope: Optional[str]) -> dict[str, Any]:
        """One token per resource server asked for: the first in the response's top level, the
        others in ``other_tokens`` (as Globus Auth answers a multi-service scope string)."""
        if client.secret is None:
            raise OAuthError(401, "invalid_client")
        grants = _granted_scopes(scope)
        first, *others = (self._token_response(client, client.identity, rs, granted) for rs, granted in grants)
        first["other_tokens"] = others
        return first

    def refresh_token_grant(self, client: Client, token: Optional[str]) -> dict[str, Any]:
        with self._lock:
            record = self._refresh.get(token or "")
            usable = (
                record is not None
                and not record.revoked
                and record.client_id == client.client_id
                and (record.expires_at is None or record.expires_at > time.time())
            )
            if not usable or record is None:
                raise OAuthError(400, "invalid_grant")
            next_token = record.token
            if record.rotate:
                successor = RefreshToken(
                    secrets.token_urlsafe(48),
                    record.client_id,
                    record.identity,
                    record.scope,
                    rotate=True,
                    expires_at=record.expires_at,
                )
                self._refresh[successor.token] = successor
                self._issued.append(successor.token)
                record.revoked = True
                record.successor = successor.token
                next_token = successor.token
        response = self._token_response(client, record.identity, TRANSFER_RESOURCE_SERVER, record.scope)
        response["refresh_token"] = next_token
        return response

    def _token_response(self, client: Client, identity: Identity, resource_server: str, scope: str) -> dict[str, Any]:
        token = AccessToken(
            secrets.token_urlsafe(32),
            identity,
            resource_server,
            scope,
            time.time() + self.access_token_lifetime,
            client.client_id,
        )
        with self._lock:
            self._access[token.token] = token
            self._issued.append(token.token)
            self._forget_expired_access_tokens()
        return {
            "access_token": token.token,
            "scope": scope,
            "expires_in": int(self.access_token_lifetime),
            "token_type": "Bearer",
            "resource_server": resource_server,
            "state": "_default",
            "other_tokens": [],
        }

    def _forget_expired_access_tokens(self) -> None:
        cutoff = time.time() - 3600
        for key in [k for k, t in self._access.items() if t.expires_at < cutoff]:
            del self._access[key]

    # -- the resource server's side ----------------------------------------------------------

    def identity_for(self, authorization: Optional[str]) -> Identity:
        """Who a Transfer request comes from, by its ``Authorization: Bearer`` header."""
        token = _bearer(authorization)
        if token is None:
            raise TransferError(401, *NO_CREDENTIALS)
        record = self.active_token(token, TRANSFER_RESOURCE_SERVER)
        if record is None:
            raise TransferError(401, *TOKEN_NOT_ACTIVE)
        return record.identity

    def auth_token_for(self, authorization: Optional[str]) -> Optional[AccessToken]:
        """The active Auth token of an Auth API request's ``Authorization: Bearer`` header."""
        token = _bearer(authorization)
        return self.active_token(token, AUTH_RESOURCE_SERVER) if token is not None else None

    def active_token(self, token: str, resource_server: Optional[str] = None) -> Optional[AccessToken]:
        """The record of an access token that has not expired (for ``resource_server``, if given)."""
        with self._lock:
            record = self._access.get(token)
        if record is None or record.expires_at <= time.time():
            return None
        if resource_server is not None and record.resource_server != resource_server:
            return None
        return record

    def identities(self) -> list[Identity]:
        """Every identity Auth knows: the users and the clients' own identities."""
        with self._lock:
            return list(self._users.values()) + [client.identity for client in self._clients.values()]

    def expire_access_tokens(self) -> None:
        """Make every access token issued so far expire now (for tests of the refresh path)."""
        with self._lock:
            for token in self._access.values():
                token.expires_at = min(token.expires_at, time.time() - 1)


def _bearer(authorization: Optional[str]) -> Optional[str]:
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _granted_scopes(requested: Optional[str]) -> list[tuple[str, str]]:
    """``(resource server, scope string)`` for each service a scope string asks for, in order:
    the Transfer scope (whatever dependent scopes ride along with it) and Auth's own scopes."""
    if not requested:
        return [(TRANSFER_RESOURCE_SERVER, TRANSFER_SCOPE)]
    transfer, auth = False, []
    for scope in _top_level_scopes(requested):
        if TRANSFER_RESOURCE_SERVER in scope:
            transfer = True
        elif scope in AUTH_SCOPES:
            auth.append(scope)
        else:
            raise OAuthError(400, "invalid_scope")
    grants = [(TRANSFER_RESOURCE_SERVER, TRANSFER_SCOPE)] if transfer else []
    if auth:
        grants.append((AUTH_RESOURCE_SERVER, " ".join(dict.fromkeys(auth))))
    if not grants:
        raise OAuthError(400, "invalid_scope")
    return grants


def _top_level_scopes(requested: str) -> list[str]:
    """The space-separated scopes of a scope string, each without its ``[dependent scopes]``."""
    scopes, depth, current = [], 0, ""
    for char in requested:
        depth += (char == "[") - (char == "]")
        if char == " " and depth == 0:
            scopes.append(current)
            current = ""
        elif depth == 0 and char not in "[]":
            current += char
    scopes.append(current)
    return [scope for scope in scopes if scope]
