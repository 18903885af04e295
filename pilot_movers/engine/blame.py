"""Which side a mismatch belongs to: a source that is not what the job expects (permanent: the
same bytes would come again) or a copy damaged on the way (transient: a new copy can cure it).

Transports report a checksum or size mismatch in their own terms; when the job gave the expected
value, one look at the source (its size, or its checksum as its storage computes it) decides, and
the message names the file, both values and the source.
"""

from __future__ import annotations

import logging
from typing import Callable

from pilot_movers.engine.contract import Namespace
from pilot_movers.errors import ChecksumMismatch, MoverError, Scope, SizeMismatch
from pilot_movers.values import FileSpec, Location

log = logging.getLogger(__name__)


def blame(error: MoverError, spec: FileSpec, namespace: Callable[[Location], Namespace]) -> MoverError:
    """``error`` reclassified by looking at the source, when it is a mismatch the job's
    expectation can explain; otherwise ``error`` itself."""
    source = spec.source
    try:
        if isinstance(error, ChecksumMismatch) and spec.checksum is not None:
            expected = spec.checksum
            seen = namespace(source).checksum(source, expected.algorithm)
            if seen != expected:
                return ChecksumMismatch(
                    f"the source {source.url} has {expected.algorithm} {seen.value}, the job expects {expected.value}",
                    algorithm=expected.algorithm,
                    scope=Scope.SOURCE,
                    transient=False,
                    errno=error.errno,
                )
            return error.replace(
                message=f"{error.message} (the source matches the job's {expected}: the copy was damaged on the way)",
                transient=True,
            )
        if isinstance(error, SizeMismatch) and spec.size is not None:
            found = namespace(source).stat(source)
            if found is not None and found.size != spec.size:
                return SizeMismatch(
                    f"the source {source.url} holds {found.size} bytes, the job expects {spec.size}",
                    scope=Scope.SOURCE,
                    transient=False,
                )
    except MoverError as exc:  # the source cannot be looked at now: keep what the transport said
        log.debug("%s: could not look at the source %s: %s", spec.name, source, exc)
    return error
