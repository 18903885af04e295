"""The per-user ledger: what each job of this user on this node holds while it runs, so that a
later job removes what a killed one left, wherever its work dir was.

A job killed by SIGKILL runs no cleanup: its temporary copies on servers and local disks, and the
user's proxy it fetched (a private key), would stay for good. So each job keeps a record in a
directory of this user's own (``state_dir``): the work dir, the proxy, and every temporary copy,
each written (one line, appended) before it exists and struck off once it is gone. The job holds
an exclusive lock on its record for its whole life; the kernel drops the lock when the process
dies, however it dies. A job starting later takes every record it can lock, removes what the
record still lists, and deletes the record.

The payload runs under the same uid and can write anywhere the pilot can, this directory
included. So every line carries an HMAC under a key kept in the directory (0600), and a line
whose MAC does not verify is ignored and counted; and nothing is ever removed that is not named as
the library's own (``reserved.is_temporary``: ``NAME.pilot-movers-a1-XXXXXXXX.part``, a space probe;
``.pilot-movers-proxy-*.pem``; a work dir ``pilot-movers-job-*`` of the system temp dir). A payload
that reads the key can forge lines, but can at worst have files removed that are named as ours,
and (``holdings``) a GCP state dir removed, a GCP process group of its own session stopped, or a
pilot-movers worker endpoint that no GCP serves deleted.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import hmac
import logging
import os
import secrets
import shutil
import stat
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Optional, Sequence

from pilot_movers.errors import ConfigurationError
from pilot_movers.reserved import MARK, is_temporary

log = logging.getLogger(__name__)

#: Names the ledger dir by this variable when set (tests, a site's own place).
STATE_DIR_VARIABLE = "PILOT_MOVERS_STATE_DIR"
KEY_NAME = "key"
#: The end of the name a key is written under before it is linked into place.
_SCRATCH = ".scratch"
#: A scratch key older than this was left by a killed job.
_SCRATCH_AGE = 3600.0
RECORDS = "jobs"
_SUFFIX = ".record"
#: A work dir the command made (``pilot-movers run`` without ``--workdir``).
TEMPORARY_WORKDIR_PREFIX = "pilot-movers-job-"
_PROXY_PREFIX = f"{MARK}proxy-"


def state_dir(environ: Optional[dict[str, str]] = None) -> str:
    """The ledger's directory: ``$PILOT_MOVERS_STATE_DIR``, else ``$XDG_RUNTIME_DIR/pilot-movers``,
    else ``pilot-movers-<uid>`` in the system temp dir."""
    env = os.environ if environ is None else environ
    if env.get(STATE_DIR_VARIABLE):
        return env[STATE_DIR_VARIABLE]
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return os.path.join(runtime, "pilot-movers")
    return os.path.join(tempfile.gettempdir(), f"pilot-movers-{os.geteuid()}")


def _private_dir(path: str) -> None:
    """``path`` exists, is a directory (not a link), is ours and only ours; else ConfigurationError."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise ConfigurationError(f"the pilot-movers state dir {path} is not a directory (a link?): remove it")
    if info.st_uid != os.geteuid():
        raise ConfigurationError(f"the pilot-movers state dir {path} belongs to uid {info.st_uid}, not to this user")
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(path, 0o700)


class Ledger:
    """This user's records on this node (``state_dir``), authenticated with the ledger's key."""

    def __init__(self, directory: Optional[str] = None) -> None:
        self.directory = directory or state_dir()
        _private_dir(self.directory)
        _private_dir(os.path.join(self.directory, RECORDS))
        self._key = self._load_key()

    def _load_key(self) -> bytes:
        """The ledger's key, made on first use. Many jobs of the user may start at once: the key
        is written whole under a name of its own, then linked into place (link fails if another
        job's is there first, and then that one is read), so no job ever reads a key half written.
        On a file system without hard links the key is created in place and a reader waits a
        moment for its 32 bytes. A scratch copy a killed job left is removed by the next."""
        path = os.path.join(self.directory, KEY_NAME)
        _remove_stale_scratch(self.directory)
        if not os.path.lexists(path):
            key = secrets.token_bytes(32)
            scratch = f"{path}.{os.getpid()}.{secrets.token_hex(4)}{_SCRATCH}"
            descriptor = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            try:
                with os.fdopen(descriptor, "wb") as handle:
                    handle.write(key)
                    handle.flush()
                    os.fsync(handle.fileno())
                try:
                    os.link(scratch, path)
                    return key
                except FileExistsError:
                    pass  # another job's key came first: that one is read below
                except OSError as exc:
                    if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK, errno.ENOSYS):
                        raise
                    return self._create_in_place(path, key)
            finally:
                os.unlink(scratch)
        return self._read_key(path)

    def _create_in_place(self, path: str, key: bytes) -> bytes:
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            return self._read_key(path)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(key)
        return key

    @staticmethod
    def _read_key(path: str) -> bytes:
        """The key at ``path``; one being written in place (no hard links here) gets a second."""
        for _ in range(20):
            with open(path, "rb", opener=lambda p, f: os.open(p, f | os.O_NOFOLLOW)) as handle:
                key = handle.read(64)
            if len(key) >= 32:
                return key
            time.sleep(0.05)
        raise ConfigurationError(f"the ledger key {path} is damaged: remove it")

    def seal(self, text: str) -> str:
        """``text`` as a ledger line: its MAC, a space, the text."""
        return f"{self._mac(text)} {text}\n"

    def _mac(self, text: str) -> str:
        return hmac.new(self._key, text.encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()[:32]

    def opened(self, text_line: str) -> Optional[str]:
        """The text of a sealed line, None when its MAC does not verify."""
        mac, _, text = text_line.rstrip("\n").partition(" ")
        return text if hmac.compare_digest(mac, self._mac(text)) else None

    def record(self, workdir: str) -> JobRecord:
        """A new record for a job starting now in ``workdir``, locked for the job's life."""
        return JobRecord(self, workdir)

    def dead_records(self) -> list[DeadJob]:
        """Every record whose job is gone (its lock could be taken), read and locked; each
        ``done()`` deletes it."""
        found = []
        folder = os.path.join(self.directory, RECORDS)
        for name in sorted(os.listdir(folder)):
            if not name.endswith(_SUFFIX):
                continue
            path = os.path.join(folder, name)
            try:
                descriptor = os.open(path, os.O_RDWR | os.O_NOFOLLOW)
            except OSError:  # a link or a directory a payload put there: not ours, removed
                _remove_foreign(path)
                continue
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # its job is alive
                os.close(descriptor)
                continue
            found.append(DeadJob.read(self, path, descriptor))
        return found


def _remove_foreign(path: str) -> None:
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
    except OSError:
        pass


class JobRecord:
    """One live job's record: appended as the job makes and removes things, locked till ``close``.
    Thread safe. ``add``/``strike`` take temporary copies' URLs (the engine's journal)."""

    def __init__(self, ledger: Ledger, workdir: str) -> None:
        self.ledger = ledger
        self.path = os.path.join(ledger.directory, RECORDS, f"{os.getpid()}-{secrets.token_hex(6)}{_SUFFIX}")
        self._lock = threading.Lock()
        self._descriptor: Optional[int] = os.open(
            self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_NOFOLLOW, 0o600
        )
        fcntl.flock(self._descriptor, fcntl.LOCK_EX)
        self._pending: dict[str, None] = {}
        self._held: dict[tuple[str, str], None] = {}
        self._write(f"workdir {workdir}")

    def add(self, url: str) -> None:
        """A temporary copy is about to be made at ``url``."""
        with self._lock:
            self._pending[url] = None
        self._write(f"+ {url}")

    def strike(self, url: str) -> None:
        """The temporary copy at ``url`` is gone (renamed into place, or removed)."""
        with self._lock:
            self._pending.pop(url, None)
        self._write(f"- {url}")

    def holds_proxy(self, path: str) -> None:
        """The user's proxy is about to be written at ``path``."""
        self._write(f"proxy {path}")

    def released_proxy(self, path: str) -> None:
        self._write(f"noproxy {path}")

    def hold(self, kind: str, value: str) -> None:
        """The job is about to hold (or now holds) ``value`` of ``kind``: a process group
        (``process-group``: ``PGID MARKER``), a directory of the library's (``directory``), a
        thing at a service only a mover can remove (``globus-endpoint``: an id)."""
        with self._lock:
            self._held[(kind, value)] = None
        self._write(f"hold {kind} {value}")

    def release(self, kind: str, value: str) -> None:
        with self._lock:
            self._held.pop((kind, value), None)
        self._write(f"release {kind} {value}")

    def pending(self) -> list[str]:
        with self._lock:
            return list(self._pending)

    def held(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self._held)

    def close(self) -> None:
        """The job ended: the record goes when nothing is pending (a later job removes what is),
        and the lock is released. Never raises (a payload may have replaced the path)."""
        with self._lock:
            descriptor, self._descriptor = self._descriptor, None
            pending = bool(self._pending) or bool(self._held)  # what is still held: a later job removes it
        if descriptor is None:
            return
        try:
            if not pending:
                _remove_foreign(self.path) if not _same_file(self.path, descriptor) else os.unlink(self.path)
        except OSError as exc:
            log.debug("could not remove the job record %s: %s", self.path, exc)
        finally:
            os.close(descriptor)

    def _write(self, text: str) -> None:
        line = self.ledger.seal(text).encode("utf-8", "surrogateescape")
        with self._lock:
            if self._descriptor is None:
                return
            try:
                os.write(self._descriptor, line)
            except OSError as exc:  # a full disk: the record is best effort, the job goes on
                log.warning("could not write to the job record %s: %s", self.path, exc.strerror)


def _same_file(path: str, descriptor: int) -> bool:
    try:
        here, there = os.lstat(path), os.fstat(descriptor)
    except OSError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


@dataclass
class DeadJob:
    """What a record of a job that is gone still lists, and the lines that did not verify."""

    path: str
    descriptor: int
    workdir: Optional[str] = None
    pending: list[str] = field(default_factory=list)
    proxies: list[str] = field(default_factory=list)
    held: list[tuple[str, str]] = field(default_factory=list)
    """(kind, value) the job held and never released (``JobRecord.hold``)."""
    forged: int = 0

    @classmethod
    def read(cls, ledger: Ledger, path: str, descriptor: int) -> DeadJob:
        dead = cls(path, descriptor)
        with os.fdopen(os.dup(descriptor), "r", encoding="utf-8", errors="surrogateescape") as handle:
            lines = handle.read().splitlines()
        listed: dict[str, None] = {}
        proxies: dict[str, None] = {}
        held: dict[tuple[str, str], None] = {}
        for raw in lines:
            text = ledger.opened(raw)
            if text is None:
                dead.forged += 1
                continue
            mark, _, value = text.partition(" ")
            if mark == "workdir":
                dead.workdir = value
            elif mark == "+":
                listed[value] = None
            elif mark == "-":
                listed.pop(value, None)
            elif mark == "proxy":
                proxies[value] = None
            elif mark == "noproxy":
                proxies.pop(value, None)
            elif mark in ("hold", "release"):
                kind, _, thing = value.partition(" ")
                if mark == "hold":
                    held[(kind, thing)] = None
                else:
                    held.pop((kind, thing), None)
        dead.pending = [url for url in listed if is_temporary(url.rstrip("/").rsplit("/", 1)[-1])]
        dead.forged += len(listed) - len(dead.pending)  # listed, but not named as ours: never removed
        dead.proxies = [p for p in proxies if os.path.basename(p).startswith(_PROXY_PREFIX)]
        dead.held = list(held)
        return dead

    def temporary_workdir(self) -> Optional[str]:
        """The work dir, when it is one the command made in the system temp dir (removed whole)."""
        if not self.workdir:
            return None
        parent, name = os.path.split(os.path.normpath(self.workdir))
        if name.startswith(TEMPORARY_WORKDIR_PREFIX) and os.path.realpath(parent) == os.path.realpath(
            tempfile.gettempdir()
        ):
            return self.workdir
        return None

    def leave(self) -> None:
        """Let go of the record unchanged (it was only looked at)."""
        os.close(self.descriptor)

    def done(self, remaining: list[str], ledger: Ledger, still_held: Sequence[tuple[str, str]] = ()) -> None:
        """Delete the record, or keep only ``remaining`` temporary copies and ``still_held``
        (what could not be removed yet)."""
        try:
            if remaining or still_held:
                temporary = self.path + ".new"
                with open(temporary, "w", encoding="utf-8", errors="surrogateescape") as handle:
                    if self.workdir:  # the next job still sweeps the dead job's work dir
                        handle.write(ledger.seal(f"workdir {self.workdir}"))
                    handle.writelines(ledger.seal(f"proxy {path}") for path in self.proxies)
                    handle.writelines(ledger.seal(f"+ {url}") for url in remaining)
                    handle.writelines(ledger.seal(f"hold {kind} {value}") for kind, value in still_held)
                os.replace(temporary, self.path)
            else:
                os.unlink(self.path)
        except OSError as exc:
            log.debug("could not rewrite the job record %s: %s", self.path, exc)
        finally:
            os.close(self.descriptor)


def _remove_stale_scratch(directory: str) -> None:
    """Scratch keys killed jobs left (``key.PID.XXXX.scratch``, older than an hour)."""
    now = time.time()
    for entry in os.scandir(directory):
        if entry.name.startswith(KEY_NAME + ".") and entry.name.endswith(_SCRATCH):
            try:
                if now - entry.stat(follow_symlinks=False).st_mtime > _SCRATCH_AGE:
                    os.unlink(entry.path)
            except OSError:
                continue
