"""The Transfer API v0.10 routes of endpoints: search, show, create (a GCP endpoint), update,
delete, and the access list (ACL) of ``globus endpoint permission list``."""

from __future__ import annotations

from flask import Response, jsonify, request

from pilot_movers_testkit.globus_emulator import transfer_routes as routes
from pilot_movers_testkit.globus_emulator.documents import endpoint_document, search_matches
from pilot_movers_testkit.globus_emulator.endpoint_update import apply_update
from pilot_movers_testkit.globus_emulator.errors import NO_ACCESS_LIST, TransferError, bad_request

blueprint = routes.transfer_blueprint("globus_transfer_endpoints")

ENDPOINT_SCOPES = (
    "all",
    "my-endpoints",
    "my-gcp-endpoints",
    "recently-used",
    "in-use",
    "shared-by-me",
    "shared-with-me",
)


@blueprint.get("/endpoint_search")
def endpoint_search() -> tuple[Response, int]:
    emulator, caller = routes.emulator(), routes.caller()
    scope = request.args.get("filter_scope") or "all"
    fulltext = request.args.get("filter_fulltext")
    if scope not in ENDPOINT_SCOPES:
        raise bad_request(f"Invalid filter_scope {scope!r}; use one of {', '.join(ENDPOINT_SCOPES)}")
    if scope == "all" and not fulltext:
        raise bad_request("filter_fulltext is required when filter_scope is 'all'")
    limit = routes.int_arg("limit", 25, 100)
    offset = routes.int_arg("offset", 0, 999)
    owner_id = request.args.get("filter_owner_id")
    entity_type = request.args.get("filter_entity_type")
    my_tasks = [t for t in emulator.tasks.all() if t.owner.id == caller.id]
    used = {e.id for t in my_tasks for e in (t.source, t.destination) if e is not None}
    in_use = {e.id for t in my_tasks if t.active for e in (t.source, t.destination) if e is not None}
    found = []
    for endpoint in emulator.endpoints.all():
        mine = endpoint.owner.id == caller.id
        if not (endpoint.public or mine):
            continue
        if (
            (scope == "my-endpoints" and not mine)
            or (scope == "my-gcp-endpoints" and not (mine and endpoint.is_globus_connect))
            or (scope == "recently-used" and endpoint.id not in used)
            or (scope == "in-use" and endpoint.id not in in_use)
            or scope in ("shared-by-me", "shared-with-me")
        ):
            continue
        if fulltext and not search_matches(endpoint, fulltext):
            continue
        if owner_id and endpoint.owner.id != owner_id:
            continue
        document = endpoint_document(endpoint, connected=emulator.connected(endpoint), caller_id=caller.id)
        if entity_type and document["entity_type"] != entity_type:
            continue
        found.append(document)
    found.sort(key=lambda d: (d["display_name"].lower(), d["id"]))
    page = found[offset : offset + limit]
    for rank, document in enumerate(page):
        document["_rank"] = float(len(found) - offset - rank)
    body = {
        "DATA_TYPE": "endpoint_list",
        "limit": limit,
        "offset": offset,
        "has_next_page": offset + limit < len(found),
        "DATA": page,
    }
    return jsonify(body), 200


@blueprint.get("/endpoint/<endpoint_id>")
def get_endpoint(endpoint_id: str) -> tuple[Response, int]:
    emulator = routes.emulator()
    endpoint = emulator.visible_endpoint(endpoint_id, routes.caller())
    return jsonify(
        endpoint_document(endpoint, connected=emulator.connected(endpoint), caller_id=routes.caller().id)
    ), 200


@blueprint.post("/endpoint")
def create_endpoint() -> tuple[Response, int]:
    body = routes.json_body()
    display_name = body.get("display_name")
    if not isinstance(display_name, str) or not display_name.strip():
        raise bad_request("display_name is required")
    if body.get("is_globus_connect") is not True:
        raise bad_request(
            "Only Globus Connect Personal endpoints (is_globus_connect: true) can be created here; "
            "server endpoints are configured by the emulator's administrator"
        )
    endpoint = routes.emulator().endpoints.create_gcp(display_name.strip(), routes.caller(), body.get("description"))
    return routes.result(
        {
            "DATA_TYPE": "endpoint_create_result",
            "code": "Created",
            "message": "Endpoint created successfully",
            "id": endpoint.id,
            "globus_connect_setup_key": endpoint.setup_key,
            "canonical_name": endpoint.canonical_name,
        },
        201,
    )


@blueprint.delete("/endpoint/<endpoint_id>")
def delete_endpoint(endpoint_id: str) -> tuple[Response, int]:
    emulator = routes.emulator()
    endpoint = emulator.endpoints.get(endpoint_id)
    if endpoint.owner.id != routes.caller().id:
        raise TransferError(403, "PermissionDenied", f"You do not have permission to delete endpoint {endpoint_id}")
    emulator.endpoints.remove(endpoint.id)
    return routes.result({"DATA_TYPE": "result", "code": "Deleted", "message": "Endpoint deleted successfully"})


@blueprint.put("/endpoint/<endpoint_id>")
def update_endpoint(endpoint_id: str) -> tuple[Response, int]:
    """``globus endpoint update``: the owner (its administrator) changes descriptive fields."""
    endpoint = routes.emulator().visible_endpoint(endpoint_id, routes.caller())
    if endpoint.owner.id != routes.caller().id:
        raise TransferError(403, "PermissionDenied", f"You do not have permission to update endpoint {endpoint_id}")
    apply_update(endpoint, routes.json_body())
    return routes.result({"DATA_TYPE": "result", "code": "Updated", "message": "Endpoint updated successfully"})


@blueprint.get("/endpoint/<endpoint_id>/access_list")
def access_list(endpoint_id: str) -> tuple[Response, int]:
    """``globus endpoint permission list``: the emulator's endpoints (GCSv4 hosts and GCP mapped
    collections) have no ACL, so the service refuses, as for any endpoint without one."""
    endpoint = routes.emulator().visible_endpoint(endpoint_id, routes.caller())
    code, message = NO_ACCESS_LIST
    raise TransferError(400, code, message.format(name=endpoint.display_name, id=endpoint.id))
