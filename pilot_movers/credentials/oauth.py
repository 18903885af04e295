"""OAuth2 client credentials for token-based services (Globus): a confidential client's id and
secret, or a refresh token (with the client it was issued to), from the environment or a file.

Secrets never appear in ``repr``, logs or messages; the payload's environment never holds them
(``SECRET_VARIABLES``).
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from typing import Mapping, Optional

from pilot_movers.errors import CredentialRefused

CLIENT_ID_VARIABLE = "GLOBUS_CLIENT_ID"
CLIENT_SECRET_VARIABLE = "GLOBUS_CLIENT_SECRET"
REFRESH_TOKEN_VARIABLE = "GLOBUS_REFRESH_TOKEN"
#: The pilot's OAuth2 identity: a job's payload never gets these in its environment.
SECRET_VARIABLES = (CLIENT_ID_VARIABLE, CLIENT_SECRET_VARIABLE, REFRESH_TOKEN_VARIABLE)
_FILE_KEYS = ("client_id", "client_secret", "refresh_token")


@dataclass(frozen=True)
class OAuthClient:
    """``client_id`` with ``client_secret`` (client credentials grant), or with
    ``refresh_token`` (refresh token grant; the secret too when the client is confidential).
    ``source`` says where they came from, for messages."""

    client_id: str
    client_secret: Optional[str] = field(default=None, repr=False)
    refresh_token: Optional[str] = field(default=None, repr=False)
    source: str = ""

    def check(self) -> OAuthClient:
        """Self, or CredentialRefused saying what is missing (checked where they are used: an
        incomplete set in the environment must not stop a job that does not need it)."""
        where = f" ({self.source})" if self.source else ""
        if not self.client_id:
            raise CredentialRefused(f"the OAuth2 credentials{where} have no client id")
        if not (self.client_secret or self.refresh_token):
            raise CredentialRefused(
                f"OAuth2 client {self.client_id}{where} has neither a client secret nor a refresh token"
            )
        return self

    @property
    def grant(self) -> str:
        """``refresh_token`` when a refresh token is given, else ``client_credentials``."""
        return "refresh_token" if self.refresh_token else "client_credentials"

    @classmethod
    def from_environment(cls, environ: Optional[Mapping[str, str]] = None) -> Optional[OAuthClient]:
        """From GLOBUS_CLIENT_ID with GLOBUS_CLIENT_SECRET and/or GLOBUS_REFRESH_TOKEN; None
        when GLOBUS_CLIENT_ID is not set."""
        environ = os.environ if environ is None else environ
        client_id = environ.get(CLIENT_ID_VARIABLE, "").strip()
        if not client_id:
            return None
        return cls(
            client_id,
            environ.get(CLIENT_SECRET_VARIABLE, "").strip() or None,
            environ.get(REFRESH_TOKEN_VARIABLE, "").strip() or None,
            source="environment",
        )

    @classmethod
    def from_file(cls, path: str) -> OAuthClient:
        """A JSON object with ``client_id`` and ``client_secret`` and/or ``refresh_token``, in
        a file only its owner can read (group or world access is refused, as ssh does)."""
        try:
            mode = os.stat(path).st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise CredentialRefused(
                    f"{path} holds OAuth2 secrets but others may read it (mode {stat.S_IMODE(mode):o}): chmod 600 it"
                )
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except OSError as exc:
            raise CredentialRefused(f"cannot read the OAuth2 credentials file {path}: {exc.strerror}") from None
        except ValueError:
            raise CredentialRefused(f"{path} is not a JSON object of OAuth2 credentials") from None
        if not isinstance(data, dict):
            raise CredentialRefused(f"{path} is not a JSON object of OAuth2 credentials")
        unknown = sorted(set(data) - set(_FILE_KEYS))
        if unknown:
            raise CredentialRefused(f"{path}: unknown key(s) {', '.join(unknown)} (known: {', '.join(_FILE_KEYS)})")
        values = [data.get(key) for key in _FILE_KEYS]
        if not all(value is None or isinstance(value, str) for value in values):
            raise CredentialRefused(f"{path}: {', '.join(_FILE_KEYS)} must be strings")
        client_id, secret, token = (value.strip() if value else None for value in values)
        return cls(client_id or "", secret or None, token or None, source=path).check()
