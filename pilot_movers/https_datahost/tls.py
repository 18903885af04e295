"""TLS for DataHost clients: the server is always verified against a grid CA directory.

The CA directory is passed on every request (``verify=<dir>``): requests lets
``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` replace a session-wide ``verify``, which would silently
swap the grid CAs for a system bundle. Sessions also ignore the environment otherwise
(``trust_env`` off: no ``.netrc`` credentials); HTTP proxies from the environment are applied
explicitly, unless the caller bypasses them. The only way to turn verification off is the
test-only flag, which logs a warning every time a client is made with it.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Optional, Union

from pilot_movers.errors import ConfigurationError
from pilot_movers.https_datahost.interrupts import Interruptible, tracked_pool_classes

log = logging.getLogger(__name__)

DEFAULT_CA_DIR = "/etc/grid-security/certificates"
#: Bytes urllib3 hands to the socket per send (its default, 16 KiB, costs CPU at 1 GiB).
SEND_BLOCK = 1 << 20


def resolve_ca_dir(ca_dir: Optional[str]) -> str:
    """The CA directory: ``ca_dir``, else ``$X509_CERT_DIR``, else /etc/grid-security/certificates."""
    chosen = ca_dir or os.environ.get("X509_CERT_DIR") or DEFAULT_CA_DIR
    if not os.path.isdir(chosen):
        raise ConfigurationError(f"the CA directory {chosen} does not exist (set X509_CERT_DIR or --ca-dir)")
    return chosen


def verify_setting(ca_dir: Optional[str], *, insecure_for_tests_only: bool) -> Union[str, bool]:
    """What to pass as requests' ``verify`` on every request."""
    if insecure_for_tests_only:
        log.warning("TLS server verification is OFF (insecure_for_tests_only): never use this outside tests")
        return False
    return resolve_ca_dir(ca_dir)


def make_adapter(pool_size: int = 10, interruptible: Optional[Interruptible] = None) -> Any:
    """A requests adapter whose connections send 1 MiB blocks (urllib3 2.x), keeping up to
    ``pool_size`` connections per server (a job's movers size it to their concurrency, so
    parallel transfers reuse their connections instead of opening and dropping extra ones), and
    whose requests ``interruptible`` can break off from another thread."""
    import urllib3
    from requests.adapters import HTTPAdapter

    big_blocks = int(urllib3.__version__.split(".")[0]) >= 2
    pool_classes = tracked_pool_classes(interruptible) if interruptible is not None else None

    class _Adapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            if big_blocks:
                kwargs.setdefault("blocksize", SEND_BLOCK)
            super().init_poolmanager(*args, **kwargs)
            if pool_classes is not None:
                self.poolmanager.pool_classes_by_scheme = pool_classes

        def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
            if big_blocks:
                proxy_kwargs.setdefault("blocksize", SEND_BLOCK)
            manager = super().proxy_manager_for(proxy, **proxy_kwargs)
            if pool_classes is not None:
                manager.pool_classes_by_scheme = pool_classes
            return manager

    return _Adapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=closed_without_answer_retry())


#: Methods sent again when the server closed the connection before answering (no body, and
#: asking twice does what asking once does).
SAFE_TO_REPEAT = frozenset({"GET", "HEAD", "OPTIONS", "PROPFIND"})


def closed_without_answer_retry() -> Any:
    """urllib3's retry policy for the movers' sessions: a request that needs no body and changes
    nothing is sent once more, on a new connection, when the server closed its connection before
    answering (a server drops idle keep-alive connections, and one may go just as a request is
    sent on it). Nothing else is retried here: the engine retries, with backoff and a cap."""
    import http.client

    from urllib3.exceptions import ProtocolError
    from urllib3.util.retry import Retry

    closed = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ConnectionAbortedError)
    no_retry = Retry(0, read=False)  # what requests does by default, for every other failure

    class _ClosedWithoutAnswer(Retry):
        def increment(
            self,
            method: Optional[str] = None,
            url: Optional[str] = None,
            response: Any = None,
            error: Optional[Exception] = None,
            _pool: Any = None,
            _stacktrace: Any = None,
        ) -> _ClosedWithoutAnswer:
            if error is not None and not (
                isinstance(error, ProtocolError) and any(isinstance(a, closed) for a in error.args)
            ):
                no_retry.increment(method, url, response, error, _pool, _stacktrace)  # raises
            return super().increment(method, url, response, error, _pool, _stacktrace)

    return _ClosedWithoutAnswer(
        total=1, connect=0, read=1, redirect=0, status=0, other=0, allowed_methods=SAFE_TO_REPEAT, raise_on_status=False
    )
