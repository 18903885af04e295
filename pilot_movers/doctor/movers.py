"""Each mover a job of this queue would use: installed, importable, and its library's version."""

from __future__ import annotations

import importlib
from importlib import metadata
from typing import Optional

from pilot_movers.doctor.findings import MOVER_INSTALL_FIX, Finding, ok, problem
from pilot_movers.errors import MoverError
from pilot_movers.registry import get_mover_class, mover_distribution

#: The library under each of our movers: (Python module, distribution on PyPI or None).
LIBRARIES = {
    "gridftp": ("gfal2", None),
    "xrootd": ("XRootD", "xrootd"),
    "globus": ("globus_sdk", "globus-sdk"),
    "https": ("requests", "requests"),
    "datahost": ("requests", "requests"),
}


def check_mover(name: str) -> Finding:
    check = f"mover {name}"
    try:
        get_mover_class(name)
    except MoverError as exc:
        return problem(check, exc.message, MOVER_INSTALL_FIX)
    library = LIBRARIES.get(name)
    if library is None:
        dist = mover_distribution(name)
        where = f"from {dist.metadata['Name']} {dist.version}" if dist is not None else "installed"
        return ok(check, where)
    module, distribution = library
    version = library_version(module, distribution)
    return ok(check, f"{module} {version or '(version unknown)'}")


def library_version(module: str, distribution: Optional[str]) -> Optional[str]:
    if module == "gfal2":  # the library's version (2.21.3) and its Python binding's (1.12.0)
        try:
            gfal2 = importlib.import_module("gfal2")
        except ImportError:
            return None
        binding = getattr(gfal2, "__version__", None)
        return f"{gfal2.get_version()} (Python binding {binding})" if binding else str(gfal2.get_version())
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
