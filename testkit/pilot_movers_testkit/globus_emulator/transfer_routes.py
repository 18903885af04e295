"""What the Transfer API v0.10 route modules share: a blueprint whose every route needs a valid
bearer token, the caller's identity, and the parsing of query arguments and JSON bodies."""

from __future__ import annotations

import uuid
from typing import Any, Optional

from flask import Blueprint, Response, current_app, g, jsonify, request

from pilot_movers_testkit.globus_emulator.auth import Identity
from pilot_movers_testkit.globus_emulator.errors import bad_request
from pilot_movers_testkit.globus_emulator.service import Emulator


def transfer_blueprint(name: str) -> Blueprint:
    """A blueprint under ``/v0.10`` that authenticates each request's bearer token first."""
    blueprint = Blueprint(name, __name__, url_prefix="/v0.10")

    @blueprint.before_request
    def _authenticate() -> None:
        g.identity = emulator().tokens.identity_for(request.headers.get("Authorization"))

    return blueprint


def emulator() -> Emulator:
    found: Emulator = current_app.config["EMULATOR"]
    return found


def caller() -> Identity:
    identity: Identity = g.identity
    return identity


def result(body: dict[str, Any], status: int = 200) -> tuple[Response, int]:
    """A result document with the ``request_id`` and ``resource`` the service adds."""
    body.setdefault("request_id", uuid.uuid4().hex[:9])
    body.setdefault("resource", request.path)
    return jsonify(body), status


def flag(name: str, default: bool) -> bool:
    value = request.args.get(name)
    if value is None:
        return default
    return value.strip().lower() in ("1", "true", "yes")


def int_arg(name: str, default: int, maximum: Optional[int] = None) -> int:
    value = request.args.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise bad_request(f"Invalid {name}: {value!r}") from None
    if number < 0 or (maximum is not None and number > maximum):
        raise bad_request(f"{name} must be between 0 and {maximum}")
    return number


def json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object", code="ClientError.BadRequest.InvalidJSON")
    return body
