"""A MyProxy logon as a job would make it, into a private temporary dir removed at once: the
passphrase (or the retriever's certificate), the server's trust and its answer, before any job."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Optional

from pilot_movers.credentials.myproxy import MyProxySettings, fetch_proxy, require_myproxy_client
from pilot_movers.doctor.findings import INSTALL_FIX, Finding, ok, problem, warning
from pilot_movers.errors import MoverError, ProxyExpired, ServiceUnavailable

CHECK = "MyProxy logon"


def check_logon(
    settings: MyProxySettings, *, pilot_proxy: Optional[str], pilot_proxy_ok: bool = True, ca_dir: Optional[str]
) -> Finding:
    """``pilot_proxy_ok``: the proxy check found the pilot's proxy usable; when the logon presents
    it (``retrieve_with = pilot-proxy``) and it is not, the logon is not tried (that check says why)."""
    check = f"{CHECK} {settings.username}@{settings.address}"
    try:
        require_myproxy_client()
    except MoverError as exc:
        return problem(check, exc.message, INSTALL_FIX)
    if settings.retrieve_with == "pilot-proxy" and not pilot_proxy_ok:
        return warning(check, "not tried: it presents the pilot's proxy, which the proxy check finds unusable")
    if settings.retrieve_with == "passphrase":
        try:
            settings.read_passphrase()
        except MoverError as exc:
            return warning(check, f"not tried: {exc.message}", "a job's passphrase comes from the pilot's environment")
    once = dataclasses.replace(settings, max_attempts=1, lifetime_hours=min(settings.lifetime_hours, 1.0))
    with tempfile.TemporaryDirectory(prefix="pilot-movers-doctor-") as private:
        try:
            got = fetch_proxy(once, Path(private), pilot_proxy=pilot_proxy, ca_dir=ca_dir)
        except MoverError as exc:
            return problem(check, exc.message, _fix_for(exc, settings), transient=exc.transient)
        facts = f"{got.info.identity}, {got.info.kind}"
    return ok(check, f"a proxy was delegated ({facts}) and thrown away")


def _fix_for(error: MoverError, settings: MyProxySettings) -> str:
    """What to do about a failed logon, by what failed: not the passphrase for an expired proxy."""
    if isinstance(error, ProxyExpired):
        return "renew the certificate presented (the pilot's proxy or the host certificate, [myproxy] retrieve_with)"
    if isinstance(error, ServiceUnavailable):
        return "check that the MyProxy server is up and reachable from this node ([myproxy] server, port)"
    if settings.retrieve_with == "passphrase":
        return "check [myproxy] username and the passphrase; the server's log says why it refused"
    return (
        "check [myproxy] username and that the server's authorized_retrievers accept the certificate presented; "
        "the server's log says why it refused"
    )
