"""The proxy a job would authenticate with: found, readable, a proxy, time left, RFC 3820."""

from __future__ import annotations

import datetime
from typing import Callable, Optional

from pilot_movers.credentials.policy import check_proxy, hms
from pilot_movers.credentials.proxy_info import inspect_proxy
from pilot_movers.doctor.findings import Finding, ok, problem, warning
from pilot_movers.errors import MoverError, ProxyTooShort

CHECK = "proxy"
_RENEW = "renew it (voms-proxy-init --rfc, grid-proxy-init -rfc) or point X509_USER_PROXY at a fresh one"


def check_proxy_file(
    path: Optional[str],
    *,
    needed: bool,
    min_lifetime: float,
    require_rfc3820: bool,
    unneeded_because: str = "no mover of this queue needs it",
    needed_for: str = "",
    now: Optional[datetime.datetime] = None,
) -> Finding:
    """``needed``: a mover of the queue authenticates with it (else a bad proxy is a warning);
    ``min_lifetime``: the seconds of life the job needs before stage-in starts; ``needed_for``: what
    needs it when that is not the movers (the MyProxy logon), said in the finding."""
    flag: Callable[..., Finding] = problem if needed else warning
    if not path:
        return flag(CHECK, "no proxy: X509_USER_PROXY is not set and /tmp/x509up_u<uid> does not exist", _RENEW)
    try:
        info = inspect_proxy(path)
    except MoverError as exc:
        return flag(CHECK, exc.message, _RENEW)
    left = info.time_left(now)
    facts = f"{path}: {info.identity}, {info.kind}, {hms(left)} left"
    if needed_for:
        facts += f", needed for {needed_for}"
    try:
        check_proxy(info, min_seconds=min_lifetime, require_rfc3820=require_rfc3820, now=now)
    except ProxyTooShort:
        return flag(CHECK, f"{facts}, the queue's jobs need {hms(min_lifetime)} ([credentials] min_lifetime)", _RENEW)
    except MoverError as exc:
        return flag(CHECK, f"{exc.message}" + (f" (needed for {needed_for})" if needed_for else ""), _RENEW)
    if not needed:
        return ok(CHECK, f"{facts} ({unneeded_because})")
    if needed_for:
        return ok(CHECK, facts)
    return ok(CHECK, f"{facts}, the queue's jobs need {hms(min_lifetime)}")
