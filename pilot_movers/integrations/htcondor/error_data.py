"""Our errors as HTCondor's ``TransferErrorData`` (HTCondor's manual, "Transfer Error Data"):
an ``ErrorType`` with its required attributes, ``ErrorCode`` (our code: PanDA's number where one
exists, docs/errors.md), ``ErrorString`` and ``Retryable`` (0: a retry may help, -1: it will not),
from the error's class and its ``transient`` flag.

    Specification   the file is not there, or cannot be created there (NOSUCHFILE, FILEEXISTS...)
    Authorization   the server refused our credential, or we have none that works
    Contact         the server did not answer (SERVICENOTAVAILABLE, an endpoint offline)
    Transfer        started and did not complete, or failed verification (timeouts, stalls, no
                    space, a checksum or size mismatch, anything else)
    Parameter       the request or the plugin's configuration cannot be used
"""

from __future__ import annotations

from typing import Any, Optional

from pilot_movers.errors import (
    AuthenticationFailed,
    BadJobParameters,
    ConfigurationError,
    CredentialError,
    DestinationExists,
    DestinationNotWritable,
    GlobusSystemError,
    MakeDirFailed,
    MoverError,
    NoSpace,
    ServiceUnavailable,
    SourceNotFound,
    TransferStalled,
    TransferTimeout,
    UnknownChecksumType,
    UnsafeSource,
)
from pilot_movers.version import __version__

_SPECIFICATION = (SourceNotFound, DestinationExists, DestinationNotWritable, MakeDirFailed, UnsafeSource)
_PARAMETER = (ConfigurationError, BadJobParameters, UnknownChecksumType)


def error_data(error: MoverError, *, refreshable: bool = False, attempt: Optional[int] = None) -> dict[str, Any]:
    """One ``TransferErrorData`` entry for ``error``. ``refreshable``: the credential came from
    ``$_CONDOR_CREDS``, so HTCondor may fetch a fresh one (``ShouldRefresh``)."""
    server = error.endpoint or "Unknown"
    entry: dict[str, Any] = {}
    if isinstance(error, _PARAMETER):
        entry.update(ErrorType="Parameter", PluginVersion=__version__, PluginLaunched=True)
    elif isinstance(error, _SPECIFICATION):
        entry.update(ErrorType="Specification", FailedServer=server)
    elif isinstance(error, (AuthenticationFailed, CredentialError)):
        refused = isinstance(error, AuthenticationFailed)
        entry.update(
            ErrorType="Authorization",
            FailedServer=server,
            FailureType="Authorization" if refused else "Authentication",
            ShouldRefresh=refreshable,
        )
    elif isinstance(error, (ServiceUnavailable, GlobusSystemError)):
        entry.update(ErrorType="Contact", FailedServer=server)
    else:
        entry.update(ErrorType="Transfer", FailedServer=server)
        if isinstance(error, TransferStalled):
            entry["FailureType"] = "TooSlow"
        elif isinstance(error, TransferTimeout):
            entry["FailureType"] = "TimedOut"
        elif isinstance(error, NoSpace):
            entry["FailureType"] = "NoSpace"
    entry.update(
        ErrorCode=error.code,
        ErrorString=str(error),
        Retryable=0 if error.transient else -1,
        DeveloperData=_developer_data(error, attempt),
    )
    return entry


def _developer_data(error: MoverError, attempt: Optional[int]) -> dict[str, Any]:
    data: dict[str, Any] = {"PilotMoversError": type(error).__name__, "PilotMoversErrorName": error.name}
    if attempt is not None:
        data["Attempt"] = attempt
    return data
