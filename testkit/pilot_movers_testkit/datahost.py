"""A DataHost (Apache + mod_gridsite + mod_wsgi + Django) for tests and demos, on a free port of
127.0.0.1, trusting the local grid's CA and presenting its host certificate.

It is started and administered through the ``datahost-server`` command, exactly as an operator
would, in a directory every account can traverse (Apache hands the application to www-data when
started as root; pytest's own temporary directories are private to root).

``databases`` (e.g. a testkit ``PostgreSQL``'s) replaces the instance's SQLite; ``front_end()``
makes a second instance on its own port sharing the first one's database, storage and secret key,
as a second host behind a load balancer would.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable, Optional

from pilot_movers_testkit.grid import LocalGrid, free_port


class DataHostError(RuntimeError):
    """The DataHost could not be started or administered."""


class DataHost:
    """One DataHost instance under ``root`` (created; removed by ``__exit__`` when we made it)."""

    def __init__(
        self,
        grid: LocalGrid,
        root: Optional[Path] = None,
        *,
        session_idle_seconds: int = 3600,
        default_quota: Optional[int] = None,
        pull_allow_private: bool = True,
        threads: int = 16,
        config: Optional[dict[str, Any]] = None,
        databases: Optional[dict[str, Any]] = None,
        storage: Optional[Path] = None,
        secret_key_from: Optional[Path] = None,
    ) -> None:
        """``config``: more instance settings (``datahost-server serve --config-file``)."""
        self.grid = grid
        self.config = dict(config or {})
        self._owns_root = root is None
        self.root = Path(root) if root else Path(tempfile.mkdtemp(prefix="pilot-movers-datahost-", dir="/tmp"))
        self.session_idle_seconds = session_idle_seconds
        self.default_quota = default_quota
        self.pull_allow_private = pull_allow_private
        self.threads = threads
        self.databases = databases
        self.storage = Path(storage) if storage else None
        self.secret_key_from = secret_key_from
        self.port = 0

    # -- where things are --------------------------------------------------------------------

    @property
    def address(self) -> str:
        """``localhost:PORT``, as clients name the server (the host certificate is for localhost)."""
        return f"localhost:{self.port}"

    @property
    def base_url(self) -> str:
        return f"https://{self.address}"

    def url(self, path: str = "/datahost/") -> str:
        return self.base_url + path

    @property
    def storage_dir(self) -> Path:
        return self.storage or self.root / "storage"

    @property
    def error_log(self) -> Path:
        return self.root / "logs" / "error.log"

    @property
    def access_log(self) -> Path:
        return self.root / "logs" / "access.log"

    def logged(self, *texts: str, at_least: int = 1, timeout: float = 15.0) -> list[str]:
        """The access log's lines holding every one of ``texts``, once there are ``at_least`` of
        them (Apache writes a request's line after its last byte went out: a client can finish
        first)."""
        deadline = time.monotonic() + timeout
        while True:
            lines = [line for line in self.access_log.read_text().splitlines() if all(t in line for t in texts)]
            if len(lines) >= at_least or time.monotonic() > deadline:
                return lines
            time.sleep(0.1)

    def files_on_disk(self) -> list[Path]:
        """Every file in every user's directory, hidden temporary files included."""
        if not self.storage_dir.exists():
            return []
        return sorted(path for path in self.storage_dir.rglob("*") if path.is_file())

    # -- life --------------------------------------------------------------------------------

    def start(self) -> DataHost:
        if shutil.which("apache2") is None:
            raise DataHostError("apache2 is not installed: run scripts/bootstrap.sh")
        if self.grid.host is None:
            self.grid.create_credentials()
        assert self.grid.host is not None
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        self.port = self.port or free_port()
        argv = [
            "serve",
            "--dir",
            str(self.root),
            "--port",
            str(self.port),
            "--ca-dir",
            str(self.grid.cert_dir),
            "--host-cert",
            str(self.grid.host.cert),
            "--host-key",
            str(self.grid.host.key),
            "--session-idle",
            str(self.session_idle_seconds),
            "--threads",
            str(self.threads),
        ]
        if self.default_quota is not None:
            argv += ["--default-quota", str(self.default_quota)]
        if self.pull_allow_private:
            argv.append("--pull-allow-private")
        if self.storage is not None:
            argv += ["--storage", str(self.storage)]
        if self.secret_key_from is not None:
            self._copy_secret_key(self.secret_key_from)
        extra = {**self.config, **({"databases": self.databases} if self.databases else {})}
        settings = self.root / "extra-config.json"  # may hold a password: private, gone once read
        if extra:
            settings.write_text(json.dumps(extra), encoding="utf-8")
            os.chmod(settings, 0o600)
            argv += ["--config-file", str(settings)]
        try:
            self._run(argv)
        finally:
            settings.unlink(missing_ok=True)
        return self

    def front_end(self, root: Optional[Path] = None) -> DataHost:
        """Another instance (its own directory, Apache and port) sharing this one's database,
        storage and secret key: a second host behind a load balancer. Start it after this one
        (which created the database's tables)."""
        if not self.databases:
            raise DataHostError("front-ends share one database: give the first DataHost databases= (PostgreSQL)")
        return DataHost(
            self.grid,
            root,
            session_idle_seconds=self.session_idle_seconds,
            default_quota=self.default_quota,
            pull_allow_private=self.pull_allow_private,
            threads=self.threads,
            config=self.config,
            databases=self.databases,
            storage=self.storage_dir,
            secret_key_from=self.root / "conf" / "secret_key",
        )

    def _copy_secret_key(self, source: Path) -> None:
        """Sessions made on one front-end are valid on the others: one secret key for all."""
        target = self.root / "conf" / "secret_key"
        target.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(target.parent, 0o755)
        shutil.copyfile(source, target)
        owner = source.stat()
        os.chown(target, owner.st_uid, owner.st_gid)
        os.chmod(target, 0o600)

    def stop(self) -> None:
        if (self.root / "conf" / "datahost.json").exists():
            self._run(["stop", "--dir", str(self.root)])

    def restart(self) -> None:
        self.stop()
        self.start()

    def kill(self) -> None:
        """Kill Apache and the application at once (SIGKILL to Apache's process group), as a
        crash would; ``start()`` brings it back on the same port."""
        pid_file = self.root / "run" / "httpd.pid"
        try:
            pid = int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        try:
            os.killpg(pid, signal.SIGKILL)  # Apache leads its own process group
        except ProcessLookupError:
            pass
        pid_file.unlink(missing_ok=True)

    def __enter__(self) -> DataHost:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        if self._owns_root:
            shutil.rmtree(self.root, ignore_errors=True)

    # -- administration ----------------------------------------------------------------------

    def add_user(
        self,
        name: str,
        password: Optional[str] = None,
        *,
        dns: Iterable[str] = (),
        quota: Optional[int] = None,
        groups: Iterable[str] = (),
        staff: bool = False,
    ) -> None:
        """Create or update a user (no password: certificate only)."""
        argv = ["user", "--dir", str(self.root), name]
        for dn in dns:
            argv += ["--dn", dn]
        for group in groups:
            argv += ["--group", group]
        if quota is not None:
            argv += ["--quota", str(quota)]
        if staff:
            argv.append("--staff")
        self._run(argv, env={"DATAHOST_USER_PASSWORD": password or ""})

    def add_group(self, name: str, quota: Optional[int] = None) -> None:
        argv = ["group", "--dir", str(self.root), name]
        if quota is not None:
            argv += ["--quota", str(quota)]
        self._run(argv)

    def _run(self, argv: list[str], env: Optional[dict[str, str]] = None) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "datahost_server", *argv],
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        if done.returncode != 0:
            raise DataHostError(f"datahost-server {argv[0]} failed: {done.stderr.strip() or done.stdout.strip()}")
        return done.stdout
