"""Endpoint names as jobs write them (``mxp#MXP_BNL_TEST``, ``SITE1``, or a UUID) -> endpoints,
resolved once per job: from queue config's ``[globus] endpoints`` map, else through the Transfer
API (``endpoint_search``, then an exact match). A name that matches no endpoint, or several, is an
UnknownEndpoint error listing what was found.

Worker endpoints (this job's or any other job's: a personal endpoint whose description says it is
one) are never a match: their display names carry the job's (``MXP_BNL_TEST
pilot-movers-job-4242``) and are left out besides, so a job's temporary endpoint never makes the
user's own endpoint of that name ambiguous to another job, on this node or another.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from typing import Any, Mapping

from pilot_movers.errors import MoverError, UnknownEndpoint
from pilot_movers.globus.service import GlobusService


@dataclass(frozen=True)
class Endpoint:
    """An endpoint the job transfers with: its id, the name the job used, whether it is a
    Globus Connect Personal endpoint."""

    id: str
    name: str
    is_personal: bool = False

    def __str__(self) -> str:
        return self.name if self.name == self.id else f"{self.name} ({self.id})"


def is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


class EndpointResolver:
    """Names -> endpoints for one job; each name is resolved once (thread safe)."""

    def __init__(self, service: GlobusService, known: Mapping[str, str], *, search_limit: int = 100) -> None:
        self.service = service
        self.known = dict(known)
        self.search_limit = search_limit
        self.own: set[str] = set()
        """Ids of the job's own personal endpoints: never the answer to a name."""
        self._resolved: dict[str, Endpoint] = {}
        self._failed: dict[str, MoverError] = {}
        self._lock = threading.Lock()

    def resolve(self, name: str) -> Endpoint:
        with self._lock:
            if name in self._resolved:
                return self._resolved[name]
            if name in self._failed:
                raise self._failed[name]
            try:
                endpoint = self._lookup(name)
            except MoverError as exc:
                if not exc.transient:
                    self._failed[name] = exc
                raise
            self._resolved[name] = endpoint
            return endpoint

    def _lookup(self, name: str) -> Endpoint:
        endpoint_id = self.known.get(name) or (name if is_uuid(name) else None)
        if endpoint_id is not None:
            document = self.service.call(
                f"looking up endpoint {name}", lambda tc: tc.get_endpoint(endpoint_id), scope=None
            )
            return Endpoint(str(document["id"]), name, bool(document.get("is_globus_connect")))
        owner, _, display = name.rpartition("#")
        found = self.service.call(
            f"searching for endpoint {name}",
            lambda tc: tc.endpoint_search(filter_fulltext=display, filter_scope="all", limit=self.search_limit),
        )
        candidates = [
            d
            for d in found
            if str(d.get("id")) not in self.own and not is_worker(d) and _matches(d, name, owner, display)
        ]
        if not candidates:
            raise UnknownEndpoint(
                f"no Globus endpoint is called {name!r}: give its UUID, or map the name in queue config "
                "[globus] endpoints = NAME=UUID"
            )
        if len(candidates) > 1:
            listed = ", ".join(f"{d['id']} (owner {d.get('owner_string') or d.get('username')})" for d in candidates)
            raise UnknownEndpoint(
                f"the Globus endpoint name {name!r} is ambiguous: {len(candidates)} endpoints have it ({listed}); "
                "give the UUID, or map the name in queue config [globus] endpoints = NAME=UUID"
            )
        chosen = candidates[0]
        return Endpoint(str(chosen["id"]), name, bool(chosen.get("is_globus_connect")))


#: How every job's worker endpoint's description starts (``worker``): what lookups leave out.
WORKER_DESCRIPTION = "pilot-movers worker endpoint"


def is_worker(document: Mapping[str, Any]) -> bool:
    """A job's temporary worker endpoint (a personal endpoint whose description says so)."""
    return bool(document.get("is_globus_connect")) and str(document.get("description") or "").startswith(
        WORKER_DESCRIPTION
    )


def _matches(document: Mapping[str, Any], name: str, owner: str, display: str) -> bool:
    """``owner#display`` names an endpoint by its legacy canonical name, or by display name and
    owner; a bare name by display name (or canonical name)."""
    if document.get("canonical_name") == name:
        return True
    if document.get("display_name") != display:
        return False
    if not owner:
        return True
    owners = {str(document.get("username") or ""), str(document.get("owner_string") or "").split("@", 1)[0]}
    return owner in owners
