"""The job's session with Globus: one OAuth2 authorizer (client credentials or refresh token,
tokens kept in memory only), a TransferClient per thread, every call's exceptions translated, and
the tasks this job has running (so that closing the mover can cancel them).

globus-sdk 3.x and 4.x differ in how a client takes its HTTP timeout and retries; that is the only
version-specific code, and it is here.
"""

from __future__ import annotations

import logging
import threading
from functools import partial
from typing import Any, Callable, Optional, TypeVar

import globus_sdk
from globus_sdk.authorizers import GlobusAuthorizer

from pilot_movers.credentials.oauth import OAuthClient
from pilot_movers.errors import MoverError, Scope
from pilot_movers.globus.errors import from_auth_error, from_sdk_error

log = logging.getLogger(__name__)
T = TypeVar("T")
SDK_MAJOR = int(globus_sdk.__version__.split(".", 1)[0])


class SharedAuthorizer(GlobusAuthorizer):
    """One authorizer for every thread of the job: a renewal happens once at a time, so a
    rotated refresh token is never used twice."""

    def __init__(self, inner: GlobusAuthorizer) -> None:
        self._inner = inner
        self._lock = threading.Lock()

    def get_authorization_header(self) -> Optional[str]:
        with self._lock:
            return self._inner.get_authorization_header()

    def handle_missing_authorization(self) -> bool:
        with self._lock:
            return self._inner.handle_missing_authorization()


def _client_settings(http_timeout: float, http_retries: int) -> dict[str, Any]:
    """How each SDK major version takes a client's HTTP timeout and retry count."""
    if SDK_MAJOR >= 4:
        from globus_sdk.transport import RequestsTransport, RetryConfig

        return {
            "transport": RequestsTransport(http_timeout=http_timeout),
            "retry_config": RetryConfig(max_retries=http_retries),
        }
    return {"transport_params": {"http_timeout": http_timeout, "max_retries": http_retries}}


def make_authorizer(client: OAuthClient, *, http_timeout: float = 60.0, http_retries: int = 3) -> GlobusAuthorizer:
    """An authorizer for the Transfer API, with its first access token already fetched (a bad
    secret or a dead refresh token fails here, before anything is made)."""
    client.check()
    settings = _client_settings(http_timeout, http_retries)
    auth_client: globus_sdk.AuthLoginClient
    if client.client_secret:
        auth_client = globus_sdk.ConfidentialAppAuthClient(client.client_id, client.client_secret, **settings)
    else:
        auth_client = globus_sdk.NativeAppAuthClient(client.client_id, **settings)
    try:
        if client.refresh_token:
            authorizer: GlobusAuthorizer = globus_sdk.RefreshTokenAuthorizer(client.refresh_token, auth_client)
        else:
            assert isinstance(auth_client, globus_sdk.ConfidentialAppAuthClient)
            authorizer = globus_sdk.ClientCredentialsAuthorizer(auth_client, globus_sdk.TransferClient.scopes.all)
    except globus_sdk.AuthAPIError as exc:
        raise from_auth_error(exc, client_id=client.client_id, grant=client.grant, source=client.source) from None
    except globus_sdk.NetworkError as exc:
        raise from_sdk_error(exc, what="fetching a Globus access token") from None
    log.info("Globus: authorised as OAuth2 client %s (%s grant)", client.client_id, client.grant)
    return SharedAuthorizer(authorizer)


class CountedTransferClient(globus_sdk.TransferClient):
    """A TransferClient that counts its HTTP requests as the service sees them (each against
    the client's rate limit): its requests session's ``send`` counts, so globus-sdk's own retries
    (made inside its transport) count too."""

    def __init__(self, counter: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        session = getattr(self.transport, "session", None)
        if session is not None:
            send = session.send

            def counted_send(*args: Any, **kw: Any) -> Any:
                counter()
                return send(*args, **kw)

            session.send = counted_send


class GlobusService:
    """Transfer API calls for one job, from any thread; exceptions come out as MoverErrors."""

    def __init__(
        self, oauth: OAuthClient, authorizer: GlobusAuthorizer, *, http_timeout: float, http_retries: int
    ) -> None:
        self.oauth = oauth
        self.authorizer = authorizer
        self.http_timeout = http_timeout
        self.http_retries = http_retries
        self._local = threading.local()
        self._lock = threading.Lock()
        self._clients: list[globus_sdk.TransferClient] = []
        self._running: set[str] = set()
        #: Transfer API requests made so far (all threads): what a VO's shared client is rate-limited on.
        self.requests = 0

    @property
    def client(self) -> globus_sdk.TransferClient:
        """This thread's TransferClient (a requests session is not shared between threads)."""
        client: Optional[globus_sdk.TransferClient] = getattr(self._local, "client", None)
        if client is None:
            client = CountedTransferClient(
                self._counted, authorizer=self.authorizer, **_client_settings(self.http_timeout, self.http_retries)
            )
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    def _counted(self) -> None:
        with self._lock:
            self.requests += 1

    def call(
        self, what: str, operation: Callable[[globus_sdk.TransferClient], T], *, scope: Optional[Scope] = None
    ) -> T:
        """``operation(client)``, its failure translated (``what`` says what was being done)."""
        try:
            return operation(self.client)
        except MoverError:
            raise
        except (globus_sdk.GlobusError, OSError) as exc:
            raise self.translate(exc, what, scope) from None

    def translate(self, exc: Exception, what: str, scope: Optional[Scope] = None) -> MoverError:
        """An exception of a globus-sdk call as a MoverError."""
        if isinstance(exc, globus_sdk.AuthAPIError):  # a token renewal refused mid-job
            return from_auth_error(
                exc, client_id=self.oauth.client_id, grant=self.oauth.grant, source=self.oauth.source
            )
        return from_sdk_error(exc, what=what, scope=scope)

    # -- the job's running tasks -------------------------------------------------------------

    def task_started(self, task_id: str) -> None:
        with self._lock:
            self._running.add(task_id)

    def task_ended(self, task_id: str) -> None:
        with self._lock:
            self._running.discard(task_id)

    def cancel_running(self) -> None:
        """Cancel every task of the job that has not ended (closing the mover). Never raises."""
        with self._lock:
            running = sorted(self._running)
        for task_id in running:
            try:
                self.call(f"cancelling task {task_id}", partial(_cancel, task_id=task_id))
                log.warning("Globus: task %s cancelled: the job is ending", task_id)
            except MoverError as exc:
                log.warning("Globus: could not cancel task %s: %s", task_id, exc.message)
            self.task_ended(task_id)

    def close(self) -> None:
        with self._lock:
            clients, self._clients = self._clients, []
        for client in clients:
            try:
                client.close()
            except Exception:  # closing sessions must not fail the job
                log.debug("closing a TransferClient failed", exc_info=True)


def _cancel(client: globus_sdk.TransferClient, *, task_id: str) -> Any:
    return client.cancel_task(task_id)
