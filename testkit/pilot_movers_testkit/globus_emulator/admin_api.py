"""The emulator's own admin API under ``/_emulator``: register clients, refresh tokens and
endpoints, change settings, inject faults, and the link the stand-in ``globusconnectpersonal``
keeps. No Globus token is needed; only loopback clients are answered.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from pilot_movers_testkit.globus_emulator.errors import TransferError
from pilot_movers_testkit.globus_emulator.faults import Fault
from pilot_movers_testkit.globus_emulator.service import Emulator

blueprint = Blueprint("globus_emulator_admin", __name__, url_prefix="/_emulator")

SETTINGS = ("access_token_lifetime", "gcp_heartbeat_timeout", "successful_transfers_page_size")
RUNNER_SETTINGS = ("file_retries", "retry_delay", "event_interval")


def _emulator() -> Emulator:
    emulator: Emulator = current_app.config["EMULATOR"]
    return emulator


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ValueError("the request body must be a JSON object")
    return body


@blueprint.before_request
def _loopback_only() -> None:
    address = (request.remote_addr or "").split("%", 1)[0]
    try:
        loopback = ipaddress.ip_address(address).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise TransferError(403, "Forbidden", "The emulator's admin API answers loopback clients only")


@blueprint.errorhandler(ValueError)
@blueprint.errorhandler(KeyError)
@blueprint.errorhandler(TypeError)
def _bad_request(error: Exception) -> tuple[Response, int]:
    return jsonify({"code": "BadRequest", "message": str(error)}), 400


@blueprint.get("/health")
def health() -> Response:
    return jsonify({"ok": True})


@blueprint.get("/state")
def state() -> Response:
    """What the emulator holds (no secret or token is shown)."""
    emulator = _emulator()
    endpoints = [
        {
            "id": e.id,
            "display_name": e.display_name,
            "canonical_name": e.canonical_name,
            "owner": e.owner.username,
            "directory": str(e.root) if e.root is not None else None,
            "is_globus_connect": e.is_globus_connect,
            "set_up": e.is_globus_connect and e.setup_key is None,
            "connected": emulator.connected(e),
        }
        for e in emulator.endpoints.all()
    ]
    tasks = [{"task_id": t.task_id, "type": t.type, "status": t.status, "label": t.label} for t in emulator.tasks.all()]
    settings = {name: getattr(emulator.settings, name) for name in SETTINGS}
    settings.update({name: getattr(emulator.settings.runner, name) for name in RUNNER_SETTINGS})
    return jsonify(
        {
            "settings": settings,
            "endpoints": endpoints,
            "tasks": tasks,
            "faults": [f.to_dict() for f in emulator.faults.all()],
        }
    )


@blueprint.put("/settings")
def change_settings() -> Response:
    emulator = _emulator()
    for name, value in _body().items():
        if name == "access_token_lifetime":
            emulator.access_token_lifetime = float(value)
        elif name == "gcp_heartbeat_timeout":
            emulator.gcp_heartbeat_timeout = float(value)
        elif name == "successful_transfers_page_size":
            emulator.settings.successful_transfers_page_size = max(1, int(value))
        elif name in RUNNER_SETTINGS:
            setattr(emulator.settings.runner, name, type(getattr(emulator.settings.runner, name))(value))
        else:
            raise ValueError(f"unknown setting {name!r}; known: {', '.join(SETTINGS + RUNNER_SETTINGS)}")
    return state()


@blueprint.post("/clients")
def register_client() -> tuple[Response, int]:
    body = _body()
    client = _emulator().register_client(
        body.get("client_id"), body.get("client_secret"), native=bool(body.get("native"))
    )
    return jsonify({"client_id": client.client_id, "client_secret": client.secret}), 201


@blueprint.post("/refresh_tokens")
def register_refresh_token() -> tuple[Response, int]:
    body = _body()
    token = _emulator().register_refresh_token(
        body["client_id"],
        body.get("username", "mxp"),
        token=body.get("refresh_token"),
        rotate=bool(body.get("rotate")),
        lifetime=float(body["lifetime"]) if body.get("lifetime") is not None else None,
    )
    return jsonify({"refresh_token": token}), 201


@blueprint.post("/refresh_tokens/revoke")
def revoke_refresh_token() -> Response:
    return jsonify({"revoked": _emulator().revoke_refresh_token(_body()["refresh_token"])})


@blueprint.post("/access_tokens/expire")
def expire_access_tokens() -> Response:
    _emulator().tokens.expire_access_tokens()
    return jsonify({"expired": True})


@blueprint.post("/endpoints")
def add_endpoint() -> tuple[Response, int]:
    body = _body()
    endpoint = _emulator().add_endpoint(
        body["name"],
        body["directory"],
        endpoint_id=body.get("id"),
        owner=body.get("owner"),
        description=body.get("description"),
    )
    return jsonify(
        {"id": endpoint.id, "display_name": endpoint.display_name, "canonical_name": endpoint.canonical_name}
    ), 201


@blueprint.get("/faults")
def list_faults() -> Response:
    return jsonify({"faults": [f.to_dict() for f in _emulator().faults.all()]})


@blueprint.post("/faults")
def add_fault() -> tuple[Response, int]:
    body = dict(_body())
    kind = body.pop("kind")
    fault: Fault = _emulator().inject(kind, **body)
    return jsonify(fault.to_dict()), 201


@blueprint.delete("/faults/<int:fault_id>")
def remove_fault(fault_id: int) -> tuple[Response, int]:
    removed = _emulator().remove_fault(fault_id)
    return jsonify({"removed": removed}), 200 if removed else 404


@blueprint.delete("/faults")
def clear_faults() -> Response:
    _emulator().clear_faults()
    return jsonify({"removed": True})


# -- the stand-in globusconnectpersonal ----------------------------------------------------------


@blueprint.post("/gcp/setup")
def gcp_setup() -> Response:
    return jsonify(_emulator().gcp_setup(str(_body().get("setup_key", ""))))


@blueprint.post("/gcp/heartbeat")
def gcp_heartbeat() -> Response:
    body = _body()
    rules = [(str(path), bool(writable)) for path, writable in body.get("restrict_paths", [])]
    reply = _emulator().gcp_heartbeat(
        str(body["endpoint_id"]), str(body.get("credential", "")), home=str(body.get("home", "/")), restrict_paths=rules
    )
    return jsonify(reply)


@blueprint.post("/gcp/disconnect")
def gcp_disconnect() -> Response:
    body = _body()
    _emulator().gcp_disconnect(str(body["endpoint_id"]), str(body.get("credential", "")))
    return jsonify({"connected": False})
