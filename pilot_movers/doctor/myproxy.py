"""A MyProxy logon as a job would make it, into a private temporary dir removed at once: the
passphrase (or the retriever's certificate), the server's trust and its answer, before any job."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Optional

from pilot_movers.credentials.myproxy import MyProxySettings, fetch_proxy, require_myproxy_client
from pilot_movers.doctor.findings import INSTALL_FIX, Finding, ok, problem, warning
from pilot_movers.errors import MoverError

CHECK = "MyProxy logon"


def check_logon(settings: MyProxySettings, *, pilot_proxy: Optional[str], ca_dir: Optional[str]) -> Finding:
    check = f"{CHECK} {settings.username}@{settings.address}"
    try:
        require_myproxy_client()
    except MoverError as exc:
        return problem(check, exc.message, INSTALL_FIX)
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
            return problem(check, exc.message, _FIX, transient=exc.transient)
        facts = f"{got.info.identity}, {got.info.kind}"
    return ok(check, f"a proxy was delegated ({facts}) and thrown away")


_FIX = "check [myproxy] server, username and the passphrase; the server's log says why it refused"
