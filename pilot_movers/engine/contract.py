"""The contract between the engine and a transport: what one attempt at one file is, what a
transport answers, what it can do, and the storage operations it offers.

A transport (a ``Mover``) is handed a ``Batch`` of ``CopyRequest``s and yields each request
back with its ``AttemptOutcome``: ``Copied`` (bytes written under the temporary name, and the
checksums seen while they streamed) or a ``MoverError``. The engine does everything else:
retries, clocks, verification, placement under the final name, the report.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Iterator, Optional, Protocol, Sequence, Union

from pilot_movers.checksums import Checksum
from pilot_movers.engine.clocks import TransferClock
from pilot_movers.engine.settings import TransferSettings
from pilot_movers.errors import MoverError
from pilot_movers.values import FileSpec, Location


@dataclass(frozen=True)
class CopyRequest:
    """One attempt at one file, as the engine hands it to a transport."""

    spec: FileSpec
    source: Location
    target: Location
    """Where to write: a temporary name in the destination's directory, renamed by the engine
    after verification. Transports must never write to ``spec.destination`` directly."""
    clock: TransferClock
    """Report progress here (``progress``, ``touch``); stop when it is cancelled (``cancelled``,
    ``on_cancel``). A clock starts on the first progress, or on ``start()``."""
    attempt: int
    checksum_algorithm: str = "adler32"
    """The algorithm to verify with when the job expects no particular checksum."""
    size: Optional[int] = None
    """The file's size when known (from the job, or the local source)."""

    @property
    def expected_checksum(self) -> Optional[Checksum]:
        return self.spec.checksum

    @property
    def algorithms(self) -> tuple[str, ...]:
        """Every algorithm the engine may verify this copy with: compute all while streaming."""
        expected = self.expected_checksum
        return tuple(dict.fromkeys([self.checksum_algorithm] + ([expected.algorithm] if expected else [])))


@dataclass(frozen=True)
class Copied:
    """What a transport knows after copying one file: bytes written and checksums of those bytes.

    ``checksums`` were computed while the bytes streamed (or by the server). ``verified`` is True
    when the transport itself compared the copy with the request's expected checksum (or, when
    there is none, with the source) and they matched. ``linked`` is True when no byte was copied
    (a link or a rename of the source itself). The engine computes a checksum in a second pass
    only when it needs one the transport did not give and can.
    """

    bytes: int
    checksums: tuple[Checksum, ...] = ()
    verified: bool = False
    linked: bool = False
    at_target: bool = False
    """``bytes`` and ``checksums`` were taken from the copy itself, where it lies (the server's
    checksum of an upload, XRootD's end-to-end target checksum): the engine does not stat it
    again (a round trip per file on a wide-area link)."""


@dataclass(frozen=True)
class Batch:
    """The files a transport is asked to copy in one call, and the clock of the whole call.

    ``clock`` has one deadline (every file's allowance, shared among ``parallel`` slots), one
    stall detector and one cancel: a task-based transport (one submission for many files) reports
    its progress and hangs its cancel there; cancelling it cancels every file's clock too.
    """

    requests: tuple[CopyRequest, ...]
    clock: TransferClock
    parallel: int
    """How many files may be in flight at once (the job's ``concurrency``)."""


#: The answer to one attempt: the copy, or why it failed.
AttemptOutcome = Union[Copied, MoverError]


class ChecksumSource(str, enum.Enum):
    """Where a transport's checksums come from."""

    STREAMED = "streamed"
    """Computed while the bytes pass through this process (local copies, HTTP, XRootD end to end)."""
    SERVER = "server"
    """The storage computes them (GridFTP CKSM, XRootD query, WebDAV Want-Digest, Globus)."""
    NONE = "none"
    """Nobody can: a file is verified only by its size unless the job gives a checksum."""


class CredentialKind(str, enum.Enum):
    """What a transport authenticates with; the Job checks it before any transfer."""

    X509_PROXY = "x509-proxy"
    BEARER_TOKEN = "bearer-token"
    OAUTH_CLIENT = "oauth-client"
    NONE = "none"


@dataclass(frozen=True)
class Capabilities:
    """What a transport can do, as data: the engine adapts to it, the Job checks credentials by it."""

    checksums: ChecksumSource = ChecksumSource.STREAMED
    atomic_no_clobber_rename: bool = False
    """``rename(overwrite=False)`` fails atomically when the target exists (POSIX link, WebDAV
    MOVE with ``Overwrite: F``); otherwise the engine looks first."""
    batched_stat: bool = False
    """The namespace answers ``stat_many`` in one round trip."""
    credential: CredentialKind = CredentialKind.NONE
    requires_rfc3820: bool = False
    """The service refuses legacy proxies (Globus)."""


@dataclass(frozen=True)
class FileStat:
    size: int
    is_dir: bool = False
    is_link: bool = False
    """The name is a symbolic link (local files; ``size`` and ``is_dir`` are its target's)."""


class Namespace(Protocol):
    """Storage operations on one side of a transfer: what the engine needs to verify and place
    files. ``pilot_movers.LocalNamespace`` for local files; each remote transport its own."""

    def stat(self, location: Location) -> Optional[FileStat]:
        """Size of the file, or None when nothing is there. Raises MoverError on other failures."""

    def checksum(self, location: Location, algorithm: str) -> Checksum:
        """Checksum of the file as stored (computed by the server for remote files)."""

    def rename(self, source: Location, target: Location, *, overwrite: bool) -> None:
        """Move ``source`` to ``target`` in one step. With ``overwrite`` False, a namespace that
        declares ``atomic_no_clobber_rename`` fails with DestinationExists rather than replace."""

    def remove(self, location: Location) -> None:
        """Delete a file; a missing file is not an error."""


class Listing(Protocol):
    """A namespace that can list a directory (``pilot-movers ls``; the engine never lists)."""

    def list_dir(self, location: Location) -> dict[str, FileStat]:
        """Name -> FileStat of each entry of the directory at ``location``; SourceNotFound when
        there is no such directory."""


class BatchStat(Protocol):
    """A namespace that declares ``batched_stat`` also answers this."""

    def stat_many(self, locations: Sequence[Location]) -> list[Optional[FileStat]]: ...


class Transport(Protocol):
    """What the engine needs of a mover (``pilot_movers.Mover`` implements it)."""

    settings: TransferSettings

    @property
    def name(self) -> str: ...

    @property
    def capabilities(self) -> Capabilities: ...

    def copy_batch(self, batch: Batch) -> Iterator[tuple[CopyRequest, AttemptOutcome]]:
        """Copy ``batch.requests``, yielding each request with its outcome as it finishes."""

    def namespace(self, location: Location) -> Namespace: ...

    def committed(self, request: CopyRequest) -> None:
        """Called after the engine renamed the target into place."""

    def translate_exception(self, exc: Exception) -> MoverError:
        """A library exception the transport let escape, as a MoverError."""
