"""The credentials one job uses, handed explicitly to its movers and its payload.

Nothing reads them from ``os.environ`` after the job has started: two jobs in one process (a
multi-job pilot) each move data with their own user's proxy.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Mapping, Optional

from pilot_movers.credentials.oauth import OAuthClient
from pilot_movers.credentials.policy import default_proxy_path


@dataclass(frozen=True)
class Credentials:
    """``x509_proxy``: the proxy file to authenticate with (the user's, fetched from MyProxy, or
    the one the pilot was given); ``ca_dir``: the trust dir (X509_CERT_DIR);
    ``bearer_token_file``: a file holding a bearer token (WLCG tokens), re-read before each use;
    ``bearer_token``: the token itself (WLCG ``BEARER_TOKEN``), which wins over the file;
    ``oauth``: an OAuth2 client (Globus), never put in a payload's environment. Secrets (the
    token, the OAuth2 client) are never part of the value's ``repr``."""

    x509_proxy: Optional[str] = None
    ca_dir: Optional[str] = None
    bearer_token_file: Optional[str] = None
    oauth: Optional[OAuthClient] = field(default=None, repr=False)
    bearer_token: Optional[str] = field(default=None, repr=False)

    @classmethod
    def from_environment(cls, environ: Optional[Mapping[str, str]] = None) -> Credentials:
        """What the pilot was started with: X509_USER_PROXY (else ``/tmp/x509up_u<uid>`` when it
        exists), X509_CERT_DIR, a bearer token found the WLCG way (``BEARER_TOKEN``, else
        ``BEARER_TOKEN_FILE``, else ``$XDG_RUNTIME_DIR/bt_u<uid>`` or ``/tmp/bt_u<uid>`` when
        one exists), GLOBUS_CLIENT_ID with GLOBUS_CLIENT_SECRET or GLOBUS_REFRESH_TOKEN."""
        environ = os.environ if environ is None else environ
        proxy: Optional[str] = default_proxy_path(environ)
        if not environ.get("X509_USER_PROXY") and not os.path.exists(str(proxy)):
            proxy = None
        return cls(
            x509_proxy=proxy,
            ca_dir=environ.get("X509_CERT_DIR") or None,
            bearer_token_file=environ.get("BEARER_TOKEN_FILE") or _discovered_token_file(environ),
            oauth=OAuthClient.from_environment(environ),
            bearer_token=(environ.get("BEARER_TOKEN") or "").strip() or None,
        )

    def with_proxy(self, path: str) -> Credentials:
        return dataclasses.replace(self, x509_proxy=path)

    def environment(self) -> dict[str, str]:
        """The variables a payload (or a grid command) needs to use these credentials."""
        env = {}
        if self.x509_proxy:
            env["X509_USER_PROXY"] = self.x509_proxy
        if self.ca_dir:
            env["X509_CERT_DIR"] = self.ca_dir
        if self.bearer_token_file:
            env["BEARER_TOKEN_FILE"] = self.bearer_token_file
        if self.bearer_token:
            env["BEARER_TOKEN"] = self.bearer_token
        return env


def _discovered_token_file(environ: Mapping[str, str]) -> Optional[str]:
    """WLCG bearer token discovery's file locations, when no variable names one."""
    uid = os.getuid()
    runtime = environ.get("XDG_RUNTIME_DIR")
    for candidate in ([os.path.join(runtime, f"bt_u{uid}")] if runtime else []) + [f"/tmp/bt_u{uid}"]:
        if os.path.isfile(candidate):
            return candidate
    return None
