"""The version of a library a mover is built on, for ``doctor`` and ``movers``: the installed
distribution's, else what the module says of itself."""

from __future__ import annotations

import importlib
from importlib import metadata
from typing import Optional


def library_version(module: str, distribution: Optional[str] = None) -> Optional[str]:
    """``distribution``'s version when installed, else the module's ``__version__``, ``version``
    or ``get_version()``; None when the module cannot be imported or says nothing."""
    if distribution is not None:
        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            pass
    try:
        imported = importlib.import_module(module)
    except ImportError:
        return None
    for attribute in ("__version__", "version"):
        value = getattr(imported, attribute, None)
        if isinstance(value, str):
            return value
    getter = getattr(imported, "get_version", None)
    return str(getter()) if callable(getter) else None


def described(module: str, distribution: Optional[str] = None) -> str:
    """``module version`` (``XRootD 5.6.4``), or ``module (version unknown)``."""
    return f"{module} {library_version(module, distribution) or '(version unknown)'}"
