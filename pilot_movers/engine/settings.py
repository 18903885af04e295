"""How hard and how long the engine tries: retries, clocks, concurrency, integrity policy."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

from pilot_movers.checksums import normalise_algorithm
from pilot_movers.config_values import (
    ATTEMPTS,
    DAY,
    DURATION,
    FRACTION,
    HOUR,
    MINUTE,
    WORKERS,
    between,
    check_fields,
    normalised_by,
    option,
)
from pilot_movers.config_values import parse_options as _parse_options


@dataclass(frozen=True)
class TransferSettings:
    """Engine settings; queue config's ``[transfer]`` section sets any of them by name."""

    max_attempts: int = option(3, ATTEMPTS)
    """Attempts per file, the first included; only transient errors are retried."""
    backoff_initial: float = option(2.0, DURATION, between(0, HOUR))
    """Seconds before the first retry; doubles each round up to ``backoff_max``, plus jitter."""
    backoff_max: float = option(60.0, DURATION, between(0, HOUR))
    backoff_jitter: float = option(2.0, DURATION, between(0, HOUR))
    stall_timeout: float = option(120.0, DURATION, between(0.1, DAY))
    """Cancel a transfer that moved no byte for this many seconds."""
    operation_timeout: float = option(30.0, DURATION, between(0.1, HOUR))
    """Seconds one remote operation (stat, rename, remove, listing; a checksum gets this plus the
    file's size at 50 MB/s) may take; a server that misses it is not asked again until the next
    retry round."""
    cancel_grace: float = option(5.0, DURATION, between(0.1, HOUR))
    """Seconds a mover gets to answer for its files once they are cancelled; after that the
    engine answers for them and goes on without waiting for the mover."""
    cleanup_timeout: float = option(30.0, DURATION, between(0.1, HOUR))
    """Seconds the job's cleanup may spend on servers (temporary copies, closing movers) before
    it lists what is left and ends."""
    timeout_base: float = option(400.0, DURATION, between(0.1, 7 * DAY))
    """Total time allowed per file: ``timeout_base + timeout_per_mb * MB``, at most ``timeout_max``
    (pilot 3 uses 400 s + 1 s per MB, capped at 3 h)."""
    timeout_per_mb: float = option(1.0, DURATION, between(0, 10 * MINUTE))
    timeout_max: float = option(3 * 3600.0, DURATION, between(0.1, 7 * DAY))
    concurrency: int = option(4, WORKERS)
    """Files in flight at once, per mover."""
    overwrite: bool = False
    """Replace an existing destination instead of failing with FILEEXISTS."""
    checksum_algorithm: str = option("adler32", normalised_by(normalise_algorithm, "adler32 or md5"))
    """Algorithm to verify with when the file spec gives no expected checksum."""
    breaker_min_transfers: int = option(10, between(1, 1_000_000))
    """The phase aborts once at least this many transfers ended and ..."""
    breaker_failure_ratio: float = option(0.8, FRACTION)
    """... more than this fraction of them failed."""
    watchdog_interval: float = option(0.5, DURATION, between(0.01, MINUTE))
    """How often the clocks are checked, in seconds."""
    progress_interval: float = option(10.0, DURATION, between(0.001, DAY))
    """Seconds between two progress log lines for one file (percent, bytes of total, MB/s)."""

    def __post_init__(self) -> None:
        check_fields(self, where="[transfer]")

    def total_timeout(self, size: Optional[int]) -> float:
        """Seconds one file may take: base plus a share per MB, capped."""
        megabytes = (size or 0) / 1e6
        return min(self.timeout_base + self.timeout_per_mb * megabytes, self.timeout_max)

    def batch_timeout(self, sizes: Sequence[Optional[int]], parallel: int) -> float:
        """Seconds a whole batch may take when ``parallel`` files move at once: every file's
        allowance shared among the parallel slots, never less than the slowest file's."""
        allowances = [self.total_timeout(size) for size in sizes] or [self.timeout_base]
        return max(*allowances, sum(allowances) / max(1, parallel))

    def unresponsive_server_bound(self) -> float:
        """Seconds within which a job ends after its server froze for good in the middle of a
        transfer (docs/errors.md): the stall noticed, the mover's grace, one look at the server
        per retry round after its backoff, then the cleanup's budget."""
        rounds = sum(
            min(self.backoff_initial * 2**k, self.backoff_max) + self.backoff_jitter + self.operation_timeout
            for k in range(self.max_attempts - 1)
        )
        return self.stall_timeout + self.watchdog_interval + self.cancel_grace + rounds + self.cleanup_timeout

    @classmethod
    def from_options(cls, options: Mapping[str, Any], *, where: str = "[transfer]") -> TransferSettings:
        """Build from strings (INI) or JSON values, with an error naming any bad key or value."""
        return _parse_options(cls, options, where=where)

    def replace(self, **changes: Any) -> TransferSettings:
        return dataclasses.replace(self, **changes)
