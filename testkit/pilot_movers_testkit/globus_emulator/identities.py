"""Auth's documents about identities: an identity as ``GET /v2/api/identities`` lists it, OIDC
userinfo, and token introspection (RFC 7662 plus Globus' fields), shaped after globus-sdk's
``testing/data/auth`` fixtures.
"""

from __future__ import annotations

import uuid
from typing import Any, Optional

from pilot_movers_testkit.globus_emulator.auth import AccessToken, Identity

GLOBUSID_PROVIDER = "41143743-f3c8-4d60-bbdb-eeecaba85bd9"
"""Globus ID's identity provider id (globus-sdk's ``get_identities`` fixture)."""
VIEW_IDENTITY_SET = "urn:globus:auth:scope:auth.globus.org:view_identity_set"


def identity_provider(identity: Identity) -> tuple[str, str]:
    """The id and display name of the provider an identity's username domain stands for."""
    domain = identity.username.rpartition("@")[2]
    if domain == "globusid.org":
        return GLOBUSID_PROVIDER, "Globus ID"
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, domain)), domain


def identity_document(identity: Identity) -> dict[str, Any]:
    """One entry of ``{"identities": [...]}``."""
    return {
        "id": identity.id,
        "username": identity.username,
        "name": None,
        "email": None,
        "identity_provider": identity_provider(identity)[0],
        "identity_type": "login",
        "organization": None,
        "status": "used",
    }


def userinfo_document(token: AccessToken) -> dict[str, Any]:
    """OIDC userinfo of the token's identity, with what its scopes allow (``profile``: names,
    ``email``, ``view_identity_set``: the identity set, here the identity alone)."""
    scopes = set(token.scope.split())
    identity = token.identity
    provider, provider_name = identity_provider(identity)
    document: dict[str, Any] = {
        "sub": identity.id,
        "identity_provider": provider,
        "identity_provider_display_name": provider_name,
        "organization": None,
        "last_authentication": None,
    }
    if "profile" in scopes:
        document.update(preferred_username=identity.username, name=None)
    if "email" in scopes:
        document["email"] = None
    if VIEW_IDENTITY_SET in scopes:
        document["identity_set"] = [
            {
                "sub": identity.id,
                "username": identity.username,
                "name": None,
                "email": None,
                "identity_provider": provider,
                "identity_provider_display_name": provider_name,
                "organization": None,
                "last_authentication": None,
            }
        ]
    return document


def introspection_document(token: Optional[AccessToken], include: str) -> dict[str, Any]:
    """``POST /v2/oauth2/token/introspect``: ``{"active": false}`` for an unknown or expired
    token; ``include=session_info`` adds the session, which a client identity's token (client
    credentials, no one logged in) has without authentications."""
    if token is None:
        return {"active": False}
    issued = int(token.issued_at)
    document: dict[str, Any] = {
        "active": True,
        "token_type": "Bearer",
        "scope": token.scope,
        "client_id": token.client_id,
        "username": token.identity.username,
        "name": None,
        "email": None,
        "exp": int(token.expires_at),
        "iat": issued,
        "nbf": issued,
        "sub": token.identity.id,
        "aud": [token.resource_server, token.client_id],
        "iss": "https://auth.globus.org",
        "identity_set": [token.identity.id],
    }
    if "session_info" in include.split(","):
        document["session_info"] = {"session_id": None, "authentications": {}}
    return document
