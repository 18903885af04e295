"""The Mover contract: one class per transport, opened once per job, driven by the transfer engine.

A transport implements one of two shapes:

* streaming: ``copy_file(request) -> Copied``: copy ``request.source`` to ``request.target`` (a
  temporary name next to the destination), report progress to ``request.clock``, stop when it is
  cancelled; the engine runs it on worker threads, ``concurrency`` files at a time;
* batch or task: ``copy_batch(batch)``: move many files in one call (XRootD ``CopyProcess``, a
  gfal2 bulk copy, one Globus task), yielding each request with its outcome as it finishes;

and ``remote_namespace(location)``: stat, checksum, rename and remove on its own URLs. It declares
its ``capabilities`` and its ``Options`` (a frozen dataclass: queue config ``[mover:NAME]`` is
parsed into it, and checked, when the queue config is loaded). Its credentials (``self.credentials``)
are handed to it when the job opens it; it never reads them from the environment.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, ClassVar, Iterator, Mapping, Optional

from pilot_movers.config_values import parse_options
from pilot_movers.credentials.bundle import Credentials
from pilot_movers.engine.batch import copy_each
from pilot_movers.engine.contract import (
    AttemptOutcome,
    Batch,
    Capabilities,
    Copied,
    CopyRequest,
    CredentialKind,
    Namespace,
)
from pilot_movers.engine.settings import TransferSettings
from pilot_movers.errors import InternalError, MoverError, NoMoverForScheme
from pilot_movers.job_facts import JobFacts
from pilot_movers.local_namespace import LOCAL
from pilot_movers.standalone import UsedOnItsOwn
from pilot_movers.values import LeftBehind, Location

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NodeCheck:
    """What a mover found when asked whether this node can serve it (``Mover.node_checks``):
    ``check`` names what was looked at, ``message`` what was found, ``fix`` what to do when not
    ``ok``; ``transient``: a failure that may pass by itself (a service down)."""

    check: str
    ok: bool
    message: str
    fix: str = ""
    transient: bool = False


@dataclass(frozen=True)
class NoOptions:
    """The options of a mover that takes none."""


class Mover(UsedOnItsOwn):
    """Base class of every mover.

    A job opens each mover it uses once (``start(credentials)``), runs stage-in and stage-out
    through it, and stops it when the job ends, in every outcome. On its own, a mover is a context
    manager that opens with the environment's credentials: ``with get_mover("local") as m:``.
    """

    #: The name site admins write in queue config (``copytool = gridftp``).
    name: ClassVar[str] = ""
    #: URL schemes this mover can read from or write to (besides local files).
    schemes: ClassVar[tuple[str, ...]] = ()
    #: What the transport can do: where checksums come from, rename semantics, credentials.
    capabilities: ClassVar[Capabilities] = Capabilities()
    #: The options queue config may give (``[mover:NAME]``): a frozen dataclass.
    Options: ClassVar[type] = NoOptions
    #: The port each scheme's URLs reach when they name none (``doctor`` looks at servers there).
    default_ports: ClassVar[Mapping[str, int]] = {}
    #: Whether its locations name a server this node connects to (``host:port``); False when
    #: they name something a service resolves (a Globus endpoint), which ``doctor`` cannot dial.
    names_servers: ClassVar[bool] = True

    def __init__(self, settings: Optional[TransferSettings] = None, options: Any = None, **raw_options: Any) -> None:
        self.settings = settings or TransferSettings()
        if options is None:
            options = self.parse_options(raw_options)
        elif raw_options:
            raise TypeError("give options either parsed (options=) or as keywords, not both")
        self.options = options
        self.credentials = Credentials()
        #: What the job told the mover when it opened it (work dir, job parameters).
        self.job_facts = JobFacts()
        #: What this mover made and could not remove (an endpoint its service kept): the job
        #: lists it in its report. Transports append to it, typically in ``close()``.
        self.left_behind: list[LeftBehind] = []
        self._open = False
        self.setup()

    def service_requests(self) -> Optional[int]:
        """Requests made to a rate-limited service so far (the Globus Transfer API), for the
        report's count per phase; None for a mover that talks to no such service."""
        return None

    def setup(self) -> None:
        """Set up the instance's own attributes (its sessions not yet open: ``open`` does that).
        Override instead of ``__init__``; ``settings`` and ``options`` are there already."""

    @classmethod
    def parse_options(cls, raw: Mapping[str, Any], *, where: Optional[str] = None) -> Any:
        """``raw`` (strings from INI, or JSON values) as this mover's ``Options``; a
        ConfigurationError names any unknown key or bad value."""
        return parse_options(cls.Options, raw, where=where or f"[mover:{cls.name}]")

    @classmethod
    def credential_for(cls, options: Any) -> CredentialKind:
        """What this mover authenticates with under ``options`` (its parsed queue config
        section; None: the defaults). The Job checks a proxy only for movers that use one."""
        return cls.capabilities.credential

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, credentials: Credentials, job_facts: Optional[JobFacts] = None) -> None:
        """Open the mover for a job: keep its credentials and what the job tells it, then
        ``open()``. Once per job. ``open()`` must release what it acquired if it fails."""
        if self._open:
            raise RuntimeError(f"mover {self.name!r} is already open")
        self.credentials = credentials
        self.job_facts = job_facts or JobFacts()
        self.open()
        self._open = True

    def stop(self) -> None:
        """Close the mover (``close()``), once, whatever happened. Never raises."""
        if not self._open:
            return
        self._open = False
        try:
            self.close()
        except Exception:  # close must not hide the job's own outcome
            log.exception("closing mover %s failed", self.name)

    @property
    def is_open(self) -> bool:
        return self._open

    def open(self) -> None:
        """Acquire sessions, contexts or endpoints with ``self.credentials``. Override."""

    def close(self) -> None:
        """Release everything ``open`` acquired. Override; must not raise."""

    # -- what a transport implements -------------------------------------------------------

    def copy_file(self, request: CopyRequest) -> Copied:
        """Copy one file; raise a MoverError on failure."""
        raise NotImplementedError(f"mover {self.name!r} implements neither copy_file nor copy_batch")

    def copy_batch(self, batch: Batch) -> Iterator[tuple[CopyRequest, AttemptOutcome]]:
        """Copy many files, yielding each request with its outcome as it finishes. The default
        runs ``copy_file`` per file on worker threads (``engine.batch.copy_each``)."""
        return copy_each(batch, self.copy_file, translate=self.translate_exception, name=self.name)

    def translate_exception(self, exc: Exception) -> MoverError:
        """Map an exception a transport library raised to a MoverError (override per transport)."""
        return InternalError(f"{type(exc).__name__}: {exc}")

    def committed(self, request: CopyRequest) -> None:
        """Called after the engine renamed the target into place (the local mover's ``move``
        mode removes the source here)."""

    # -- namespaces ------------------------------------------------------------------------

    def namespace(self, location: Location) -> Namespace:
        """Storage operations for ``location``: local files for every mover, and the mover's
        own schemes through ``remote_namespace``."""
        if location.is_local:
            return LOCAL
        if location.scheme not in self.schemes:
            raise NoMoverForScheme(
                f"mover {self.name!r} cannot handle {location.scheme}:// locations "
                f"(it handles {', '.join(self.schemes) or 'local files only'})",
                endpoint=location.server,
            )
        return self.remote_namespace(location)

    def remote_namespace(self, location: Location) -> Namespace:
        raise NoMoverForScheme(f"mover {self.name!r} has no namespace for {location.scheme}://")

    @classmethod
    def library(cls) -> Optional[str]:
        """What the mover is built on, with its version (``XRootD 5.6.4``), as ``doctor`` shows
        it; None: the mover's own distribution says enough."""
        return None

    @classmethod
    def node_checks(cls, options: Any, environ: Mapping[str, str]) -> list[NodeCheck]:
        """What this node must offer the mover besides its library (a service's credentials, a
        helper program), looked at without making anything; ``doctor`` shows each. ``options``:
        the queue's for this mover (None: its defaults)."""
        return []

    @classmethod
    def availability_problem(cls) -> Optional[str]:
        """One sentence saying why this mover cannot run here (a missing library), or None."""
        return None
