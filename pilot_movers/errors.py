"""The error tree: every failure carries a stable code, a name, a scope and whether a retry can help.

Codes are PanDA pilot codes (``pilot/common/errorcodes.py``) where one exists, so a pilot can hand
them to the PanDA server unchanged. Codes of 9000 and above are pilot-movers' own, for failures
PanDA has no number for. Several PanDA codes come in stage-in / stage-out pairs (timeouts,
checksum mismatches, authentication): such an error picks the code of the phase it happened in.
"""

from __future__ import annotations

import enum
from typing import Any, ClassVar, Optional, Sequence, TypeVar

#: code -> name, for every code this library can report.
CODE_NAMES: dict[int, str] = {
    1098: "NOLOCALSPACE",
    1099: "STAGEINFAILED",
    1103: "NOSUCHFILE",
    1137: "STAGEOUTFAILED",
    1141: "PUTMD5MISMATCH",
    1145: "GETMD5MISMATCH",
    1151: "STAGEINTIMEOUT",
    1152: "STAGEOUTTIMEOUT",
    1163: "NOPROXY",
    1165: "MISSINGOUTPUTFILE",
    1171: "GETADMISMATCH",
    1172: "PUTADMISMATCH",
    1180: "GETGLOBUSSYSERR",
    1181: "PUTGLOBUSSYSERR",
    1199: "MKDIR",
    1201: "SIGTERM",
    1202: "SIGQUIT",
    1208: "SIGINT",
    1211: "MISSINGINSTALLATION",
    1221: "FILEEXISTS",
    1305: "PAYLOADEXECUTIONFAILURE",
    1313: "NOSTORAGEPROTOCOL",
    1314: "UNKNOWNCHECKSUMTYPE",
    1319: "INTERNALPILOTPROBLEM",
    1323: "UNKNOWNCOPYTOOL",
    1324: "SERVICENOTAVAILABLE",
    1333: "NOREMOTESPACE",
    1338: "STAGEINAUTHENTICATIONFAILURE",
    1341: "BADQUEUECONFIGURATION",
    1366: "CHECKSUMCALCFAILURE",
    1367: "COMMANDTIMEDOUT",
    1373: "CERTIFICATEHASEXPIRED",
    1382: "PROXYTOOSHORT",
    1383: "STAGEOUTAUTHENTICATIONFAILURE",
    9001: "BADJOBPARAMETERS",
    9002: "TRANSFERCANCELLED",
    9003: "SIZEMISMATCH",
    9004: "UNSAFESOURCE",
    9005: "DESTINATIONNOTWRITABLE",
    9006: "TRANSFERREFUSED",
}


#: code -> what a pilot operator does about it, one sentence each (docs/errors.md lists the same
#: table; a test holds every code of CODE_NAMES to having one, and the doc to this table).
CODE_ADVICE: dict[int, str] = {
    1098: "Free space on the work dir's disk or give the queue a work dir on a larger one; "
    "a retry on this node fails the same way.",
    1099: "Read the transport's message: a stage-in failure no narrower code covers; "
    "check the source storage from this node (pilot-movers doctor).",
    1103: "Check that the input exists at the source URL (the job's dir-in, replicas or catalogue "
    "may be stale); no retry will find it.",
    1137: "Read the transport's message: a stage-out failure no narrower code covers; "
    "check the destination storage from this node (pilot-movers doctor).",
    1141: "The uploaded copy's MD5 differs from the output's and the copy was removed: check the "
    "destination storage and this node's disk, then rerun the job.",
    1145: "If the message says the source differs, fix the replica or the catalogue's MD5; "
    "otherwise the copy was damaged on the way and a rerun may succeed.",
    1151: "The download ran past its time allowance or stalled: check the source storage and the "
    "network from this node, or raise [transfer] timeout_per_mb / stall_timeout for slow links.",
    1152: "The upload ran past its time allowance or stalled: check the destination storage and the "
    "network from this node, or raise [transfer] timeout_per_mb / stall_timeout for slow links.",
    1163: "Give the job a usable proxy: X509_USER_PROXY (or the [myproxy] settings) must name a "
    "readable, unexpired proxy (pilot-movers proxy-info shows it).",
    1165: "The payload did not write this output in the work dir: check the payload's own log and "
    "the job's files-out names.",
    1171: "If the message says the source differs, fix the replica or the catalogue's adler32; "
    "otherwise the copy was damaged on the way and a rerun may succeed.",
    1172: "The uploaded copy's adler32 differs from the output's and the copy was removed: check the "
    "destination storage and this node's disk, then rerun the job.",
    1180: "Check that the Globus endpoints are online and the worker's Globus Connect Personal can "
    "start (pilot-movers doctor); a later retry may succeed.",
    1181: "Check that the Globus endpoints are online and the worker's Globus Connect Personal can "
    "start (pilot-movers doctor); a later retry may succeed.",
    1199: "Check the destination path and that the job's credential may create directories under its parent.",
    1201: "The job was stopped by SIGTERM: look at the batch system's limits (wall time, memory) or "
    "at whoever stopped the pilot.",
    1202: "The job was stopped by SIGQUIT: look at whoever stopped the pilot.",
    1208: "The job was stopped by SIGINT (an interrupt): look at whoever stopped the pilot.",
    1211: "Install the dependency the message names (pilot-movers movers shows each mover's state), "
    "or name another copytool in the queue config.",
    1221: "The destination already holds this file: remove it, give the output another name, or set "
    "[transfer] overwrite = true if replacing it is intended.",
    1305: "The payload exited non-zero: read the payload's own output; the data movement did not fail.",
    1313: "No installed mover serves this URL's scheme: install one that does (pilot-movers movers "
    "lists each mover's schemes) or correct the URL.",
    1314: "Use adler32 or md5 for the job's checksums and [transfer] checksum_algorithm.",
    1319: "A bug in pilot-movers or a mover: report it with the job's report and a log made with -v.",
    1323: "Name an installed mover as the queue's copytool (pilot-movers movers lists them).",
    1324: "The server refused, dropped or did not answer the connection: check that it is up and "
    "reachable from this node (pilot-movers doctor); a later retry may succeed.",
    1333: "The destination storage is full or over quota: ask its admins for space, or send the outputs elsewhere.",
    1338: "The source refused the job's credential: check that the proxy's identity (pilot-movers "
    "proxy-info) is allowed to read there (grid-mapfile, VOMS role, token scope).",
    1341: "Correct the queue config or the node setup the message names; pilot-movers doctor checks both.",
    1366: "Check that the storage can compute this checksum (or choose another [transfer] "
    "checksum_algorithm) and that the file is readable.",
    1367: "The payload ran past its time limit and was killed: raise --payload-timeout, or find out why it ran long.",
    1373: "Renew the expired proxy or certificate the message names (the pilot's proxy, or the "
    "user's credential in MyProxy).",
    1382: "Give the job a proxy with more time left than [credentials] min_lifetime: renew it, or lower the setting.",
    1383: "The destination refused the job's credential: check that the proxy's identity "
    "(pilot-movers proxy-info) is allowed to write there (grid-mapfile, VOMS role, token scope).",
    9001: "Correct the job parameter the message names; pilot-movers run --dry-run checks them without moving data.",
    9002: "The transfer was cancelled because the job was stopping: look at why it was stopped.",
    9003: "If the message says the source is not the size the job expects, fix the replica or the "
    "catalogue; otherwise the copy was cut short and a rerun may succeed.",
    9004: "The payload left this output as a symbolic link: have it write the file itself.",
    9005: "The destination refuses writes: check that its path is writable for the job's credential "
    "(permissions, a read-only file system).",
    9006: "Choose endpoints the service can transfer between (the message names both sides), not two "
    "personal endpoints.",
}

#: The advice for a code this library does not define.
UNKNOWN_ADVICE = "Read the message; the code is not one pilot-movers defines."

#: Where PanDA Pilot 3 (3.7) reports a failure under another code than this library's: a missing
#: input is its MISSINGINPUTFILE, and codes it lacks become the one it uses for that failure
#: (``integrations.pilot3_codes`` says why; a test holds this table to the real ``ErrorCodes``).
PANDA_INSTEAD: dict[int, tuple[int, str]] = {
    1103: (1331, "MISSINGINPUTFILE"),
    1208: (1200, "KILLSIGNAL"),
    1382: (1370, "VOMSPROXYABOUTTOEXPIRE"),
    1383: (1338, "STAGEINAUTHENTICATIONFAILURE"),
}


def code_name(code: int) -> str:
    """The name of a code, ``UNKNOWN`` for a code this library does not define."""
    return CODE_NAMES.get(code, "UNKNOWN")


def code_advice(code: int) -> str:
    """What a pilot operator does about a code, in one sentence."""
    return CODE_ADVICE.get(code, UNKNOWN_ADVICE)


class Phase(str, enum.Enum):
    """The step of a job an error happened in."""

    SETUP = "setup"
    CREDENTIALS = "credentials"
    STAGE_IN = "stage-in"
    PAYLOAD = "payload"
    STAGE_OUT = "stage-out"
    CLEANUP = "cleanup"


class Scope(str, enum.Enum):
    """Which side of a transfer (or which part of the job) an error belongs to, as FTS3 tags them."""

    SOURCE = "source"
    DESTINATION = "destination"
    TRANSFER = "transfer"
    CREDENTIAL = "credential"
    CONFIGURATION = "configuration"
    PAYLOAD = "payload"
    JOB = "job"


class MoverError(Exception):
    """Root of every error the library raises on purpose. Immutable once made.

    Subclasses set ``code_in``/``code_out`` (the PanDA code for a stage-in or a stage-out failure;
    one value when the phase does not matter), the default ``transient`` flag and ``scope``.
    Context the raiser did not know (``phase``, ``file``, ``endpoint``) is added by ``bind``,
    which returns a copy: one error that hits several files gives each file its own record.
    """

    code_in: ClassVar[int] = 1099
    code_out: ClassVar[int] = 1137
    default_transient: ClassVar[bool] = False
    default_scope: ClassVar[Scope] = Scope.TRANSFER
    #: The mover saw why nothing moved (a remote end that does not answer): said instead of a
    #: stall the clock detected.
    explains_stall: ClassVar[bool] = False

    message: str
    transient: bool
    scope: Scope
    phase: Optional[Phase]
    file: Optional[str]
    endpoint: Optional[str]
    errno: Optional[int]

    def __init__(
        self,
        message: str,
        *,
        transient: Optional[bool] = None,
        scope: Optional[Scope] = None,
        phase: Optional[Phase] = None,
        file: Optional[str] = None,
        endpoint: Optional[str] = None,
        errno: Optional[int] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.transient = self.default_transient if transient is None else transient
        self.scope = self.default_scope if scope is None else scope
        self.phase = phase
        self.file = file
        self.endpoint = endpoint
        self.errno = errno

    def __setattr__(self, name: str, value: Any) -> None:
        # Each attribute is set once, by __init__; Python's own (__traceback__, __cause__...) stay free.
        if not name.startswith("__") and name in self.__dict__:
            raise AttributeError(f"{type(self).__name__} is immutable: use replace() or bind() for a changed copy")
        super().__setattr__(name, value)

    @property
    def code(self) -> int:
        return self.code_out if self.phase is Phase.STAGE_OUT else self.code_in

    @property
    def name(self) -> str:
        return code_name(self.code)

    @property
    def advice(self) -> str:
        """What a pilot operator does about this failure, one sentence (``CODE_ADVICE``)."""
        return code_advice(self.code)

    def replace(self: E, **changes: Any) -> E:
        """A copy with ``changes`` applied (any attribute set by ``__init__``)."""
        unknown = set(changes) - set(self.__dict__)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no attribute(s) {', '.join(sorted(unknown))}")
        clone = type(self).__new__(type(self))
        clone.args = self.args
        clone.__dict__.update(self.__dict__)
        clone.__dict__.update(changes)
        clone.__cause__ = self.__cause__
        return clone

    def bind(
        self: E,
        *,
        phase: Optional[Phase] = None,
        file: Optional[str] = None,
        endpoint: Optional[str] = None,
    ) -> E:
        """This error with context the raiser did not know; values already set are kept.
        Returns a copy when anything changes, so a shared error is never altered."""
        changes = {
            key: value
            for key, value in (("phase", phase), ("file", file), ("endpoint", endpoint))
            if value is not None and getattr(self, key) is None
        }
        return self.replace(**changes) if changes else self

    def __str__(self) -> str:
        where = []
        if self.file:
            where.append(f"file {self.file}")
        if self.endpoint:
            where.append(f"at {self.endpoint}")
        prefix = f"{self.name} ({self.code})"
        return f"{prefix}: {self.message}" + (f" [{', '.join(where)}]" if where else "")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))

    @property
    def panda_code(self) -> tuple[int, str]:
        """The code and name PanDA (Pilot 3 3.7) reports this failure under: most are this
        library's own; this library's 9001-9006 are its STAGEINFAILED/STAGEOUTFAILED."""
        if self.code in PANDA_INSTEAD:
            return PANDA_INSTEAD[self.code]
        if self.code >= 9000 or self.code not in CODE_NAMES:
            return (1137, "STAGEOUTFAILED") if self.phase is Phase.STAGE_OUT else (1099, "STAGEINFAILED")
        return self.code, self.name

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "panda_code": self.panda_code[0],
            "panda_name": self.panda_code[1],
            "message": self.message,
            "transient": self.transient,
            "scope": self.scope.value,
            "phase": self.phase.value if self.phase else None,
            "file": self.file,
            "endpoint": self.endpoint,
            "errno": self.errno,
            "type": type(self).__name__,
            "advice": self.advice,
        }


E = TypeVar("E", bound=MoverError)


def _rebuild(cls: type[MoverError], args: tuple[Any, ...], state: dict[str, Any]) -> MoverError:
    """Unpickle without calling ``__init__`` (subclasses take other arguments)."""
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


# -- transfers -----------------------------------------------------------------------------


class TransferFailed(MoverError):
    """A transfer failed for a reason no narrower class describes."""


class SourceNotFound(MoverError):
    """The file to copy does not exist. Never retried."""

    code_in = 1103
    code_out = 1165
    default_scope = Scope.SOURCE


class UnsafeSource(MoverError):
    """A local file the job must not read as it stands: an output that is a symbolic link (it
    would upload the link's target). Never retried."""

    code_in = code_out = 9004
    default_scope = Scope.SOURCE


class DestinationNotWritable(MoverError):
    """The destination refuses writes (a read-only file system, no write permission there): the
    same code on every transport, a destination error and not an authentication failure. Never
    retried."""

    code_in = code_out = 9005
    default_scope = Scope.DESTINATION


class DestinationExists(MoverError):
    """The destination already holds a file and overwriting is off. Never retried."""

    code_in = code_out = 1221
    default_scope = Scope.DESTINATION


class AuthenticationFailed(MoverError):
    """The server refused our credential (unknown DN, no permission). Never retried."""

    code_in = 1338
    code_out = 1383


class ServiceUnavailable(MoverError):
    """The server could not be reached or answered that it is busy. Retried."""

    code_in = code_out = 1324
    default_transient = True


class NoSpace(MoverError):
    """No space left where the file is being written."""

    code_in = 1098
    code_out = 1333
    default_scope = Scope.DESTINATION


class MakeDirFailed(MoverError):
    """A destination directory could not be created."""

    code_in = code_out = 1199
    default_scope = Scope.DESTINATION


class TransferTimeout(MoverError):
    """A transfer ran past its total time allowance and was cancelled. Retried."""

    code_in = 1151
    code_out = 1152
    default_transient = True


class TransferStalled(TransferTimeout):
    """A transfer made no progress for the stall interval and was cancelled. Retried."""


class TransferCancelled(MoverError):
    """A transfer was cancelled from outside (job terminated, phase aborted)."""

    code_in = code_out = 9002


class SizeMismatch(MoverError):
    """The destination does not hold as many bytes as the source: a truncated copy. Retried."""

    code_in = code_out = 9003
    default_transient = True
    default_scope = Scope.DESTINATION


def _checksum_code(algorithm: str, phase: Optional[Phase]) -> int:
    stage_out = phase is Phase.STAGE_OUT
    if algorithm == "md5":
        return 1141 if stage_out else 1145
    return 1172 if stage_out else 1171


class ChecksumMismatch(MoverError):
    """The engine's verdict on a copy whose checksum does not agree; the copy is removed. Its
    ``scope`` says whose fault it is: ``SOURCE`` when the source itself is not what the job
    expects (never retried: the same source gives the same bytes again), ``DESTINATION`` when the
    copy was damaged on the way (retried: a new copy can cure it). Only the engine makes one (from
    a mover's ``ChecksumsDiffer``, the subclass a mover reports what it saw with)."""

    default_scope = Scope.DESTINATION

    def __init__(self, message: str, *, algorithm: str = "adler32", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.algorithm = algorithm

    @property
    def code(self) -> int:
        return _checksum_code(self.algorithm, self.phase)


class ChecksumsDiffer(ChecksumMismatch):
    """What a mover saw, not yet a verdict: a checksum it compared (or its client library, its
    tool, the server compared for it) did not agree, in the mover's own words.

    ``source_differs``: True when what differed is the source itself against the job's expected
    value (a file the job uploads, a source whose checksum the tool read first); False when it is
    the copy (against its source or the expected value); None when the mover cannot tell. Inside
    a job the engine turns it into a plain ``ChecksumMismatch``: it looks at the source when the
    job gave an expected value, and decides scope and retry. Raised outside the engine (the
    ``datahost`` command's client), it is the mismatch it reads as: a retry is presumed to help
    only when the mover saw the copy differ from its source.
    """

    def __init__(
        self, message: str, *, algorithm: str = "adler32", source_differs: Optional[bool] = None, **kwargs: Any
    ) -> None:
        if kwargs.get("transient") is None:
            kwargs["transient"] = source_differs is False
        if kwargs.get("scope") is None:
            kwargs["scope"] = Scope.SOURCE if source_differs else Scope.DESTINATION
        super().__init__(message, algorithm=algorithm, **kwargs)
        self.source_differs = source_differs


class ChecksumUnavailable(MoverError):
    """A checksum could not be computed or the server does not support it."""

    code_in = code_out = 1366


class UnknownChecksumType(MoverError):
    """A checksum algorithm this library does not know."""

    code_in = code_out = 1314
    default_scope = Scope.CONFIGURATION


class GlobusSystemError(MoverError):
    """The Globus service, an endpoint or the worker's Globus Connect Personal failed (a task
    fault, an endpoint that does not answer). Retried."""

    code_in = 1180
    code_out = 1181
    default_transient = True


class EndpointNotAnswering(GlobusSystemError):
    """An endpoint does not answer the service (it is offline: the task waits in
    ``CONNECT_FAILED``), which is why no byte moved. Retried; said instead of the stall."""

    explains_stall = True


class WorkerEndpointFailed(GlobusSystemError):
    """The worker node's Globus Connect Personal endpoint could not be made ready: the program
    is missing or failed, it never connected, or another one of this user runs on the node."""


class TransferRefused(MoverError):
    """A transfer the service would refuse, refused before submission (two personal
    endpoints, say); the message names both sides. Never retried."""

    code_in = code_out = 9006


class PhaseAborted(MoverError):
    """Remaining transfers of a phase were not started because most of the phase had failed."""


class PhaseFailed(MoverError):
    """A stage-in or stage-out phase ended with failed files. Carries the code, name, scope and
    retryability of the first failure, the failures themselves (typed), and counts the rest."""

    def __init__(self, phase: Phase, failures: Sequence[MoverError], total: int) -> None:
        if not failures:
            raise ValueError("PhaseFailed needs at least one failure")
        first = failures[0]
        super().__init__(
            f"{len(failures)} of {total} file(s) failed; first: {first.file}: "
            f"{first.name} ({first.code}): {first.message}",
            phase=phase,
            transient=all(f.transient for f in failures),
            scope=first.scope,
            file=first.file,
            endpoint=first.endpoint,
        )
        self.failures: tuple[MoverError, ...] = tuple(failures)
        self.total = total

    @property
    def code(self) -> int:
        return self.failures[0].code


# -- configuration and installation --------------------------------------------------------


class ConfigurationError(MoverError):
    """Queue configuration that cannot be used (unknown key, bad value, no mover for a scheme)."""

    code_in = code_out = 1341
    default_scope = Scope.CONFIGURATION


class UnknownMover(ConfigurationError):
    """No mover of that name is installed."""

    code_in = code_out = 1323


class MoverUnavailable(ConfigurationError):
    """The mover is known but one of its dependencies is not installed."""

    code_in = code_out = 1211


class NoMoverForScheme(ConfigurationError):
    """No installed mover handles a location's URL scheme."""

    code_in = code_out = 1313


class BadJobParameters(MoverError):
    """Job parameters that cannot be used (``job_params.JobParamsError`` is one, naming the token)."""

    code_in = code_out = 9001
    default_scope = Scope.CONFIGURATION


class UnknownEndpoint(BadJobParameters):
    """A Globus endpoint name that matches no endpoint, or more than one."""


# -- credentials ---------------------------------------------------------------------------


class CredentialError(MoverError):
    """A proxy or token problem, found before or between transfers."""

    code_in = code_out = 1163
    default_scope = Scope.CREDENTIAL


class NoProxy(CredentialError):
    """No usable proxy: missing, unreadable, not a proxy, or refused by MyProxy."""


class ProxyTooShort(CredentialError):
    """The proxy expires before the job can be expected to finish."""

    code_in = code_out = 1382


class ProxyExpired(CredentialError):
    """The proxy (or a certificate in its chain) has expired."""

    code_in = code_out = 1373


class CredentialRefused(CredentialError):
    """The service refused the job's OAuth2 client or refresh token (a bad client secret, a
    revoked or expired refresh token), or the job has none. Never retried."""

    code_in = 1338
    code_out = 1383


# -- the job -------------------------------------------------------------------------------


class PayloadFailed(MoverError):
    """The payload exited with a non-zero status."""

    code_in = code_out = 1305
    default_scope = Scope.PAYLOAD

    def __init__(self, message: str, *, exit_code: Optional[int] = None, report: Any = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.exit_code = exit_code
        self.report = report


class PayloadTimeout(PayloadFailed):
    """The payload ran past its time limit and was killed."""

    code_in = code_out = 1367


class JobTerminated(MoverError):
    """The pilot was told to stop (SIGTERM, SIGINT, SIGQUIT) while the job ran."""

    default_scope = Scope.JOB
    _SIGNAL_CODES: ClassVar[dict[str, int]] = {"SIGTERM": 1201, "SIGQUIT": 1202, "SIGINT": 1208}

    def __init__(self, signal_name: str, **kwargs: Any) -> None:
        super().__init__(f"job terminated by {signal_name}", **kwargs)
        self.signal_name = signal_name

    @property
    def code(self) -> int:
        return self._SIGNAL_CODES.get(self.signal_name, 1201)


class InternalError(MoverError):
    """A bug in this library or in a mover: an exception that is not a MoverError."""

    code_in = code_out = 1319


def as_mover_error(exc: BaseException, *, phase: Optional[Phase] = None) -> MoverError:
    """``exc`` bound to ``phase`` if it is a MoverError, otherwise wrapped as an InternalError."""
    if isinstance(exc, MoverError):
        return exc.bind(phase=phase)
    return InternalError(f"{type(exc).__name__}: {exc}", phase=phase)
