"""Bearer tokens (WLCG tokens) for HTTPS: found in the job's credentials, read fresh each time.

The token itself (``Credentials.bearer_token``, from ``BEARER_TOKEN``) wins; else the file
(``Credentials.bearer_token_file``: ``BEARER_TOKEN_FILE``, or the WLCG discovery locations),
read again before every attempt, since a token agent replaces it while the job runs. A token
is never logged: errors name the file, never its content.
"""

from __future__ import annotations

from typing import Optional

from pilot_movers.credentials.bundle import Credentials
from pilot_movers.errors import CredentialError

#: Tokens are a few KiB at most; a bigger file is not a token.
MAX_TOKEN_BYTES = 64 * 1024


def bearer_token(credentials: Credentials) -> Optional[str]:
    """The job's bearer token now, or None when it has none. CredentialError when the token
    file named cannot be read or holds no token."""
    if credentials.bearer_token:
        return _checked(credentials.bearer_token.strip(), "BEARER_TOKEN")
    path = credentials.bearer_token_file
    if not path:
        return None
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_TOKEN_BYTES + 1)
    except OSError as exc:
        raise CredentialError(f"cannot read the bearer token file {path}: {exc.strerror}") from None
    if len(raw) > MAX_TOKEN_BYTES:
        raise CredentialError(f"the bearer token file {path} is larger than {MAX_TOKEN_BYTES} bytes")
    return _checked(raw.decode("ascii", "replace").strip(), path)


def _checked(token: str, where: str) -> str:
    """A token must be one line of visible ASCII (it goes into an HTTP header)."""
    if not token or any(not (0x21 <= ord(c) <= 0x7E) for c in token):
        raise CredentialError(f"{where} holds no usable bearer token (one line of visible ASCII)")
    return token
