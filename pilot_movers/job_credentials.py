"""A job's credentials: the ones given (else the environment's), or the user's proxy from a
MyProxy logon, owned by the job's cleanup before its first byte exists; the checks before each
phase and each round of retries (the trust dir, the proxy's time left, RFC 3820); what the
report says of them; what the payload inherits of them."""

from __future__ import annotations

import dataclasses
import logging
from contextlib import ExitStack
from pathlib import Path
from typing import Callable, Optional, Sequence

from pilot_movers.base import Mover
from pilot_movers.credentials.bundle import Credentials
from pilot_movers.credentials.myproxy import (
    MyProxySettings,
    fetch_proxy,
    new_proxy_path,
    remove_proxy,
    require_myproxy_client,
)
from pilot_movers.credentials.policy import RETRY_MARGIN, check_proxy, check_proxy_file, default_proxy_path
from pilot_movers.credentials.proxy_info import inspect_proxy
from pilot_movers.credentials.report import CredentialsReport
from pilot_movers.credentials.trust import INSTALL_HINT, trust_dir_problem
from pilot_movers.engine.contract import CredentialKind
from pilot_movers.errors import ConfigurationError, NoProxy, Phase
from pilot_movers.ledger import JobRecord
from pilot_movers.queue_config import QueueConfig

log = logging.getLogger("pilot_movers.job")

#: What the pilot's own credentials put in the environment that a payload of the user's never gets.
PILOT_ONLY_VARIABLES = ("X509_USER_CERT", "X509_USER_KEY", "BEARER_TOKEN", "BEARER_TOKEN_FILE")


class JobCredentials:
    """``current``: what the job authenticates with (None until ``set_up``, unless given);
    ``report``: what the report's ``credentials`` says (the MyProxy logon's, else the proxy the
    first phase checked); ``cleanup_notes``: the job's, told of the user's proxy's removal."""

    def __init__(
        self, queue: QueueConfig, workdir: str, given: Optional[Credentials], cleanup_notes: list[str]
    ) -> None:
        self.queue = queue
        self.workdir = workdir
        self.current = given
        self.report: Optional[CredentialsReport] = None
        #: The user's proxy came from MyProxy: the job is the user's, the pilot's credentials stay the pilot's.
        self.fetched_proxy = False
        self._cleanup_notes = cleanup_notes

    @property
    def proxy_path(self) -> Optional[str]:
        """The proxy the job's movers and payload use (the user's, once fetched)."""
        return self.current.x509_proxy if self.current else None

    def set_up(
        self,
        myproxy: Optional[MyProxySettings],
        *,
        record: Optional[JobRecord],
        stack: ExitStack,
        params_from_user: bool,
    ) -> None:
        """The given credentials, else the environment's; with a MyProxy logon, the user's proxy
        fetched into a new file in the work dir, whose removal ``stack`` (the job's cleanup) and
        ``record`` (the ledger, for a later job if this one is killed) own before it exists."""
        if self.current is None:
            self.current = Credentials.from_environment()
        if myproxy is None:
            if params_from_user:
                raise ConfigurationError(
                    "jobPars steers this job's data movement ([panda] data_in_jobpars) but no MyProxy logon "
                    "fetches the user's proxy ([myproxy]): a user's own parameters never move data with the "
                    "pilot's credential"
                )
            return
        require_myproxy_client()  # a missing extra first: no CA dir, passphrase or server mends it
        self.check_trust("the MyProxy logon")
        pilot_proxy = self.current.x509_proxy or default_proxy_path()
        path = new_proxy_path(Path(self.workdir), pilot_proxy)
        if record is not None:
            record.holds_proxy(str(path))
        stack.callback(self._remove_user_proxy, path, record)
        retrieved = fetch_proxy(
            myproxy, Path(self.workdir), path=path, pilot_proxy=pilot_proxy, ca_dir=self.current.ca_dir
        )
        self.fetched_proxy = True
        self.current = self.current.with_proxy(str(retrieved.path))
        self.report = CredentialsReport.from_myproxy(myproxy, retrieved)

    def _remove_user_proxy(self, path: Path, record: Optional[JobRecord]) -> None:
        if remove_proxy(path):
            log.info("user proxy %s removed", path)
            self._cleanup_notes.append(f"removed the user's proxy {path}")
        if record is not None:
            record.released_proxy(str(path))

    def for_payload(self, env: dict[str, str]) -> None:
        """Put the job's credentials in the payload's environment ``env``; once the user's proxy
        is fetched, the pilot's own certificate and tokens leave it."""
        credentials = self.current
        if self.fetched_proxy:
            for name in PILOT_ONLY_VARIABLES:
                env.pop(name, None)
            if credentials is not None:
                credentials = dataclasses.replace(credentials, bearer_token=None, bearer_token_file=None)
        if credentials is not None:
            env.update(credentials.environment())

    # -- checks ----------------------------------------------------------------------------

    def needs_proxy(self, movers: Sequence[type[Mover]]) -> tuple[bool, bool]:
        """(the proxy is checked, it must be RFC 3820) for these movers under the queue's policy:
        checked when a mover authenticates with it, or when the job has one and RFC 3820 is
        required (a mover that authenticates otherwise, as Globus does with OAuth2, needs no
        proxy, but one the job uses must not be a legacy proxy)."""
        rfc3820 = self.queue.credentials.require_rfc3820 or any(m.capabilities.requires_rfc3820 for m in movers)
        needed = any(m.credential_for(self.queue.mover_options(m.name)) is CredentialKind.X509_PROXY for m in movers)
        return needed or (rfc3820 and self.proxy_path is not None), rfc3820

    def proxy(self) -> str:
        proxy = self.proxy_path
        if not proxy:
            raise NoProxy("no proxy: X509_USER_PROXY is not set and no MyProxy logon was asked for")
        return proxy

    def check_trust(self, who: str) -> None:
        """The trust dir must hold CA certificates before ``who`` verifies a server with it: a
        missing one is the node's configuration, which no retry (nor another server) mends."""
        trouble = trust_dir_problem(self.current.ca_dir if self.current else None)
        if trouble is not None:
            raise ConfigurationError(f"{trouble}: {who} cannot verify any server; {INSTALL_HINT}")

    def check_phase(self, phase: Phase, movers: Sequence[type[Mover]]) -> None:
        """Before any transfer of a phase: the trust dir must be usable, the proxy must exist and
        last long enough."""
        verifying = [
            m.name
            for m in movers
            if m.credential_for(self.queue.mover_options(m.name))
            in (CredentialKind.X509_PROXY, CredentialKind.BEARER_TOKEN)
        ]
        if verifying:
            self.check_trust(f"the {', '.join(verifying)} mover{'s' if len(verifying) > 1 else ''}")
        needed, rfc3820 = self.needs_proxy(movers)
        if not needed:
            return
        policy = self.queue.credentials
        need = policy.min_lifetime if phase is Phase.STAGE_IN else policy.min_lifetime_stage_out
        info = check_proxy(inspect_proxy(self.proxy()), min_seconds=need, require_rfc3820=rfc3820)
        if self.report is None:
            self.report = CredentialsReport.from_environment(info)

    def retry_check(self, mover: type[Mover]) -> Optional[Callable[[], None]]:
        """Before each round of retries: re-read the proxy and check it has not expired."""
        needed, rfc3820 = self.needs_proxy([mover])
        if not needed:
            return None

        def check() -> None:
            check_proxy_file(self.proxy(), min_seconds=RETRY_MARGIN, require_rfc3820=rfc3820)

        return check
