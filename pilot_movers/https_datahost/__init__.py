"""HTTPS data hosts: the DataHost protocol client (``DataHostClient``), the ``datahost`` command
line, and two movers, found by the registry through their entry points: ``datahost``
(``datahost_mover``, on ``DataHostClient``) and ``https`` (``https_mover``, WebDAV). Needs
``pip install pilot-movers[https]``.

    from pilot_movers.https_datahost import DataHostClient
    with DataHostClient("datahost.example.org:8443", cert=proxy) as client:
        client.put("out.root")                  # UploadResult(name, size, adler32, ...)
        client.get("in.root", workdir)          # DownloadResult(...), verified and resumed
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DataHostClient": "pilot_movers.https_datahost.client",
    "RemoteFile": "pilot_movers.https_datahost.results",
    "Listing": "pilot_movers.https_datahost.results",
    "UploadResult": "pilot_movers.https_datahost.results",
    "DownloadResult": "pilot_movers.https_datahost.results",
    "TransferRecord": "pilot_movers.https_datahost.results",
    "SessionStore": "pilot_movers.https_datahost.session_store",
    "SavedSession": "pilot_movers.https_datahost.session_store",
}

__all__ = [
    "DataHostClient",
    "DownloadResult",
    "Listing",
    "RemoteFile",
    "SavedSession",
    "SessionStore",
    "TransferRecord",
    "UploadResult",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pilot_movers.https_datahost' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
