"""CRIC's storage description (``ddmendpoints``), read the way Pilot 3 reads it, so a site needs no
hand-written ``storages`` rule for a PanDA job's storage endpoints.

The file is CRIC's JSON of storage endpoints (``cric_ddmendpoints.json``, as on CVMFS, or what
CRIC's API answers): an object of endpoint name -> description, of which this reads

* ``arprotocols`` (else ``aprotocols``): per activity, a list of protocols ``{"endpoint":
  "root://eosatlas.cern.ch:1094", "path": "/eos/atlas/atlasdatadisk/rucio", ...}`` in CRIC's
  order. A stage-in takes the protocols of ``read_lan``, then ``read_wan``, then ``r``; a
  stage-out those of ``write_lan``, ``write_wan``, ``w`` (Pilot 3's activities). Each protocol
  is a URL prefix, ``endpoint`` + ``path`` as Pilot 3 joins them; the first a mover of the queue
  serves is tried first, the others are the file's alternatives;
* ``is_deterministic``: a file's path under the prefix is Rucio's deterministic path
  (``rucio_paths``); a non-deterministic endpoint cannot say where a file is without Rucio, and is
  refused for a file that has no replica given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from pilot_movers.errors import ConfigurationError, Phase

#: Pilot 3's activities per phase, in the order their protocols are taken.
ACTIVITIES: Mapping[Phase, tuple[str, ...]] = {
    Phase.STAGE_IN: ("read_lan", "read_wan", "r"),
    Phase.STAGE_OUT: ("write_lan", "write_wan", "w"),
}


@dataclass(frozen=True)
class StorageEndpoint:
    """One of CRIC's storage endpoints, as far as moving a file needs it."""

    name: str
    deterministic: bool
    protocols: Mapping[str, tuple[str, ...]]
    """Activity -> URL prefixes, in CRIC's order."""

    def prefixes(self, phase: Phase) -> tuple[str, ...]:
        """The URL prefixes to try for ``phase``, best first (no repeats)."""
        found = [url for activity in ACTIVITIES[phase] for url in self.protocols.get(activity, ())]
        return tuple(dict.fromkeys(found))


def read_ddmendpoints(data: Any, source: str) -> dict[str, StorageEndpoint]:
    """CRIC's endpoints by name (case-insensitive keys); a ConfigurationError names what is wrong."""
    if isinstance(data, list):  # CRIC's API can answer a list of descriptions
        data = {str(item.get("name")): item for item in data if isinstance(item, Mapping)}
    if not isinstance(data, Mapping):
        raise ConfigurationError(f"{source}: CRIC's ddmendpoints must be an object of endpoint name -> description")
    endpoints: dict[str, StorageEndpoint] = {}
    for name, about in data.items():
        if not isinstance(about, Mapping):
            raise ConfigurationError(f"{source}: {name}: an endpoint's description must be an object")
        raw = about.get("arprotocols") or about.get("aprotocols") or {}
        if not isinstance(raw, Mapping):
            raise ConfigurationError(f"{source}: {name}: arprotocols must be an object of activity -> protocols")
        protocols = {
            str(activity): _prefixes(entries, f"{source}: {name}: {activity}") for activity, entries in raw.items()
        }
        deterministic = about.get("is_deterministic", True)
        endpoints[str(name).casefold()] = StorageEndpoint(str(name), deterministic is not False, protocols)
    return endpoints


def _prefixes(entries: Any, where: str) -> tuple[str, ...]:
    if not isinstance(entries, list):
        raise ConfigurationError(f"{where}: a list of protocols, not {entries!r}")
    found = []
    for entry in entries:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("endpoint"), str):
            raise ConfigurationError(f"{where}: a protocol needs an 'endpoint', got {entry!r}")
        endpoint, path = entry["endpoint"].rstrip("/"), str(entry.get("path") or "/")
        found.append(
            f"{endpoint}/{path.lstrip('/')}"
            if not endpoint.startswith(("root", "xroot"))
            else f"{endpoint}//{path.lstrip('/')}"
        )
    return tuple(found)
