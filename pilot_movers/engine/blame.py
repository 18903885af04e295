"""The engine's verdict on a copy that does not match: whose fault it is and whether a retry helps.

Movers report what they saw (``ChecksumsDiffer``: a checksum that did not agree, in their own
words; ``SizeMismatch``: bytes missing); this module alone makes a ``ChecksumMismatch``. A source
that is not what the job expects is permanent (the same bytes would come again: scope ``SOURCE``);
a copy damaged on the way is transient (a new copy can cure it: scope ``DESTINATION``). When the
job gave the expected value, one look at the source (its checksum as its storage computes it, or
its size) decides, and the message names the file, both values and the source. A source that
cannot be looked at leaves the mover's view: a copy it saw differ from its source is retried; a
copy it could not place is taken for the source's picture unless the look may succeed later.
"""

from __future__ import annotations

import logging
from typing import Callable, Optional

from pilot_movers.checksums import Checksum
from pilot_movers.engine.contract import Namespace
from pilot_movers.errors import ChecksumMismatch, ChecksumsDiffer, MoverError, Scope, SizeMismatch
from pilot_movers.values import FileSpec, Location

log = logging.getLogger(__name__)


def blame(error: MoverError, spec: FileSpec, namespace: Callable[[Location], Namespace]) -> MoverError:
    """``error`` judged: a ``ChecksumsDiffer`` becomes the ``ChecksumMismatch`` it amounts to, a
    ``SizeMismatch`` the job's expected size explains becomes the source's; anything else is
    returned as it is."""
    if isinstance(error, ChecksumsDiffer):
        return _checksum_verdict(error, spec, namespace)
    if isinstance(error, SizeMismatch) and spec.size is not None:
        source = spec.source
        try:
            found = namespace(source).stat(source)
        except MoverError as exc:  # the source cannot be looked at now: keep what the mover said
            log.debug("%s: could not look at the source %s: %s", spec.name, source, exc)
            return error
        if found is not None and found.size != spec.size:
            return SizeMismatch(
                f"the source {source.url} holds {found.size} bytes, the job expects {spec.size}",
                scope=Scope.SOURCE,
                transient=False,
            )
    return error


def _checksum_verdict(
    seen: ChecksumsDiffer, spec: FileSpec, namespace: Callable[[Location], Namespace]
) -> ChecksumMismatch:
    expected = spec.checksum
    if seen.source_differs:  # the mover's words hold the value it saw; the source and the expected one named here
        wanted = f" ({expected})" if expected is not None else ""
        message = f"the source {spec.source.url} is not what the job expects{wanted}: {seen.message}"
        return _mismatch(seen, message, source_at_fault=True)
    if expected is None:  # the copy was compared with its source: it was damaged on the way
        return _mismatch(seen, seen.message, source_at_fault=False)
    source = spec.source
    try:
        found: Optional[Checksum] = namespace(source).checksum(source, expected.algorithm)
    except MoverError as exc:
        # No look: a copy the mover saw differ from its source was damaged on the way; otherwise
        # the copy is the best picture of the source, and only a look that may succeed later
        # (a server that does not answer now) is worth another copy.
        log.debug("%s: could not look at the source %s: %s", spec.name, source, exc)
        message = f"{seen.message} (the source could not be checked: {exc.message})"
        return _mismatch(seen, message, source_at_fault=seen.source_differs is None and not exc.transient)
    if found != expected:
        has = found.value if found is not None else "none"
        message = f"the source {source.url} has {expected.algorithm} {has}, the job expects {expected.value}"
        return _mismatch(seen, message, source_at_fault=True, algorithm=expected.algorithm)
    message = f"{seen.message} (the source matches the job's {expected}: the copy was damaged on the way)"
    return _mismatch(seen, message, source_at_fault=False)


def _mismatch(
    seen: ChecksumsDiffer, message: str, *, source_at_fault: bool, algorithm: Optional[str] = None
) -> ChecksumMismatch:
    verdict = ChecksumMismatch(
        message,
        algorithm=algorithm or seen.algorithm,
        scope=Scope.SOURCE if source_at_fault else Scope.DESTINATION,
        transient=not source_at_fault,
        errno=seen.errno,
    )
    return verdict.bind(phase=seen.phase, file=seen.file, endpoint=seen.endpoint)
