"""The Flask application: Auth, Transfer and admin routes over one ``Emulator``, with errors
rendered as the real services render theirs.
"""

from __future__ import annotations

import time
import uuid
from typing import Optional

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from pilot_movers_testkit.globus_emulator import admin_api, auth_api, bookmark_api, endpoint_api, transfer_api
from pilot_movers_testkit.globus_emulator.errors import TransferError
from pilot_movers_testkit.globus_emulator.faults import FaultKind, Target
from pilot_movers_testkit.globus_emulator.service import Emulator


def create_app(emulator: Optional[Emulator] = None) -> Flask:
    """A WSGI app serving both ``GLOBUS_SDK_SERVICE_URL_AUTH`` and ``..._TRANSFER``."""
    app = Flask(__name__)
    app.config["EMULATOR"] = emulator or Emulator()
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.register_blueprint(auth_api.blueprint)
    app.register_blueprint(endpoint_api.blueprint)
    app.register_blueprint(transfer_api.blueprint)
    app.register_blueprint(bookmark_api.blueprint)
    app.register_blueprint(admin_api.blueprint)

    @app.before_request
    def _hang_while_asked() -> None:
        """An ``api_hang`` fault holds Transfer API calls unanswered until it is removed."""
        if not request.path.startswith("/v0.10/"):
            return
        emulator: Emulator = app.config["EMULATOR"]
        emulator.count_call(request.method, request.url_rule.rule if request.url_rule else request.path)
        target = Target(path=request.path)
        held = False
        while emulator.faults.find(FaultKind.API_HANG, target, consume=False) is not None:
            held = True
            time.sleep(0.05)
        if held:  # a frozen load balancer drops what it held: the request never reached the service
            raise TransferError(503, "ExternalError.ServiceUnavailable", "the request was held and dropped")

    @app.errorhandler(TransferError)
    def _transfer_error(error: TransferError) -> tuple[Response, int]:
        body = {
            "code": error.code,
            "message": error.message,
            "request_id": uuid.uuid4().hex[:9],
            "resource": request.path,
        }
        return jsonify(body), error.status

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> tuple[Response, int]:
        status = error.code or 500
        code = {404: "ClientError.NotFound", 405: "ClientError.MethodNotAllowed"}.get(status, f"HTTP{status}")
        body = {
            "code": code,
            "message": error.description,
            "request_id": uuid.uuid4().hex[:9],
            "resource": request.path,
        }
        return jsonify(body), status

    return app
