"""When a file's remote end fails, whether another one can cure it: an input's other replica (Rucio's
and ARC's "retry on another host"), an output's other destination (queuedata ``astorages``).

``may_cure(error, role)`` is the rule; ``phases.run_phase`` applies it once for every caller (the
Job, the Pilot 3 copytool face), after the engine has spent a remote end's attempts on the file.

* An input fails over when the trouble is the source's or the path to it: unreachable, missing,
  refusing, too slow, corrupt (the bytes that arrived do not match the catalogue, which another
  replica may), or skipped because most transfers from that server failed. It does not when the
  trouble is here (no local space, the work dir), in the job (configuration, credentials, a
  signal), or a refusal no other source changes.
* An output fails over when the destination fails in a way another storage may not: unreachable,
  full, read-only, refusing, too slow, a copy that arrived damaged, a phase stopped early. Not
  when the local file is missing or the job is stopping.
"""

from __future__ import annotations

from pilot_movers.errors import (
    AuthenticationFailed,
    ChecksumMismatch,
    ChecksumUnavailable,
    ConfigurationError,
    CredentialError,
    DestinationExists,
    DestinationNotWritable,
    GlobusSystemError,
    JobTerminated,
    MakeDirFailed,
    MoverError,
    NoSpace,
    PhaseAborted,
    Scope,
    ServiceUnavailable,
    SizeMismatch,
    SourceNotFound,
    TransferFailed,
    TransferTimeout,
    UnsafeSource,
)
from pilot_movers.values import Role

#: Failures of an input's source another replica can cure.
_INPUT_CURES = (
    SourceNotFound,
    UnsafeSource,
    ServiceUnavailable,
    TransferTimeout,
    AuthenticationFailed,
    ChecksumMismatch,
    ChecksumUnavailable,
    SizeMismatch,
    GlobusSystemError,
    PhaseAborted,
)

#: Failures of an output's destination another storage can cure.
_OUTPUT_CURES = (
    ServiceUnavailable,
    TransferTimeout,
    AuthenticationFailed,
    NoSpace,
    DestinationNotWritable,
    MakeDirFailed,
    ChecksumMismatch,
    SizeMismatch,
    GlobusSystemError,
    PhaseAborted,
)

#: Never cured elsewhere: the job, its configuration or its credential is the trouble.
_NEVER = (JobTerminated, ConfigurationError, CredentialError, DestinationExists)


def may_cure(error: MoverError, role: Role) -> bool:
    """Whether trying the file at another remote end can cure ``error``."""
    if isinstance(error, _NEVER) or error.scope in (Scope.CONFIGURATION, Scope.CREDENTIAL, Scope.JOB):
        return False
    if role is Role.INPUT:
        if isinstance(error, NoSpace):  # the work dir is full: no replica changes that
            return False
        if isinstance(error, _INPUT_CURES):
            return True
        # a transfer that broke off without a diagnosis: from a source's side, another may work
        return type(error) is TransferFailed and error.scope in (Scope.SOURCE, Scope.TRANSFER)
    if isinstance(error, SourceNotFound):  # the output itself is missing here
        return False
    if isinstance(error, _OUTPUT_CURES):
        return True
    return type(error) is TransferFailed and error.transient and error.scope is not Scope.SOURCE
