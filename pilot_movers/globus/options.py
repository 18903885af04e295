"""Queue config ``[globus]`` (also accepted as ``[mover:globus]``): where the pilot's OAuth2
credentials are, endpoint names known in advance, where Globus Connect Personal comes from, and
the service's timings. Checked when the queue config is loaded."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Optional

from pilot_movers.config_values import DAY, DURATION, HOUR, MINUTE, RETRIES, between, check_fields, option
from pilot_movers.errors import ConfigurationError


@dataclass(frozen=True)
class GlobusOptions:
    """The ``globus`` mover's options."""

    credentials_file: Optional[str] = None
    """A 0600 JSON file with ``client_id`` and ``client_secret`` and/or ``refresh_token``, used
    when the job's credentials (GLOBUS_CLIENT_ID ... in the pilot's environment) have none."""
    endpoints: tuple[str, ...] = ()
    """``NAME=UUID`` pairs: endpoint names resolved without asking the service."""
    worker_endpoint: Optional[str] = None
    """Display name of the worker's personal endpoint when the job names none
    (``globus-endpoint-local=``, ``--WorkingendpointGO=``)."""
    gcp_path: Optional[str] = None
    """The ``globusconnectpersonal`` program (or the directory holding it); default: on PATH."""
    gcp_tarball: Optional[str] = None
    """A GCP tarball (https:// or file:// URL, or a path), unpacked once into ``gcp_cache_dir``."""
    gcp_cache_dir: Optional[str] = None
    """Where tarballs are unpacked (default ``$XDG_CACHE_HOME/pilot-movers/gcp``)."""
    gcp_state_dir: Optional[str] = None
    """Where each job's private GCP config dir and TMPDIR are made (default: the system temp dir)."""
    gcp_connect_timeout: float = option(120.0, DURATION, between(0.1, HOUR))
    """Seconds GCP has to say ``connected`` after ``-start``."""
    gcp_stop_timeout: float = option(30.0, DURATION, between(0.1, HOUR))
    poll_interval: float = option(5.0, DURATION, between(0.01, 10 * MINUTE))
    """Most seconds between two looks at a running task (the first looks come after 1, 2, 4 s)."""
    cancel_timeout: float = option(60.0, DURATION, between(0.1, HOUR))
    """Seconds a cancelled task has to end before it is given up on."""
    operation_timeout: float = option(300.0, DURATION, between(0.1, DAY))
    """Seconds a delete task (removing a file) may take."""
    http_timeout: float = option(60.0, DURATION, between(0.1, HOUR))
    http_retries: int = option(3, RETRIES)
    """Retries of one API call on 429 and 5xx answers (globus-sdk's own, with backoff)."""
    search_limit: int = option(100, between(1, 100))
    """Endpoints looked at when resolving a name through the service."""

    def __post_init__(self) -> None:
        check_fields(self, where="[globus]")
        if self.gcp_path and self.gcp_tarball:
            raise ConfigurationError("[globus]: give gcp_path or gcp_tarball, not both")
        self.endpoint_ids()

    def endpoint_ids(self) -> dict[str, str]:
        """``endpoints`` as a name -> UUID map; a ConfigurationError names a bad pair."""
        known: dict[str, str] = {}
        for pair in self.endpoints:
            name, sep, value = pair.partition("=")
            name, value = name.strip(), value.strip()
            try:
                endpoint_id = str(uuid.UUID(value))
            except ValueError:
                endpoint_id = ""
            if not sep or not name or not endpoint_id:
                raise ConfigurationError(f"[globus] endpoints: {pair!r} is not NAME=UUID")
            if known.get(name, endpoint_id) != endpoint_id:
                raise ConfigurationError(f"[globus] endpoints: {name} is given two UUIDs")
            known[name] = endpoint_id
        return known
