"""What ``PUT /endpoint/<id>`` (``globus endpoint update``) may change on the emulator's
endpoints, and the checks of each value: the descriptive fields of a GCSv4 host or GCP endpoint.
Server, MyProxy, OAuth and subscription settings are refused: the emulator has none of them."""

from __future__ import annotations

from typing import Any

from pilot_movers_testkit.globus_emulator.endpoints import Endpoint
from pilot_movers_testkit.globus_emulator.errors import bad_request

TEXT_FIELDS = (
    "organization",
    "department",
    "keywords",
    "contact_email",
    "contact_info",
    "info_link",
    "default_directory",
    "location",
    "user_message",
    "user_message_link",
)
FLAG_FIELDS = ("force_encryption", "disable_verify")
NUMBER_FIELDS = ("max_concurrency", "preferred_concurrency", "max_parallelism", "preferred_parallelism")
NETWORK_USE = ("normal", "minimal", "aggressive", "custom")


def apply_update(endpoint: Endpoint, document: dict[str, Any]) -> None:
    """Check every field of ``document`` first, then change ``endpoint``: all or nothing."""
    changes: dict[str, Any] = {}
    for name, value in document.items():
        if name == "DATA_TYPE":
            if value != "endpoint":
                raise bad_request("DATA_TYPE must be 'endpoint'")
        elif name in ("display_name", "description", *TEXT_FIELDS):
            if value is not None and not isinstance(value, str):
                raise bad_request(f"{name} must be a string or null")
            if name == "display_name" and not (value or "").strip():
                raise bad_request("display_name cannot be empty")
            changes[name] = value
        elif name in ("public", *FLAG_FIELDS):
            if not isinstance(value, bool):
                raise bad_request(f"{name} must be true or false")
            changes[name] = value
        elif name in NUMBER_FIELDS:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise bad_request(f"{name} must be a positive integer")
            changes[name] = value
        elif name == "network_use":
            if value not in NETWORK_USE:
                raise bad_request(f"network_use must be one of {', '.join(NETWORK_USE)}")
            changes[name] = value
        else:
            raise bad_request(f"{name} cannot be updated on endpoint {endpoint.display_name} ({endpoint.id})")
    for name, value in changes.items():
        if name == "display_name":
            endpoint.display_name = value.strip()
        elif name == "description":
            endpoint.description = value
        elif name == "public":
            endpoint.public = value
        else:
            endpoint.info[name] = value
