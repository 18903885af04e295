"""What a node needs for the Globus mover, looked at without making anything (``doctor``): the
pilot's OAuth2 client gets a Transfer API token, and Globus Connect Personal is there for the
worker endpoint (a tarball not unpacked yet is named, not fetched)."""

from __future__ import annotations

from typing import Mapping

from pilot_movers.base import NodeCheck
from pilot_movers.credentials.oauth import OAuthClient
from pilot_movers.errors import MoverError
from pilot_movers.globus.gcp_install import gcp_program_as_is
from pilot_movers.globus.options import GlobusOptions
from pilot_movers.globus.service import make_authorizer


def globus_node_checks(options: GlobusOptions, environ: Mapping[str, str]) -> list[NodeCheck]:
    checks = []
    check = "Globus credentials"
    try:
        client = OAuthClient.from_environment(environ)
        if client is None and options.credentials_file:
            client = OAuthClient.from_file(options.credentials_file)
        if client is None:
            checks.append(
                NodeCheck(
                    check,
                    False,
                    "no OAuth2 client: GLOBUS_CLIENT_ID is not set and [globus] credentials_file names no file",
                    "register a confidential client and give its id and secret to the pilot",
                )
            )
        else:
            make_authorizer(client, http_timeout=min(options.http_timeout, 30.0), http_retries=0)
            checks.append(
                NodeCheck(check, True, f"client {client.client_id} ({client.source}) got a Transfer API token")
            )
    except MoverError as exc:
        checks.append(
            NodeCheck(
                check, False, exc.message, "re-authorise the client, or fix its id and secret", transient=exc.transient
            )
        )
    try:
        checks.append(NodeCheck("Globus Connect Personal", True, gcp_program_as_is(options)))
    except MoverError as exc:
        checks.append(NodeCheck("Globus Connect Personal", False, exc.message, "install it or set [globus] gcp_path"))
    return checks
