"""pilot-movers: the data movers a grid pilot job loads to stage in, run, stage out and clean up.

Names are imported on first use, so ``import pilot_movers`` stays cheap and a transport's
optional dependencies are only needed by those who use it. Everything a pilot or a third-party
mover needs is here, the errors it raises included (``SourceNotFound`` for a missing source is
NOSUCHFILE, 1103, for PanDA); nothing outside this face is needed to write one.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pilot_movers.version import __version__

if TYPE_CHECKING:  # what type checkers see; at run time the same names load on first use
    from pilot_movers.base import Mover, NodeCheck, NoOptions
    from pilot_movers.checksums import Checksum, StreamingDigest
    from pilot_movers.config_values import option
    from pilot_movers.credentials.bundle import Credentials
    from pilot_movers.engine.clocks import TransferClock
    from pilot_movers.engine.contract import (
        AttemptOutcome,
        Batch,
        Capabilities,
        ChecksumSource,
        Copied,
        CopyRequest,
        CredentialKind,
        FileStat,
        Namespace,
    )
    from pilot_movers.engine.settings import TransferSettings
    from pilot_movers.errors import (
        AuthenticationFailed,
        ChecksumMismatch,
        ChecksumsDiffer,
        ConfigurationError,
        DestinationExists,
        DestinationNotWritable,
        MoverError,
        MoverUnavailable,
        NoSpace,
        Phase,
        Scope,
        ServiceUnavailable,
        SourceNotFound,
        TransferCancelled,
        TransferFailed,
    )
    from pilot_movers.job import Job
    from pilot_movers.job_facts import JobFacts
    from pilot_movers.local_namespace import LOCAL, LocalNamespace
    from pilot_movers.planner import PlannedFile, plan
    from pilot_movers.queue_config import QueueConfig
    from pilot_movers.registry import ResolvedMover, describe_movers, get_mover, get_mover_class, mover_for_scheme
    from pilot_movers.report import JobReport
    from pilot_movers.values import FileReport, FileSpec, Location, Role, Status

_EXPORTS = {
    "Job": "pilot_movers.job",
    "JobFacts": "pilot_movers.job_facts",
    "QueueConfig": "pilot_movers.queue_config",
    "plan": "pilot_movers.planner",
    "PlannedFile": "pilot_movers.planner",
    "TransferSettings": "pilot_movers.engine.settings",
    "Mover": "pilot_movers.base",
    "NoOptions": "pilot_movers.base",
    "NodeCheck": "pilot_movers.base",
    "option": "pilot_movers.config_values",
    "Credentials": "pilot_movers.credentials.bundle",
    "CopyRequest": "pilot_movers.engine.contract",
    "Copied": "pilot_movers.engine.contract",
    "AttemptOutcome": "pilot_movers.engine.contract",
    "Batch": "pilot_movers.engine.contract",
    "Capabilities": "pilot_movers.engine.contract",
    "ChecksumSource": "pilot_movers.engine.contract",
    "CredentialKind": "pilot_movers.engine.contract",
    "FileStat": "pilot_movers.engine.contract",
    "Namespace": "pilot_movers.engine.contract",
    "TransferClock": "pilot_movers.engine.clocks",
    "LocalNamespace": "pilot_movers.local_namespace",
    "LOCAL": "pilot_movers.local_namespace",
    "ResolvedMover": "pilot_movers.registry",
    "get_mover": "pilot_movers.registry",
    "get_mover_class": "pilot_movers.registry",
    "describe_movers": "pilot_movers.registry",
    "mover_for_scheme": "pilot_movers.registry",
    "FileSpec": "pilot_movers.values",
    "Location": "pilot_movers.values",
    "FileReport": "pilot_movers.values",
    "Status": "pilot_movers.values",
    "Role": "pilot_movers.values",
    "Checksum": "pilot_movers.checksums",
    "StreamingDigest": "pilot_movers.checksums",
    "JobReport": "pilot_movers.report",
    "MoverError": "pilot_movers.errors",
    "Phase": "pilot_movers.errors",
    "AuthenticationFailed": "pilot_movers.errors",
    "ChecksumMismatch": "pilot_movers.errors",
    "ChecksumsDiffer": "pilot_movers.errors",
    "ConfigurationError": "pilot_movers.errors",
    "DestinationExists": "pilot_movers.errors",
    "DestinationNotWritable": "pilot_movers.errors",
    "MoverUnavailable": "pilot_movers.errors",
    "NoSpace": "pilot_movers.errors",
    "Scope": "pilot_movers.errors",
    "ServiceUnavailable": "pilot_movers.errors",
    "SourceNotFound": "pilot_movers.errors",
    "TransferCancelled": "pilot_movers.errors",
    "TransferFailed": "pilot_movers.errors",
}

__all__ = [
    "LOCAL",
    "AttemptOutcome",
    "AuthenticationFailed",
    "Batch",
    "Capabilities",
    "Checksum",
    "ChecksumMismatch",
    "ChecksumSource",
    "ChecksumsDiffer",
    "ConfigurationError",
    "Copied",
    "CopyRequest",
    "CredentialKind",
    "Credentials",
    "DestinationExists",
    "DestinationNotWritable",
    "FileReport",
    "FileSpec",
    "FileStat",
    "Job",
    "JobFacts",
    "JobReport",
    "LocalNamespace",
    "Location",
    "Mover",
    "MoverError",
    "MoverUnavailable",
    "Namespace",
    "NoOptions",
    "NoSpace",
    "NodeCheck",
    "Phase",
    "PlannedFile",
    "QueueConfig",
    "ResolvedMover",
    "Role",
    "Scope",
    "ServiceUnavailable",
    "SourceNotFound",
    "Status",
    "StreamingDigest",
    "TransferCancelled",
    "TransferClock",
    "TransferFailed",
    "TransferSettings",
    "__version__",
    "describe_movers",
    "get_mover",
    "get_mover_class",
    "mover_for_scheme",
    "option",
    "plan",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pilot_movers' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
