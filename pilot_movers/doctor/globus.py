"""The Globus mover's needs: the pilot's OAuth2 client can get a Transfer API token, and Globus
Connect Personal is there for the worker's endpoint."""

from __future__ import annotations

from typing import Mapping, Optional

from pilot_movers.doctor.findings import Finding, ok, problem
from pilot_movers.errors import MoverError


def check_globus(options: Optional[object], environ: Mapping[str, str]) -> list[Finding]:
    from pilot_movers.credentials.oauth import OAuthClient
    from pilot_movers.globus.gcp_install import gcp_program_as_is
    from pilot_movers.globus.options import GlobusOptions
    from pilot_movers.globus.service import make_authorizer

    settings = options if isinstance(options, GlobusOptions) else GlobusOptions()
    findings = []
    check = "Globus credentials"
    try:
        client = OAuthClient.from_environment(environ)
        if client is None and settings.credentials_file:
            client = OAuthClient.from_file(settings.credentials_file)
        if client is None:
            findings.append(
                problem(
                    check,
                    "no OAuth2 client: GLOBUS_CLIENT_ID is not set and [globus] credentials_file names no file",
                    "register a confidential client and give its id and secret to the pilot",
                )
            )
        else:
            make_authorizer(client, http_timeout=min(settings.http_timeout, 30.0), http_retries=0)
            findings.append(ok(check, f"client {client.client_id} ({client.source}) got a Transfer API token"))
    except MoverError as exc:
        findings.append(
            problem(check, exc.message, "re-authorise the client, or fix its id and secret", transient=exc.transient)
        )
    try:
        findings.append(ok("Globus Connect Personal", gcp_program_as_is(settings)))
    except MoverError as exc:
        findings.append(problem("Globus Connect Personal", exc.message, "install it or set [globus] gcp_path"))
    return findings
