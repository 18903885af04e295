"""Plain values every layer shares: where a file is, what to move, and what happened.

All frozen dataclasses with ``to_dict()`` for the JSON report.
"""

from __future__ import annotations

import enum
import functools
import logging
import posixpath
import re
import signal
import sys
from dataclasses import dataclass, field, replace
from importlib import metadata
from typing import Any, Mapping, Optional
from urllib.parse import urlsplit

from pilot_movers.checksums import Checksum
from pilot_movers.errors import JobTerminated, MoverError, Phase, TransferCancelled

log = logging.getLogger(__name__)

#: The scheme of a Globus ``ENDPOINT:/path`` pair: the job parameters' own form (sendJob's
#: ``--StageinGOsrc``, ``globus-endpoint-in=``); how it is written is the Globus mover's
#: (``pilot_movers.globus.locations``).
GLOBUS = "globus"

#: Entry points naming how a scheme's locations are written where they differ from
#: ``scheme://host:port/path`` (``SCHEME = module:FORM``, a ``LocationForm``): the transport
#: that knows the form says so, the core holds none.
LOCATION_FORMS_GROUP = "pilot_movers.locations"


class LocationForm:
    """How one scheme's locations are written, where that differs from ``scheme://host:port/path``.

    A mover distribution gives one per scheme as an entry point in ``pilot_movers.locations``
    (its module imports nothing heavy: the form is needed to read a job's parameters before any
    mover is imported). The default methods are the generic form."""

    def parse_bare(self, text: str) -> Optional[Location]:
        """``text`` with no ``://`` in this form's own notation, else None."""
        return None

    def path_from_url(self, path: str) -> str:
        """The location's path from a URL's path component."""
        return path

    def url(self, location: Location) -> str:
        return f"{location.scheme}://{location.netloc}{location.path}"

    def server(self, location: Location) -> str:
        """What a message names as where (``scheme://host:port``, an endpoint)."""
        return f"{location.scheme}://{location.netloc}"


_GENERIC = LocationForm()


@functools.cache
def location_forms() -> Mapping[str, LocationForm]:
    """The installed location forms by scheme, loaded once. An entry point that cannot be loaded
    (a third party's module gone, a broken install) is logged and left out: its scheme is read
    the generic way, every other location as before. The signal mask is restored after loading,
    as the registry does for movers (a library imported there may change it)."""
    if sys.version_info >= (3, 10):
        entry_points = list(metadata.entry_points(group=LOCATION_FORMS_GROUP))
    else:  # pragma: no cover - Python 3.9
        entry_points = list(metadata.entry_points().get(LOCATION_FORMS_GROUP, []))
    forms: dict[str, LocationForm] = {}
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    try:
        for entry_point in entry_points:
            try:
                form = entry_point.load()
            except Exception as exc:  # noqa: BLE001 - one broken form must not break every location
                log.warning("location form %s = %s cannot be loaded: %s", entry_point.name, entry_point.value, exc)
                continue
            if not isinstance(form, LocationForm):
                log.warning(
                    "location form %s = %s is not a LocationForm: left out", entry_point.name, entry_point.value
                )
                continue
            forms[entry_point.name] = form
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    return forms


def _form(scheme: str) -> LocationForm:
    return location_forms().get(scheme, _GENERIC)


@dataclass(frozen=True)
class Location:
    """A URL (``gsiftp://host:port/path``, ``file:///path``), or a location in a form a mover
    distribution declares (``LocationForm``: XRootD's ``root://host:port//path``, Globus's
    ``ENDPOINT:/path`` pair with the endpoint held in ``netloc``).

    ``path`` is always absolute; how it is written in a URL is a matter of rendering.
    """

    scheme: str
    netloc: str
    path: str

    def __post_init__(self) -> None:
        if not self.scheme or not re.match(r"^[a-z][a-z0-9+.-]*$", self.scheme):
            raise ValueError(f"bad scheme {self.scheme!r}")
        if not self.path.startswith("/"):
            raise ValueError(f"location path must be absolute, got {self.path!r}")

    @classmethod
    def parse(cls, text: str) -> Location:
        """Parse a URL, a form a mover declares (a Globus ``ENDPOINT:/path``) or an absolute
        local path."""
        text = text.strip()
        if "://" in text:
            parts = urlsplit(text)
            scheme = parts.scheme.lower()
            path = _form(scheme).path_from_url(parts.path or "/")
            if parts.query:
                raise ValueError(f"URL {text!r} has a query string, which is not supported")
            if scheme != "file" and not parts.netloc:
                raise ValueError(f"URL {text!r} has no host")
            return cls(scheme, parts.netloc, path)
        if text.startswith("/"):
            return cls("file", "", text)
        for form in location_forms().values():
            found = form.parse_bare(text)
            if found is not None:
                return found
        raise ValueError(
            f"{text!r} is neither a URL (scheme://host/path), a Globus ENDPOINT:/path nor an absolute local path"
        )

    @classmethod
    def local(cls, path: str) -> Location:
        return cls("file", "", posixpath.normpath(path))

    @property
    def is_local(self) -> bool:
        return self.scheme == "file"

    @property
    def is_globus(self) -> bool:
        return self.scheme == GLOBUS

    @property
    def name(self) -> str:
        """The last component of the path."""
        return posixpath.basename(self.path.rstrip("/"))

    @property
    def parent(self) -> Location:
        return Location(self.scheme, self.netloc, posixpath.dirname(self.path.rstrip("/")) or "/")

    @property
    def url(self) -> str:
        return _form(self.scheme).url(self)

    @property
    def server(self) -> str:
        """What to name in a message about where: ``scheme://host:port`` or the endpoint."""
        if self.scheme == "file":
            return "local disk"
        return _form(self.scheme).server(self)

    def join(self, name: str) -> Location:
        """The location of ``name`` inside this directory."""
        return Location(self.scheme, self.netloc, posixpath.join(self.path, name))

    def sibling(self, name: str) -> Location:
        """The location of ``name`` in the same directory as this file."""
        return self.parent.join(name)

    def __str__(self) -> str:
        return self.url


class Role(str, enum.Enum):
    INPUT = "input"
    OUTPUT = "output"

    @property
    def phase(self) -> Phase:
        """The phase that moves a file of this role."""
        return Phase.STAGE_IN if self is Role.INPUT else Phase.STAGE_OUT


@dataclass(frozen=True)
class FileSpec:
    """One file to move: its logical name, where it comes from and goes to, what to expect.

    ``metadata``: what the job's description says of the file besides (a catalogue's scope, GUID,
    dataset...), carried unchanged to the report; no mover reads it.

    ``alternatives``: other remote ends, in the order to try them when the remote end fails in a
    way another one can cure (``failover``): an input's other replicas, an output's other
    destinations. A mover sees one source and one destination; the phase runner fails over."""

    name: str
    source: Location
    destination: Location
    role: Role = Role.INPUT
    size: Optional[int] = None
    checksum: Optional[Checksum] = None
    metadata: Mapping[str, str] = field(default_factory=dict, hash=False)
    alternatives: tuple[Location, ...] = ()

    def remote(self, phase: Optional[Phase] = None) -> Location:
        """The end that is not this node's disk: where a mover is chosen for, and what an error
        names (both remote: the source of a stage-in, the destination of a stage-out; without a
        phase, the output's destination or the input's source)."""
        if phase is None:
            phase = Phase.STAGE_OUT if self.role is Role.OUTPUT else Phase.STAGE_IN
        if self.source.is_local or (phase is Phase.STAGE_OUT and not self.destination.is_local):
            return self.destination
        return self.source

    def next_alternative(self) -> FileSpec:
        """This file at its first alternative remote end (the source of an input, the destination
        of an output), the others left as its alternatives."""
        if not self.alternatives:
            raise ValueError(f"{self.name} has no alternative to fail over to")
        first, rest = self.alternatives[0], self.alternatives[1:]
        if self.role is Role.OUTPUT:
            return replace(self, destination=first, alternatives=rest)
        return replace(self, source=first, alternatives=rest)

    def to_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "name": self.name,
            "role": self.role.value,
            "source": self.source.url,
            "destination": self.destination.url,
            "size": self.size,
            "checksum": str(self.checksum) if self.checksum else None,
            "metadata": dict(self.metadata),
        }
        if self.alternatives:
            found["alternatives"] = [location.url for location in self.alternatives]
        return found


class Status(str, enum.Enum):
    DONE = "done"
    """Copied and verified during this job."""
    ALREADY_DONE = "already-done"
    """Found complete at the destination (after an ambiguous failure, or an input an earlier run
    of the job had landed in the work dir): not copied again."""
    FAILED = "failed"
    SKIPPED = "skipped"
    """Not attempted: the phase was aborted or the job stopped first."""


@dataclass(frozen=True)
class AttemptRecord:
    """One try at one file: when, how many bytes, how it ended."""

    number: int
    started: float
    ended: float
    bytes: int = 0
    error: Optional[MoverError] = None
    note: str = ""

    @property
    def seconds(self) -> float:
        return max(0.0, self.ended - self.started)

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "started": self.started,
            "ended": self.ended,
            "seconds": round(self.seconds, 6),
            "bytes": self.bytes,
            "error": self.error.to_dict() if self.error else None,
            "note": self.note,
        }


@dataclass(frozen=True)
class FailedOver:
    """A remote end a file was tried at and left, before the one its report ends on: an input's
    replica that failed (or an output's destination), why, and over how many attempts."""

    location: Location
    error: MoverError
    attempts: int = 0
    mover: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.location.url,
            "mover": self.mover,
            "attempts": self.attempts,
            "error": self.error.to_dict(),
            "error_code": self.error.code,
        }


@dataclass(frozen=True)
class FileReport:
    """What happened to one file in one phase, over all its attempts.

    ``checksum`` is the copy's checksum when one is known; ``verified`` says whether it was
    compared with an independent value (the job's expected checksum, or the source's), which is
    not the case when the transport and the storage offer none and the job gave none.
    """

    spec: FileSpec
    status: Status
    bytes: int = 0
    seconds: float = 0.0
    checksum: Optional[Checksum] = None
    attempts: tuple[AttemptRecord, ...] = field(default_factory=tuple)
    error: Optional[MoverError] = None
    mover: str = ""
    verified: bool = False
    failed_over: tuple[FailedOver, ...] = ()
    """The remote ends tried before this report's own (``spec.remote()``), in order."""

    @property
    def ok(self) -> bool:
        return self.status in (Status.DONE, Status.ALREADY_DONE)

    def remote_ends(self) -> list[dict[str, Any]]:
        """Every remote end the file had, in order, and what became of each: ``failed`` (with
        why), then this report's own (``served``, or ``failed``), then ``not tried`` (an earlier
        one served, or the failure was one another end cannot cure)."""
        ends: list[dict[str, Any]] = [{"outcome": "failed", **left.to_dict()} for left in self.failed_over]
        own = {"url": self.spec.remote().url, "mover": self.mover, "attempts": len(self.attempts)}
        if self.ok:
            ends.append({"outcome": "served", **own})
        else:
            error = self.error.to_dict() if self.error else None
            ends.append(
                {"outcome": "failed", **own, "error": error, "error_code": self.error.code if self.error else None}
            )
        if self.ok:
            why = "an earlier one served"
        elif self.status is Status.SKIPPED or isinstance(self.error, (JobTerminated, TransferCancelled)):
            why = "the phase was stopped first"
        else:
            why = "the failure was not one another end can cure"
        ends += [{"outcome": "not tried", "url": location.url, "why": why} for location in self.spec.alternatives]
        return ends

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.spec.to_dict(),
            "status": self.status.value,
            "mover": self.mover,
            "bytes": self.bytes,
            "seconds": round(self.seconds, 6),
            "checksum": str(self.checksum) if self.checksum else None,
            "expected_checksum": str(self.spec.checksum) if self.spec.checksum else None,
            "verified": self.verified,
            "attempts": [a.to_dict() for a in self.attempts],
            "error": self.error.to_dict() if self.error else None,
            "error_code": self.error.code if self.error else None,
            **({"remote_ends": self.remote_ends()} if self.failed_over or self.spec.alternatives else {}),
        }


@dataclass(frozen=True)
class LeftBehind:
    """Something the job made and could not remove (its server was down): a pilot or an
    operator removes it later. ``kind``: ``temporary-file``, ``globus-endpoint``, ...;
    ``location``: a URL, an endpoint id; ``name``, and ``size`` (bytes known to have been
    written there, at least) when known."""

    kind: str
    location: str
    name: str = ""
    size: Optional[int] = None
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "location": self.location,
            "name": self.name,
            "size": self.size,
            "reason": self.reason,
        }
