"""The Transfer API v0.10 routes of bookmarks: ``bookmark_list``, and ``bookmark`` to create,
show, rename and delete one. Documents as in globus-cli's bookmark fixtures."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from pilot_movers_testkit.globus_emulator import transfer_routes as routes
from pilot_movers_testkit.globus_emulator.bookmarks import Bookmark
from pilot_movers_testkit.globus_emulator.errors import bad_request, not_found

blueprint = routes.transfer_blueprint("globus_transfer_bookmarks")


def _bookmark(bookmark_id: str) -> Bookmark:
    bookmark = routes.emulator().bookmarks.get(bookmark_id, routes.caller().id)
    if bookmark is None:
        raise not_found(f"Bookmark '{bookmark_id}' not found")
    return bookmark


def _name(body: dict[str, Any]) -> str:
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise bad_request("name is required")
    return name.strip()


@blueprint.get("/bookmark_list")
def bookmark_list() -> tuple[Response, int]:
    bookmarks = sorted(routes.emulator().bookmarks.of(routes.caller().id), key=lambda b: b.name.lower())
    return jsonify({"DATA_TYPE": "bookmark_list", "DATA": [b.to_dict() for b in bookmarks]}), 200


@blueprint.post("/bookmark")
def create_bookmark() -> tuple[Response, int]:
    """A bookmark of a path on an endpoint the caller may use (``EndpointNotFound`` otherwise)."""
    body = routes.json_body()
    name = _name(body)
    path = body.get("path")
    if not isinstance(path, str) or not path.startswith(("/", "~")):
        raise bad_request("path must be absolute or start with ~")
    emulator, caller = routes.emulator(), routes.caller()
    endpoint = emulator.visible_endpoint(str(body.get("endpoint_id")), caller)
    bookmark = emulator.bookmarks.add(caller.id, name, endpoint.id, path, pinned=bool(body.get("pinned")))
    return jsonify(bookmark.to_dict()), 200


@blueprint.get("/bookmark/<bookmark_id>")
def get_bookmark(bookmark_id: str) -> tuple[Response, int]:
    return jsonify(_bookmark(bookmark_id).to_dict()), 200


@blueprint.put("/bookmark/<bookmark_id>")
def update_bookmark(bookmark_id: str) -> tuple[Response, int]:
    """Only the name (``globus bookmark rename``) and ``pinned`` can change."""
    bookmark = _bookmark(bookmark_id)
    body = routes.json_body()
    bookmark.name = _name(body)
    if "pinned" in body:
        bookmark.pinned = bool(body["pinned"])
    return jsonify(bookmark.to_dict()), 200


@blueprint.delete("/bookmark/<bookmark_id>")
def delete_bookmark(bookmark_id: str) -> tuple[Response, int]:
    bookmark = _bookmark(bookmark_id)
    routes.emulator().bookmarks.remove(bookmark.id)
    return routes.result(
        {"DATA_TYPE": "result", "code": "Deleted", "message": f"Bookmark '{bookmark.id}' deleted successfully"}
    )
