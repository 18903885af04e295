"""Globus Auth as the CLI and the SDK call it: the token endpoint (``client_credentials`` and
``refresh_token`` grants, client authentication by HTTP Basic or ``client_id`` for native apps),
token introspection, OIDC userinfo and identity lookups.
"""

from __future__ import annotations

import uuid

from flask import Blueprint, Response, current_app, jsonify, request

from pilot_movers_testkit.globus_emulator.auth import AccessToken, Client
from pilot_movers_testkit.globus_emulator.errors import AuthAPIError, OAuthError
from pilot_movers_testkit.globus_emulator.identities import identity_document, introspection_document, userinfo_document
from pilot_movers_testkit.globus_emulator.service import Emulator

blueprint = Blueprint("globus_auth", __name__)


def _emulator() -> Emulator:
    emulator: Emulator = current_app.config["EMULATOR"]
    return emulator


@blueprint.errorhandler(OAuthError)
def _oauth_error(error: OAuthError) -> tuple[Response, int, dict[str, str]]:
    headers = {"WWW-Authenticate": 'Basic realm="Globus Auth"'} if error.status == 401 else {}
    return jsonify({"error": error.error}), error.status, headers


@blueprint.errorhandler(AuthAPIError)
def _auth_api_error(error: AuthAPIError) -> tuple[Response, int]:
    body = {
        "errors": [
            {
                "status": str(error.status),
                "id": str(uuid.uuid1()),
                "code": error.code,
                "detail": error.detail,
                "title": error.title,
            }
        ],
        "error_description": error.title,
        "error": error.title.lower().replace(" ", "_"),
    }
    return jsonify(body), error.status


def _calling_client() -> Client:
    """The client a token-endpoint request speaks for: Basic credentials, or a native client's
    id alone."""
    tokens = _emulator().tokens
    basic = request.authorization
    if basic is not None and basic.type == "basic":
        return tokens.authenticate_client(basic.username, basic.password)
    return tokens.authenticate_client(request.form.get("client_id"), None)


def _auth_token() -> AccessToken:
    """The caller's Auth token (the ``auth.globus.org`` one), or Auth's 401."""
    token = _emulator().tokens.auth_token_for(request.headers.get("Authorization"))
    if token is None:
        raise AuthAPIError(401, "UNAUTHORIZED", "Call must be authenticated", "Unauthorized")
    return token


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.post("/v2/oauth2/token")
def token() -> Response:
    tokens = _emulator().tokens
    client = _calling_client()
    grant = request.form.get("grant_type")
    if grant == "client_credentials":
        body = tokens.client_credentials_grant(client, request.form.get("scope"))
    elif grant == "refresh_token":
        body = tokens.refresh_token_grant(client, request.form.get("refresh_token"))
    else:
        raise OAuthError(400, "unsupported_grant_type")
    return _no_store(jsonify(body))


@blueprint.post("/v2/oauth2/token/introspect")
def introspect() -> Response:
    """What ``globus session show`` asks (``include=session_info``); any registered client may
    introspect a token."""
    _calling_client()
    record = _emulator().tokens.active_token(request.form.get("token") or "")
    return _no_store(jsonify(introspection_document(record, request.form.get("include") or "")))


@blueprint.get("/v2/oauth2/userinfo")
def userinfo() -> Response:
    """OIDC userinfo (``globus whoami``): needs an Auth token with the ``openid`` scope."""
    token = _auth_token()
    if "openid" not in token.scope.split():
        raise AuthAPIError(403, "FORBIDDEN", "The openid scope is required", "Forbidden")
    return jsonify(userinfo_document(token))


@blueprint.get("/v2/api/identities")
def identities() -> Response:
    """Identities by ``ids`` or ``usernames`` (comma-separated, not both); unknown ones are left
    out, unless ``provision`` makes a Globus ID user of an unknown ``...@globusid.org``."""
    _auth_token()
    ids, usernames = request.args.get("ids"), request.args.get("usernames")
    if ids and usernames:
        raise AuthAPIError(400, "INVALID_PARAMETERS", "ids and usernames are mutually exclusive", "Bad Request")
    tokens = _emulator().tokens
    known = tokens.identities()
    found = []
    if ids:
        by_id = {identity.id: identity for identity in known}
        found = [by_id[i] for i in _listed(ids) if i in by_id]
    elif usernames:
        by_name = {identity.username: identity for identity in known}
        provision = (request.args.get("provision") or "").lower() == "true"
        for name in _listed(usernames):
            if name in by_name:
                found.append(by_name[name])
            elif provision and name.endswith("@globusid.org"):
                found.append(tokens.user(name))
    return jsonify({"identities": [identity_document(identity) for identity in found]})


def _listed(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]
