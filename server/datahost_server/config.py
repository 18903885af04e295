"""An instance's configuration: one JSON file written by ``datahost-server serve``, read by the
Django settings of every process of that instance (the mod_wsgi daemon, management commands).

Kept apart from ``settings.py`` so it can be read and tested without configuring Django.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Optional

#: Environment variable naming the instance's JSON configuration file.
CONFIG_ENV = "DATAHOST_CONFIG"
#: Environment variable holding a Django DATABASES dict as JSON (e.g. PostgreSQL in production).
DATABASES_ENV = "DATAHOST_DATABASES"


@dataclass
class InstanceConfig:
    """Everything that differs between two DataHost instances.

    ``data_dir`` holds ``storage/`` (one directory per user), ``db/`` (SQLite), ``logs/``,
    ``run/`` and ``conf/``. ``databases`` is a Django DATABASES dict; empty means SQLite in
    ``db/``. ``storage`` moves ``storage/`` elsewhere (a directory several front-ends share).
    """

    data_dir: str
    allowed_hosts: list[str] = field(default_factory=lambda: ["localhost", "127.0.0.1"])
    session_idle_seconds: int = 4 * 3600
    """A person's session ends after this long without a request (uploads in progress count)."""
    default_quota_bytes: Optional[int] = None
    """Quota of users whose account sets none; ``None``: unlimited."""
    pull_allow_private: bool = False
    """Allow "upload from URL" to fetch from loopback and private addresses (tests only)."""
    pull_workers: int = 4
    pull_ca_bundle: Optional[str] = None
    """CA bundle for https pulls; default: the system's (``/etc/ssl/certs/ca-certificates.crt``)."""
    databases: dict[str, Any] = field(default_factory=dict)
    storage: Optional[str] = None
    """The storage directory when not ``data_dir/storage``: front-ends on several hosts share one
    (with one PostgreSQL in ``databases``)."""
    stale_temporary_seconds: int = 24 * 3600
    """Start-up removes another host's temporary files only when unwritten for this long."""
    debug: bool = False
    login_window_seconds: int = 900
    """Wrong passwords count against a user and an address for this long (throttle.py)."""
    login_failures_per_user: int = 5
    """Wrong passwords for one user name within the window before its logins are refused (429)."""
    login_failures_per_address: int = 20
    """Wrong passwords from one client address within the window before its logins are refused."""

    @property
    def root(self) -> Path:
        return Path(self.data_dir)

    @property
    def storage_dir(self) -> Path:
        return Path(self.storage) if self.storage else self.root / "storage"

    @property
    def db_dir(self) -> Path:
        return self.root / "db"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def conf_dir(self) -> Path:
        return self.root / "conf"

    @property
    def static_dir(self) -> Path:
        return self.root / "static"

    @property
    def transfer_log(self) -> Path:
        """Apache's log of downloads it served for Django (X-Sendfile): bytes and duration."""
        return self.logs_dir / "transfers.log"

    @property
    def secret_key_file(self) -> Path:
        return self.conf_dir / "secret_key"

    @property
    def config_file(self) -> Path:
        return self.conf_dir / "datahost.json"

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InstanceConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown DataHost configuration key(s): {', '.join(unknown)}")
        if "data_dir" not in data:
            raise ValueError("the DataHost configuration has no data_dir")
        return cls(**data)

    @classmethod
    def load(cls, path: Optional[str] = None) -> InstanceConfig:
        """Read the file named by ``path`` or ``$DATAHOST_CONFIG``; ``$DATAHOST_DATABASES``
        (JSON) replaces its ``databases``."""
        path = path or os.environ.get(CONFIG_ENV)
        if not path:
            raise ValueError(f"set {CONFIG_ENV} to an instance's datahost.json (datahost-server serve writes it)")
        with open(path, encoding="utf-8") as handle:
            config = cls.from_dict(json.load(handle))
        databases = os.environ.get(DATABASES_ENV)
        if databases:
            config.databases = json.loads(databases)
        return config
