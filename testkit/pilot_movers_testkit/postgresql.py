"""A throwaway PostgreSQL cluster for tests and benchmarks, started the way the local grid starts
its servers: Debian's ``initdb`` and ``pg_ctl`` (``/usr/lib/postgresql/<version>/bin``) into a
new directory, the server on a free port of 127.0.0.1 and a unix socket in that directory.

PostgreSQL refuses to run as root: started by root, the cluster belongs to ``run_user``
(``nobody``) and every server command runs as that account. Clients connect over TCP with a
password (SCRAM), as a DataHost in production would; the cluster's superuser ``postgres`` is
reached over the socket only (trust), by ``query`` and by the set-up.
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Optional

from pilot_movers_testkit.grid import free_port

START_TIMEOUT = 60


class PostgreSQLError(RuntimeError):
    """The cluster could not be created, started, queried or stopped; the message says why."""


def server_bin_dir() -> Path:
    """The newest installed PostgreSQL's program directory; PostgreSQLError if there is none."""
    found = [path for path in Path("/usr/lib/postgresql").glob("*/bin") if (path / "initdb").exists()]
    if not found:
        raise PostgreSQLError(
            "PostgreSQL is not installed (no /usr/lib/postgresql/<version>/bin/initdb): "
            "run scripts/bootstrap.sh (apt install postgresql)"
        )
    return max(found, key=lambda path: int(re.sub(r"\D", "", path.parent.name) or 0))


class PostgreSQL:
    """One cluster under ``root`` (created; removed by ``__exit__`` when we made it) with one
    database and its owner role, for a DataHost: ``databases()`` is the Django setting."""

    def __init__(
        self,
        root: Optional[Path] = None,
        *,
        database: str = "datahost",
        role: str = "datahost",
        run_user: str = "nobody",
        max_connections: int = 200,
    ) -> None:
        self._owns_root = root is None
        self.root = Path(root) if root else Path(tempfile.mkdtemp(prefix="pilot-movers-postgresql-", dir="/tmp"))
        self.database = database
        self.role = role
        self.password = secrets.token_urlsafe(18)
        self.max_connections = max_connections
        self.port = 0
        self._account = pwd.getpwnam(run_user) if os.geteuid() == 0 else None
        self._bin: Optional[Path] = None

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "run"

    @property
    def log_file(self) -> Path:
        return self.root / "postgresql.log"

    def databases(self) -> dict[str, Any]:
        """Django's ``DATABASES`` for the cluster's database, over TCP with a password."""
        return {
            "default": {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": self.database,
                "USER": self.role,
                "PASSWORD": self.password,
                "HOST": "127.0.0.1",
                "PORT": str(self.port),
            }
        }

    # -- life --------------------------------------------------------------------------------

    def start(self) -> PostgreSQL:
        self._bin = server_bin_dir()
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        for directory in (self.data_dir, self.socket_dir):
            directory.mkdir(exist_ok=True)
            os.chmod(directory, 0o700 if directory == self.data_dir else 0o755)
            self._own(directory)
        self.log_file.touch()
        self._own(self.log_file)
        self.port = self.port or free_port()
        if not (self.data_dir / "PG_VERSION").exists():
            self._server_command(
                "initdb",
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            )
        options = (
            f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 "
            f"-c max_connections={self.max_connections}"
        )
        self._server_command(
            "pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_file), "-w", "-t", str(START_TIMEOUT), "-o", options,
            "start",
        )  # fmt: skip
        self.query(f"CREATE ROLE {self.role} LOGIN PASSWORD '{self.password}'")
        self.query(f"CREATE DATABASE {self.database} OWNER {self.role}")
        return self

    def stop(self) -> None:
        if self._bin is None or not (self.data_dir / "postmaster.pid").exists():
            return
        self._server_command("pg_ctl", "-D", str(self.data_dir), "-w", "-m", "fast", "stop")

    def __enter__(self) -> PostgreSQL:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        if self._owns_root:
            shutil.rmtree(self.root, ignore_errors=True)

    # -- use ---------------------------------------------------------------------------------

    def query(self, sql: str, *, database: str = "postgres") -> list[list[str]]:
        """Run ``sql`` as the superuser over the socket; the rows, each a list of text fields."""
        if self._bin is None:
            raise PostgreSQLError("the PostgreSQL cluster is not started")
        done = subprocess.run(
            [
                *(str(self._bin / "psql"), "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1"),
                *("-h", str(self.socket_dir), "-p", str(self.port), "-U", "postgres", "-d", database, "-c", sql),
            ],
            env=self._env(),
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        if done.returncode != 0:
            raise PostgreSQLError(f"psql failed: {_redacted(done.stderr.strip(), self.password)}")
        return [line.split("\t") for line in done.stdout.splitlines() if line]

    # -- helpers -----------------------------------------------------------------------------

    def _server_command(self, program: str, *args: str) -> None:
        assert self._bin is not None
        done = subprocess.run(
            [str(self._bin / program), *args],
            env=self._env(),
            cwd=self.root,
            user=self._account.pw_uid if self._account else None,
            group=self._account.pw_gid if self._account else None,
            extra_groups=[] if self._account else None,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        if done.returncode != 0:
            tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
            log = " | ".join(self.log_file.read_text(errors="replace").strip().splitlines()[-3:])
            raise PostgreSQLError(f"{program} failed: {tail or '(no output)'}; {self.log_file}: {log or '(empty)'}")

    def _own(self, path: Path) -> None:
        if self._account is not None:
            os.chown(path, self._account.pw_uid, self._account.pw_gid)

    def _env(self) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "HOME": str(self.root)}


def _redacted(text: str, secret: str) -> str:
    return text.replace(secret, "***")
