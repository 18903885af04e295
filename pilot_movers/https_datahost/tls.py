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


def make_adapter() -> Any:
    """A requests adapter whose connections send 1 MiB blocks (urllib3 2.x)."""
    import urllib3
    from requests.adapters import HTTPAdapter

    big_blocks = int(urllib3.__version__.split(".")[0]) >= 2

    class _Adapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            if big_blocks:
                kwargs.setdefault("blocksize", SEND_BLOCK)
            super().init_poolmanager(*args, **kwargs)

        def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
            if big_blocks:
                proxy_kwargs.setdefault("blocksize", SEND_BLOCK)
            return super().proxy_manager_for(proxy, **proxy_kwargs)

    return _Adapter()
