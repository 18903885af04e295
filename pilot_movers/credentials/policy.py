"""Whether a proxy is good enough to start a job or a retry with."""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from pilot_movers.config_values import DAY, DURATION, between, check_fields, option, parse_options
from pilot_movers.credentials.proxy_info import ProxyInfo, inspect_proxy
from pilot_movers.errors import NoProxy, ProxyExpired, ProxyTooShort

#: Seconds a proxy must still have before any retry (more is checked at the start of a phase).
RETRY_MARGIN = 60.0


def default_proxy_path(environ: Optional[Mapping[str, str]] = None) -> str:
    """``X509_USER_PROXY``, else Globus's default ``/tmp/x509up_u<uid>``."""
    environ = os.environ if environ is None else environ
    return environ.get("X509_USER_PROXY") or f"/tmp/x509up_u{os.getuid()}"


@dataclass(frozen=True)
class CredentialPolicy:
    """Queue config ``[credentials]``: what a job refuses to start with."""

    min_lifetime: float = option(3600.0, DURATION, between(0, 7 * DAY))
    """Seconds the proxy must have left before stage-in starts."""
    min_lifetime_stage_out: float = option(600.0, DURATION, between(0, 7 * DAY))
    """Seconds the proxy must have left before stage-out starts."""
    require_rfc3820: bool = False
    """Refuse legacy proxies even when no mover in use needs RFC 3820 (Globus always does)."""

    def __post_init__(self) -> None:
        check_fields(self, where="[credentials]")

    @classmethod
    def from_options(cls, options: Mapping[str, Any], *, where: str = "[credentials]") -> CredentialPolicy:
        return parse_options(cls, options, where=where)


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
        raise ProxyTooShort(f"the proxy in {info.path} has {hms(left)} left, the job needs at least {hms(min_seconds)}")
    return info


def check_proxy_file(path: str, *, min_seconds: float = RETRY_MARGIN, require_rfc3820: bool = False) -> ProxyInfo:
    """Re-read a proxy file and check it (before a retry: it may have expired or been renewed)."""
    return check_proxy(inspect_proxy(path), min_seconds=min_seconds, require_rfc3820=require_rfc3820)


def hms(seconds: float) -> str:
    """``H:MM:SS`` of a time left (negative: 0:00:00), as grid-proxy-info prints it."""
    seconds = max(0, int(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
