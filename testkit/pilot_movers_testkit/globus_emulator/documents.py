"""Endpoint documents as the Transfer API returns them (``GET /endpoint/<id>``, search results),
shaped after the real service's, with the fields a GCSv4 host or a GCP mapped collection has.
"""

from __future__ import annotations

from typing import Any

from pilot_movers_testkit.globus_emulator.endpoints import Endpoint


def endpoint_document(endpoint: Endpoint, *, connected: bool, caller_id: str) -> dict[str, Any]:
    gcp = endpoint.is_globus_connect
    mine = endpoint.owner.id == caller_id
    server: dict[str, Any] = {
        "DATA_TYPE": "server",
        "id": abs(hash(endpoint.id)) % 1_000_000,
        "hostname": None if gcp else "localhost",
        "port": None if gcp else 2811,
        "scheme": None if gcp else "gsiftp",
        "uri": None if gcp else "gsiftp://localhost:2811",
        "subject": f"/C=US/O=Globus Consortium/OU=Globus Connect Service/CN={endpoint.id}" if gcp else None,
        "is_connected": connected,
        "is_paused": False,
        "incoming_data_port_start": None,
        "incoming_data_port_end": None,
        "outgoing_data_port_start": None,
        "outgoing_data_port_end": None,
    }
    document = {
        "DATA_TYPE": "endpoint",
        "id": endpoint.id,
        "display_name": endpoint.display_name,
        "canonical_name": endpoint.canonical_name,
        "name": endpoint.display_name,
        "username": endpoint.owner.short_name,
        "owner_id": endpoint.owner.id,
        "owner_string": endpoint.owner.username,
        "organization": None,
        "department": None,
        "description": endpoint.description,
        "keywords": None,
        "contact_email": None,
        "contact_info": None,
        "info_link": None,
        "entity_type": "GCP_mapped_collection" if gcp else "GCSv4_host",
        "is_globus_connect": gcp,
        "globus_connect_setup_key": endpoint.setup_key if mine else None,
        "gcp_connected": connected if gcp else None,
        "gcp_paused": False if gcp else None,
        "public": endpoint.public,
        "non_functional": False,
        "host_endpoint": None,
        "host_endpoint_id": None,
        "host_endpoint_display_name": None,
        "host_path": None,
        "s3_url": None,
        "s3_owner_activated": False,
        "https_server": None,
        "tlsftp_server": None,
        "myproxy_server": None,
        "myproxy_dn": None,
        "oauth_server": None,
        "default_directory": "/~/",
        "activated": False,
        "expires_in": -1,
        "expire_time": None,
        "force_encryption": False,
        "force_verify": False,
        "disable_verify": False,
        "mfa_required": False,
        "high_assurance": False,
        "shareable": not gcp,
        "acl_available": False,
        "acl_editable": False,
        "in_use": False,
        "local_user_info_available": not gcp,
        "location": "Automatic" if not gcp else None,
        "max_concurrency": 4,
        "preferred_concurrency": 2,
        "max_parallelism": 8,
        "preferred_parallelism": 4,
        "network_use": "normal",
        "subscription_id": None,
        "my_effective_roles": ["administrator", "access_manager", "activity_manager", "activity_monitor"]
        if mine
        else [],
        "user_message": None,
        "user_message_link": None,
        "DATA": [server],
    }
    document.update(endpoint.info)
    return document


def search_matches(endpoint: Endpoint, fulltext: str) -> bool:
    """A case-insensitive match of every word against the names, id and description."""
    haystack = " ".join(
        filter(
            None,
            [
                endpoint.display_name,
                endpoint.canonical_name,
                endpoint.id,
                endpoint.description,
                endpoint.owner.username,
            ],
        )
    ).lower()
    return all(word in haystack for word in fulltext.lower().split())
