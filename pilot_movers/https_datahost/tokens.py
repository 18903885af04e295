"""Bearer tokens (WLCG tokens) for HTTPS: found in the job's credentials, read fresh each time.

The token itself (``Credentials.bearer_token``, from ``BEARER_TOKEN``) wins; else the file
(``Credentials.bearer_token_file``: ``BEARER_TOKEN_FILE``, or the WLCG discovery locations),
read again before every attempt, since a token agent replaces it while the job runs. A token
is never logged: errors name the file, never its content.
"""

from __future__ import annotations

from typing import Optional

from pilot_movers.credentials.bundle import Credentials
from pilot_movers.credentials.token_files import read_token_file
from pilot_movers.errors import CredentialError


def bearer_token(credentials: Credentials) -> Optional[str]:
    """The job's bearer token now, or None when it has none. CredentialError when the token
    file named cannot be read or holds no token."""
    if credentials.bearer_token:
        return _checked(credentials.bearer_token.strip(), "BEARER_TOKEN")
    path = credentials.bearer_token_file
    if not path:
        return None
    raw = read_token_file(path)
    return _checked(raw.decode("ascii", "replace").strip(), path)


def _checked(token: str, where: str) -> str:
    """A token must be one line of visible ASCII (it goes into an HTTP header)."""
    if not token or any(not (0x21 <= ord(c) <= 0x7E) for c in token):
        raise CredentialError(f"{where} holds no usable bearer token (one line of visible ASCII)")
    return token
