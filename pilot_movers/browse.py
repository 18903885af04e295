"""What a storage holds at a URL (``pilot-movers stat`` and ``ls``), asked through the mover that
serves the URL, opened as a job opens it: the environment's credentials, the queue config's
settings and mover options when one is given, every server call under ``operation_timeout``.

    with opened_mover(mover_for(location, queue, None, Phase.STAGE_IN), queue) as mover:
        entry = stat_location(mover, location, settings)

The helpers here (``parse_location``, ``mover_for``, ``opened_mover``) are also ``pilot-movers
cp``'s (``copies``).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Optional

from pilot_movers.base import Mover
from pilot_movers.checksums import Checksum
from pilot_movers.credentials.bundle import Credentials
from pilot_movers.engine.contract import FileStat
from pilot_movers.engine.deadlines import RemoteCalls
from pilot_movers.engine.settings import TransferSettings
from pilot_movers.errors import BadJobParameters, NoMoverForScheme, Phase, SourceNotFound
from pilot_movers.planner import choose_mover
from pilot_movers.queue_config import QueueConfig
from pilot_movers.registry import ResolvedMover, resolve_mover
from pilot_movers.values import Location

log = logging.getLogger("pilot_movers.browse")


@dataclass(frozen=True)
class Entry:
    """A file or directory at ``url``; ``checksum`` when one was asked for."""

    url: str
    name: str
    size: int
    is_dir: bool
    checksum: Optional[Checksum] = None

    def to_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"url": self.url, "name": self.name, "size": self.size, "is_dir": self.is_dir}
        if self.checksum is not None:
            found["checksum"] = {"algorithm": self.checksum.algorithm, "value": self.checksum.value}
        return found

    def line(self) -> str:
        """``ls -l``'s gist: type, size, name (and the checksum)."""
        kind = "d" if self.is_dir else "-"
        checksum = f"  {self.checksum.algorithm}:{self.checksum.value}" if self.checksum else ""
        return f"{kind} {self.size:>15}  {self.url}{checksum}"


def parse_location(text: str) -> Location:
    """A URL, a Globus ``ENDPOINT:/path``, or a local path (made absolute); BadJobParameters
    naming the text when it is none of them."""
    if "://" not in text and (text.startswith(("/", ".")) or ":" not in text):
        path = os.path.abspath(text)
        return Location.local(path + ("/" if text.endswith("/") and path != "/" else ""))
    try:
        return Location.parse(text)
    except ValueError as exc:
        raise BadJobParameters(f"{text}: {exc}") from None


def settings_of(queue: Optional[QueueConfig]) -> TransferSettings:
    return queue.transfer if queue is not None else TransferSettings()


def mover_for(location: Location, queue: Optional[QueueConfig], named: Optional[str], phase: Phase) -> ResolvedMover:
    """``named`` (``--mover``), else the first of the queue's movers for ``phase`` that handles
    the location's scheme, else the scheme's default mover; resolved (installed, usable here:
    else its one sentence)."""
    if named:
        chosen = resolve_mover(named)
        if location.scheme not in chosen.schemes:
            raise NoMoverForScheme(f"mover {named!r} does not handle {location.scheme}:// locations")
        return chosen
    return choose_mover(location.scheme, queue.mover_names(phase) if queue is not None else ())


@contextmanager
def opened_mover(
    chosen: ResolvedMover,
    queue: Optional[QueueConfig],
    settings: Optional[TransferSettings] = None,
    credentials: Optional[Credentials] = None,
) -> Iterator[Mover]:
    """The mover ``chosen`` (``mover_for``'s) with the queue's settings (or ``settings``) and
    mover options, started with ``credentials`` (default: the environment's: X509_USER_PROXY,
    X509_CERT_DIR, bearer tokens, Globus client), stopped after, waited for no longer than
    ``cleanup_timeout`` (a mover whose server froze at its close must not hold a command whose
    work is done).

    A mover option ``mode`` other than ``copy`` (the local mover's ``move`` and ``symlink``, for
    a job's inputs on a shared file system) is set back to ``copy``: these commands copy, and a
    move or a link would take the user's file away or point at it."""
    settings = settings or settings_of(queue)
    options = queue.mover_options(chosen.name) if queue is not None else None
    if options is not None and getattr(options, "mode", "copy") != "copy" and dataclasses.is_dataclass(options):
        options = dataclasses.replace(options, mode="copy")  # type: ignore[type-var]
    mover = chosen.cls(settings, options)
    mover.start(credentials if credentials is not None else Credentials.from_environment())
    try:
        yield mover
    finally:
        stop_within(mover, settings.cleanup_timeout)


def stop_within(mover: Mover, seconds: float) -> None:
    """``mover.stop()`` on a thread of its own, waited for at most ``seconds``."""
    stopping = threading.Thread(target=mover.stop, name=f"pilot-movers-stop-{mover.name}", daemon=True)
    stopping.start()
    stopping.join(seconds)
    if stopping.is_alive():
        log.warning("mover %s did not stop within %g s (cleanup_timeout): left stopping", mover.name, seconds)


def stat_location(
    mover: Mover, location: Location, settings: TransferSettings, *, checksum: Optional[str] = None
) -> Entry:
    """The file or directory at ``location``; SourceNotFound when nothing is there."""
    namespace = mover.namespace(location)
    calls = RemoteCalls(settings.operation_timeout)
    found = _call(calls, location, f"stat of {location.url}", namespace.stat, location)
    if found is None:
        raise SourceNotFound(f"{location.url}: no such file or directory", endpoint=location.server)
    value = None
    if checksum and not found.is_dir:
        value = _call(calls, location, f"{checksum} of {location.url}", namespace.checksum, location, checksum)
    return Entry(location.url, location.name, found.size, found.is_dir, value)


def list_location(mover: Mover, location: Location, settings: TransferSettings) -> list[Entry]:
    """The entries of the directory at ``location``, by name; a file's own entry for a file."""
    namespace = mover.namespace(location)
    calls = RemoteCalls(settings.operation_timeout)
    found = _call(calls, location, f"stat of {location.url}", namespace.stat, location)
    if found is None:
        raise SourceNotFound(f"{location.url}: no such file or directory", endpoint=location.server)
    if not found.is_dir:
        return [Entry(location.url, location.name, found.size, False)]
    list_dir = getattr(namespace, "list_dir", None)  # the optional Listing protocol
    if list_dir is None:
        raise NoMoverForScheme(f"mover {mover.name!r} cannot list directories")
    listed: dict[str, FileStat] = _call(calls, location, f"listing of {location.url}", list_dir, location)
    return [Entry(location.join(name).url, name, stat.size, stat.is_dir) for name, stat in listed.items()]


def _call(calls: RemoteCalls, location: Location, what: str, function: Any, *args: Any) -> Any:
    """A server's answer under ``operation_timeout`` (a frozen server ends the command)."""
    if location.is_local:
        return function(*args)
    return calls.call(location.server, what, function, *args)
