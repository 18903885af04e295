"""Globus Auth's token endpoint: ``POST /v2/oauth2/token`` with the ``client_credentials`` and
``refresh_token`` grants, client authentication by HTTP Basic (or ``client_id`` for native apps).
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request

from pilot_movers_testkit.globus_emulator.errors import OAuthError
from pilot_movers_testkit.globus_emulator.service import Emulator

blueprint = Blueprint("globus_auth", __name__)


def _emulator() -> Emulator:
    emulator: Emulator = current_app.config["EMULATOR"]
    return emulator


@blueprint.errorhandler(OAuthError)
def _oauth_error(error: OAuthError) -> tuple[Response, int, dict[str, str]]:
    headers = {"WWW-Authenticate": 'Basic realm="Globus Auth"'} if error.status == 401 else {}
    return jsonify({"error": error.error}), error.status, headers


@blueprint.post("/v2/oauth2/token")
def token() -> Response:
    tokens = _emulator().tokens
    basic = request.authorization
    if basic is not None and basic.type == "basic":
        client = tokens.authenticate_client(basic.username, basic.password)
    else:
        client = tokens.authenticate_client(request.form.get("client_id"), None)
    grant = request.form.get("grant_type")
    if grant == "client_credentials":
        body = tokens.client_credentials_grant(client, request.form.get("scope"))
    elif grant == "refresh_token":
        body = tokens.refresh_token_grant(client, request.form.get("refresh_token"))
    else:
        raise OAuthError(400, "unsupported_grant_type")
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response
