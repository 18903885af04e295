"""Whether a proxy is good enough to start a job or a retry with."""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from pilot_movers.credentials.proxy_info import ProxyInfo, inspect_proxy
from pilot_movers.errors import ConfigurationError, NoProxy, ProxyExpired, ProxyTooShort

#: Seconds a proxy must still have before any retry (more is checked at the start of a phase).
RETRY_MARGIN = 60.0


def default_proxy_path() -> str:
    """``X509_USER_PROXY``, else Globus's default ``/tmp/x509up_u<uid>``."""
    return os.environ.get("X509_USER_PROXY") or f"/tmp/x509up_u{os.getuid()}"


@dataclass(frozen=True)
class CredentialPolicy:
    """Queue config ``[credentials]``: what a job refuses to start with."""

    min_lifetime: float = 3600.0
    """Seconds the proxy must have left before stage-in starts."""
    min_lifetime_stage_out: float = 600.0
    """Seconds the proxy must have left before stage-out starts."""
    require_rfc3820: bool = False
    """Refuse legacy proxies even when no mover in use needs RFC 3820 (Globus always does)."""

    @classmethod
    def from_options(cls, options: Mapping[str, Any], *, where: str = "[credentials]") -> CredentialPolicy:
        values: dict[str, Any] = {}
        for key, raw in options.items():
            name = key.strip().replace("-", "_")
            try:
                if name in ("min_lifetime", "min_lifetime_stage_out"):
                    values[name] = float(raw)
                elif name == "require_rfc3820":
                    text = str(raw).strip().lower()
                    values[name] = raw if isinstance(raw, bool) else text in ("1", "true", "yes", "on")
                else:
                    raise ConfigurationError(f"{where}: unknown setting {key!r}")
            except ValueError:
                raise ConfigurationError(f"{where}: {key} = {raw!r} is not a number of seconds") from None
        return cls(**values)


def check_proxy(
    info: ProxyInfo,
    *,
    min_seconds: float,
    require_rfc3820: bool = False,
    now: Optional[datetime.datetime] = None,
) -> ProxyInfo:
    """Raise NoProxy, ProxyExpired or ProxyTooShort unless ``info`` can be used; else return it."""
    if not info.is_proxy:
        raise NoProxy(f"{info.path} holds a certificate of {info.subject}, not a proxy")
    left = info.time_left(now)
    if left <= 0:
        which = "the proxy" if info.expiring_subject == info.subject else f"the certificate of {info.expiring_subject}"
        raise ProxyExpired(f"{which} in {info.path} expired at {info.not_after:%Y-%m-%d %H:%M:%S} UTC")
    if require_rfc3820 and info.kind != "rfc3820":
        raise NoProxy(
            f"{info.path} is a {info.kind} proxy; Globus needs an RFC 3820 proxy "
            "(voms-proxy-init --rfc, grid-proxy-init -rfc)"
        )
    if left < min_seconds:
        raise ProxyTooShort(
            f"the proxy in {info.path} has {_hms(left)} left, the job needs at least {_hms(min_seconds)}"
        )
    return info


def check_proxy_file(path: str, *, min_seconds: float = RETRY_MARGIN, require_rfc3820: bool = False) -> ProxyInfo:
    """Re-read a proxy file and check it (before a retry: it may have expired or been renewed)."""
    return check_proxy(inspect_proxy(path), min_seconds=min_seconds, require_rfc3820=require_rfc3820)


def _hms(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
