"""OAuth2 tokens HTCondor hands a job in ``$_CONDOR_CREDS``: a URL whose scheme is
``SERVICE+SCHEME`` (``scitokens+https://...``, ``mytokens.analysis+davs://...``) is moved with the
token in ``$_CONDOR_CREDS/SERVICE.use`` (a ``.`` in the name becomes ``_``, as HTCondor stores
it), as HTCondor's curl plugin does. The file holds the token alone or a JSON object with an
``access_token``. A token is never logged: errors name the file, never its content.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Mapping

from pilot_movers.credentials.bundle import Credentials
from pilot_movers.credentials.token_files import read_token_file
from pilot_movers.errors import CredentialError


def credential_path(service: str, environ: Mapping[str, str]) -> str:
    """Where HTCondor put the token of ``service``; CredentialError when it gave the job none."""
    directory = environ.get("_CONDOR_CREDS")
    if not directory:
        raise CredentialError(f"the URL asks for the {service!r} credential, but $_CONDOR_CREDS is not set")
    if "/" in service or service.startswith("."):
        raise CredentialError(f"{service!r} is not a credential name")
    return os.path.join(directory, service.replace(".", "_") + ".use")


def read_token(path: str) -> str:
    """The access token in the ``.use`` file at ``path``: a bare token (the first line that is
    not a comment) or a JSON object with ``access_token``, on one line or over several."""
    text = read_token_file(path, "credential file").decode("utf-8", "replace").strip()
    if text.startswith("{"):
        return _access_token(text, path)
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            return _access_token(line, path) if line.startswith(("{", "[")) else line
    raise CredentialError(f"the credential file {path} holds no token")


def _access_token(text: str, path: str) -> str:
    try:
        token = json.loads(text).get("access_token")
    except (ValueError, AttributeError):
        token = None
    if not isinstance(token, str) or not token.strip():
        raise CredentialError(f"the credential file {path} holds JSON without an 'access_token'")
    return token.strip()


def with_service_token(credentials: Credentials, service: str, environ: Mapping[str, str]) -> Credentials:
    """``credentials`` whose bearer token is the one HTCondor stored for ``service``."""
    token = read_token(credential_path(service, environ))
    return dataclasses.replace(credentials, bearer_token=token, bearer_token_file=None)
