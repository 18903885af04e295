"""Running an instance: lay out its directory, write its configuration, migrate its database,
start and stop its Apache.

Ownership: when started as root, Apache drops its workers and the application to ``run_user``
(``www-data``). Everything the application writes (storage, the SQLite database, locks) belongs
to that user, and every Django command (migrate, collectstatic, users) runs as that user, so no
root-owned file ever blocks the application. The Apache parent (root) keeps the logs, the pid
file and reads the host key. Started by another user, everything runs as that user.
"""

from __future__ import annotations

import grp
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import datahost_server
from datahost_server.apache import MODULES, ApacheSite, render, wsgi_script
from datahost_server.config import CONFIG_ENV, InstanceConfig

APACHE = "apache2"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0


class ServerError(RuntimeError):
    """The instance could not be prepared, started or stopped; the message says why."""


@dataclass(frozen=True)
class RunAs:
    """The account the application runs as (None fields: the current process's)."""

    user: Optional[str] = None
    uid: Optional[int] = None
    gid: Optional[int] = None

    @classmethod
    def for_current_process(cls, user: str = "www-data") -> RunAs:
        if os.geteuid() != 0:
            return cls()
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            raise ServerError(f"there is no user {user!r} to run the DataHost as (--user)") from None
        return cls(user, entry.pw_uid, entry.pw_gid)

    @property
    def group(self) -> Optional[str]:
        return grp.getgrgid(self.gid).gr_name if self.gid is not None else None

    def own(self, path: Path) -> None:
        if self.uid is not None and self.gid is not None:
            os.chown(path, self.uid, self.gid)


def python_home() -> Optional[Path]:
    """The venv this interpreter runs in (what mod_wsgi's python-home needs), if any."""
    return Path(sys.prefix) if sys.prefix != sys.base_prefix else None


def package_parent() -> Path:
    return Path(datahost_server.__file__).resolve().parent.parent


def prepare(config: InstanceConfig, run_as: RunAs) -> None:
    """Create the instance's directories and files with the right owners; keep its secret key."""
    root = config.root
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o755)
    for directory in (config.conf_dir, config.logs_dir):
        directory.mkdir(exist_ok=True)
        os.chmod(directory, 0o755)
    for directory in (config.storage_dir, config.db_dir, config.static_dir, config.run_dir):
        directory.mkdir(parents=True, exist_ok=True)  # storage may be elsewhere (shared by hosts)
        os.chmod(directory, 0o750 if directory in (config.storage_dir, config.db_dir) else 0o755)
        run_as.own(directory)
    _write(config.config_file, config.to_json(), 0o640, run_as)
    if not config.secret_key_file.exists():
        _write(config.secret_key_file, secrets.token_urlsafe(50) + "\n", 0o600, run_as)
    if not config.transfer_log.exists():
        config.transfer_log.touch(mode=0o644)
    os.chmod(config.transfer_log, 0o644)  # the application (run_as) reads what Apache writes


def _write(path: Path, text: str, mode: int, run_as: RunAs) -> None:
    temporary = path.with_name(f".{path.name}.new")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(temporary, mode)
    run_as.own(temporary)
    os.replace(temporary, path)


def manage(
    config: InstanceConfig,
    run_as: RunAs,
    args: list[str],
    *,
    env: Optional[dict[str, str]] = None,
    interactive: bool = False,
) -> str:
    """Run a Django management command for the instance, as ``run_as``; return its output
    (``interactive``: connected to this terminal instead, for createsuperuser or shell)."""
    command_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "HOME": str(config.root),
        CONFIG_ENV: str(config.config_file),
        "DJANGO_SETTINGS_MODULE": "datahost_server.settings",
        "PYTHONPATH": str(package_parent()),
        **(env or {}),
    }
    for key in ("DATAHOST_DATABASES",):
        if key in os.environ:
            command_env.setdefault(key, os.environ[key])
    done = subprocess.run(
        [sys.executable, "-m", "django", *args],
        env=command_env,
        cwd=config.root,
        user=run_as.uid,
        group=run_as.gid,
        extra_groups=[] if run_as.uid is not None else None,
        capture_output=not interactive,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        last = ((done.stderr or "").strip().splitlines() or ["(see above)"])[-1]
        raise ServerError(f"django-admin {args[0]} failed: {last}")
    return done.stdout or ""


def site_for(config: InstanceConfig, run_as: RunAs, **options: object) -> ApacheSite:
    return ApacheSite(
        data_dir=config.root,
        python_path=package_parent(),
        python_home=python_home(),
        run_user=run_as.user,
        run_group=run_as.group,
        storage_dir=config.storage_dir,
        **options,  # type: ignore[arg-type]
    )


def start(site: ApacheSite, config: InstanceConfig, run_as: RunAs) -> None:
    """Write the Apache and WSGI configuration and start Apache; return once it answers."""
    if shutil.which(APACHE) is None:
        raise ServerError(
            "apache2 is not installed (apt install apache2 gridsite libapache2-mod-wsgi-py3 libapache2-mod-xsendfile)"
        )
    for _, module in MODULES:
        if not (site.modules_dir / module).exists():
            raise ServerError(f"the Apache module {module} is missing from {site.modules_dir}")
    if running(site.data_dir):
        raise ServerError(f"an Apache of this instance is already running (pid file {site.pid_file})")
    site.wsgi_script.write_text(wsgi_script(config.config_file), encoding="utf-8")
    os.chmod(site.wsgi_script, 0o644)
    site.config_file.write_text(render(site), encoding="utf-8")
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "LANG": "C.UTF-8"}
    check = subprocess.run(
        [APACHE, "-f", str(site.config_file), "-t"], env=env, capture_output=True, text=True, check=False
    )
    if check.returncode != 0:
        raise ServerError(f"Apache refuses the configuration {site.config_file}: {check.stderr.strip()}")
    begun = subprocess.run(
        [APACHE, "-f", str(site.config_file), "-k", "start"], env=env, capture_output=True, text=True, check=False
    )
    if begun.returncode != 0:
        raise ServerError(f"Apache did not start: {begun.stderr.strip() or _tail(site.error_log)}")
    _wait_until_listening(site)


def _wait_until_listening(site: ApacheSite) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if site.pid_file.exists() and not running(site.data_dir):
            break
        try:
            with socket.create_connection((site.listen, site.port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise ServerError(
        f"Apache is not listening on {site.listen}:{site.port}; {site.error_log}: {_tail(site.error_log)}"
    )


def pid_file(data_dir: Path) -> Path:
    return Path(data_dir) / "run" / "httpd.pid"


def pid(data_dir: Path) -> Optional[int]:
    try:
        return int(pid_file(data_dir).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def running(data_dir: Path) -> bool:
    number = pid(data_dir)
    return number is not None and _alive(number)


def _alive(number: int) -> bool:
    try:
        os.kill(number, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop(data_dir: Path, timeout: float = STOP_TIMEOUT) -> None:
    """Stop the instance's Apache and wait until it is gone (``-k stop`` only asks); kill it if
    it lingers."""
    number = pid(data_dir)
    if number is None or not running(data_dir):
        pid_file(data_dir).unlink(missing_ok=True)
        return
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "LANG": "C.UTF-8"}
    config_file = Path(data_dir) / "conf" / "httpd.conf"
    subprocess.run([APACHE, "-f", str(config_file), "-k", "stop"], env=env, capture_output=True, check=False)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(number):  # the pid file goes before the parent and its children do
            break
        time.sleep(0.05)
    else:
        try:
            os.killpg(number, signal.SIGKILL)  # Apache leads its own process group
        except ProcessLookupError:
            pass
        time.sleep(0.2)
    pid_file(data_dir).unlink(missing_ok=True)


def wait_free(port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> None:
    """Wait until nothing listens on ``port`` (before starting again on it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                pass
        except OSError:
            return
        time.sleep(0.05)


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:]) or "(empty log)"
    except OSError:
        return "(no log)"
