"""How hard and how long the engine tries: retries, clocks, concurrency, integrity policy."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

from pilot_movers.checksums import normalise_algorithm
from pilot_movers.errors import ConfigurationError, UnknownChecksumType

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class TransferSettings:
    """Engine settings; queue config's ``[transfer]`` section sets any of them by name."""

    max_attempts: int = 3
    """Attempts per file, the first included; only transient errors are retried."""
    backoff_initial: float = 2.0
    """Seconds before the first retry; doubles each round up to ``backoff_max``, plus jitter."""
    backoff_max: float = 60.0
    backoff_jitter: float = 2.0
    stall_timeout: float = 120.0
    """Cancel a transfer that moved no byte for this many seconds."""
    timeout_base: float = 400.0
    """Total time allowed per file: ``timeout_base + timeout_per_mb * MB``, at most ``timeout_max``
    (pilot 3 uses 400 s + 1 s per MB, capped at 3 h)."""
    timeout_per_mb: float = 1.0
    timeout_max: float = 3 * 3600.0
    concurrency: int = 4
    """Files in flight at once, per mover."""
    overwrite: bool = False
    """Replace an existing destination instead of failing with FILEEXISTS."""
    checksum: str = "adler32"
    """Algorithm to verify with when the file spec gives no expected checksum."""
    breaker_min_transfers: int = 10
    """The phase aborts once at least this many transfers ended and ..."""
    breaker_failure_ratio: float = 0.8
    """... more than this fraction of them failed."""
    watchdog_interval: float = 0.5
    """How often the clocks are checked, in seconds."""

    def __post_init__(self) -> None:
        problems = []
        if self.max_attempts < 1:
            problems.append("max_attempts must be at least 1")
        if self.concurrency < 1:
            problems.append("concurrency must be at least 1")
        for name in ("backoff_initial", "backoff_max", "backoff_jitter", "timeout_per_mb"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must not be negative")
        for name in ("stall_timeout", "timeout_base", "timeout_max", "watchdog_interval"):
            if getattr(self, name) <= 0:
                problems.append(f"{name} must be positive")
        if not 0 < self.breaker_failure_ratio <= 1:
            problems.append("breaker_failure_ratio must be in (0, 1]")
        try:
            object.__setattr__(self, "checksum", normalise_algorithm(self.checksum))
        except UnknownChecksumType as exc:
            problems.append(exc.message)
        if problems:
            raise ConfigurationError("transfer settings: " + "; ".join(problems))

    def total_timeout(self, size: int | None) -> float:
        megabytes = (size or 0) / 1e6
        return min(self.timeout_base + self.timeout_per_mb * megabytes, self.timeout_max)

    @classmethod
    def from_options(cls, options: Mapping[str, Any], *, where: str = "[transfer]") -> TransferSettings:
        """Build from strings (INI) or JSON values, with an error naming any bad key or value."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for key, raw in options.items():
            name = key.strip().replace("-", "_")
            if name not in fields:
                raise ConfigurationError(f"{where}: unknown setting {key!r} (known: {', '.join(sorted(fields))})")
            kind = type(getattr(cls(), name))
            try:
                values[name] = _convert(raw, kind)
            except ValueError:
                raise ConfigurationError(f"{where}: {key} = {raw!r} is not a valid {kind.__name__}") from None
        return cls(**values)

    def replace(self, **changes: Any) -> TransferSettings:
        return dataclasses.replace(self, **changes)


def _convert(raw: Any, kind: type) -> Any:
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError(raw)
    if kind is int:
        if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
            raise ValueError(raw)
        return int(raw)
    if kind is float:
        if isinstance(raw, bool):
            raise ValueError(raw)
        return float(raw)
    return str(raw)
