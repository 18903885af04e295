"""Endpoints and where their paths are on local disk.

A *mapped* endpoint (the stand-in for a site's Globus Connect Server) shows one local directory as
its ``/``. A Globus Connect Personal endpoint shows the host's own paths, as the real GCP does, but
only those inside the ``-restrict-paths`` its running stand-in reported (default: the home dir,
read-write), and only while that stand-in keeps sending heartbeats.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from pilot_movers_testkit.globus_emulator.auth import Identity
from pilot_movers_testkit.globus_emulator.errors import TransferError, not_found


@dataclass(frozen=True)
class PathRule:
    """One ``-restrict-paths`` entry: a directory and whether it may be written."""

    root: Path
    writable: bool

    def covers(self, path: Path) -> bool:
        return path == self.root or self.root in path.parents


def parse_restrict_paths(text: str, home: Path) -> list[PathRule]:
    """``'rw~,r/data,/scratch'`` -> rules; ``~`` is ``home``; no prefix means read-write."""
    rules = []
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        writable = True
        if entry.startswith("rw"):
            entry = entry[2:]
        elif entry.startswith("r"):
            entry, writable = entry[1:], False
        if entry.startswith("~"):
            entry = str(home) + entry[1:]
        if not entry.startswith("/"):
            raise ValueError(f"restrict path {entry!r} is neither absolute nor under ~")
        rules.append(PathRule(Path(os.path.normpath(entry)), writable))
    return rules


@dataclass
class GCPLink:
    """What the running stand-in ``globusconnectpersonal`` last told the emulator."""

    secret: str = field(repr=False)
    home: Path = Path("/")
    rules: list[PathRule] = field(default_factory=list)
    last_heartbeat: float = 0.0
    stopped: bool = True


@dataclass
class Endpoint:
    """A Transfer endpoint; ``root`` is set for mapped endpoints, ``gcp`` once a GCP was set up."""

    id: str
    display_name: str
    owner: Identity
    canonical_name: str
    root: Optional[Path] = None
    is_globus_connect: bool = False
    setup_key: Optional[str] = field(default=None, repr=False)
    gcp: Optional[GCPLink] = None
    description: Optional[str] = None
    public: bool = True
    info: dict[str, Any] = field(default_factory=dict)
    """Descriptive fields an administrator set with ``PUT /endpoint/<id>`` (organization,
    contact, concurrency, ...), shown as set in the endpoint document."""

    def connected(self, heartbeat_timeout: float) -> bool:
        """For a GCP endpoint: is its stand-in running and heard from recently?"""
        if not self.is_globus_connect:
            return True
        link = self.gcp
        return link is not None and not link.stopped and time.monotonic() - link.last_heartbeat < heartbeat_timeout

    @property
    def home(self) -> Path:
        """What ``/~/`` means here."""
        if self.root is not None:
            return self.root
        return self.gcp.home if self.gcp is not None else Path("/")

    def local_path(self, globus_path: str) -> Path:
        """The local path of ``globus_path``; never outside a mapped endpoint's root."""
        path = globus_path.strip() or "/~/"
        first, _, rest = path.lstrip("/").partition("/")
        if first == "~":
            base = self.home
        elif path.startswith("/"):
            base, rest = (self.root if self.root is not None else Path("/")), path.lstrip("/")
        else:
            raise TransferError(400, "ClientError.BadRequest", f"Path {globus_path!r} must be absolute or start with ~")
        local = Path(os.path.normpath(base / rest)) if rest else base
        if self.root is not None and not PathRule(self.root, True).covers(Path(os.path.realpath(local))):
            raise TransferError(403, "EndpointPermissionDenied", f"Path {globus_path!r} is outside the endpoint's root")
        return local

    def check_access(self, local: Path, *, write: bool, globus_path: str) -> None:
        """Refuse what the GCP's restrict paths do not allow (mapped endpoints allow their root)."""
        if not self.is_globus_connect:
            return
        rules = self.gcp.rules if self.gcp is not None else []
        resolved = Path(os.path.realpath(local))
        real_rules = [PathRule(Path(os.path.realpath(r.root)), r.writable) for r in rules]
        for rule in sorted(real_rules, key=lambda r: len(r.root.parts), reverse=True):
            if rule.covers(resolved):
                if write and not rule.writable:
                    break
                return
        raise TransferError(
            403,
            "EndpointPermissionDenied",
            f"Denied by endpoint, Error ({'write' if write else 'read'})\nEndpoint: {self.display_name} ({self.id})\n"
            f"Server: Globus Connect Personal\nFile: {globus_path}\nMessage: Path not allowed.",
        )


class EndpointTable:
    """The endpoints the emulator knows, by id; lookups by name are for the admin side only."""

    def __init__(self, heartbeat_timeout: float = 3.0) -> None:
        self.heartbeat_timeout = heartbeat_timeout
        self._lock = threading.RLock()
        self._endpoints: dict[str, Endpoint] = {}
        self._setup_keys: list[str] = []

    def issued_setup_keys(self) -> list[str]:
        """Every setup key made so far (for leak scans)."""
        with self._lock:
            return list(self._setup_keys)

    def add(self, endpoint: Endpoint) -> Endpoint:
        with self._lock:
            self._endpoints[endpoint.id] = endpoint
        return endpoint

    def add_mapped(
        self,
        name: str,
        directory: Path,
        owner: Identity,
        *,
        endpoint_id: Optional[str] = None,
        description: Optional[str] = None,
    ) -> Endpoint:
        """A pre-configured endpoint: ``mxp#MXP_BNL_TEST`` (owner ``mxp``) or plain ``SITE1``."""
        _, sep, display_name = name.rpartition("#")
        if not sep:
            display_name = name
        canonical = name if sep else f"{owner.short_name}#{display_name}"
        endpoint = Endpoint(
            endpoint_id or str(uuid.uuid4()),
            display_name,
            owner,
            canonical,
            root=Path(os.path.realpath(directory)),
            description=description,
        )
        return self.add(endpoint)

    def create_gcp(self, display_name: str, owner: Identity, description: Optional[str] = None) -> Endpoint:
        endpoint = Endpoint(
            str(uuid.uuid4()),
            display_name,
            owner,
            f"{owner.short_name}#{display_name}",
            is_globus_connect=True,
            setup_key=str(uuid.uuid4()),
            description=description,
            public=False,
        )
        with self._lock:
            self._setup_keys.append(str(endpoint.setup_key))
        return self.add(endpoint)

    def get(self, endpoint_id: str) -> Endpoint:
        with self._lock:
            endpoint = self._endpoints.get(endpoint_id)
        if endpoint is None:
            raise TransferError(404, "EndpointNotFound", f"No such endpoint with id '{endpoint_id}'")
        return endpoint

    def find(self, name_or_id: str) -> Endpoint:
        """By id, canonical name or display name (the admin API and tests)."""
        with self._lock:
            if name_or_id in self._endpoints:
                return self._endpoints[name_or_id]
            for endpoint in self._endpoints.values():
                if name_or_id in (endpoint.canonical_name, endpoint.display_name):
                    return endpoint
        raise not_found(f"No endpoint is called {name_or_id!r}")

    def remove(self, endpoint_id: str) -> None:
        with self._lock:
            self._endpoints.pop(endpoint_id, None)

    def redeem_setup_key(self, key: str) -> Optional[Endpoint]:
        """The endpoint whose setup key this is; the key is used up (once, even under races)."""
        with self._lock:
            for endpoint in self._endpoints.values():
                if endpoint.setup_key is not None and secrets.compare_digest(endpoint.setup_key, key):
                    endpoint.setup_key = None
                    return endpoint
        return None

    def all(self) -> list[Endpoint]:
        with self._lock:
            return list(self._endpoints.values())
