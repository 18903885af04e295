"""Movers by name, from the ``pilot_movers.movers`` entry point group, imported on first use.

A third party adds a mover by declaring, in its own package metadata::

    [options.entry_points]
    pilot_movers.movers =
        mystore = mystore_mover:MyStoreMover [mystore]

The optional ``[extra]`` names the extra of the distribution to install when the mover's module
cannot be imported; the error then says exactly that, in one sentence (the way fsspec's
``known_implementations`` does).
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Optional

from pilot_movers.base import Mover
from pilot_movers.errors import MoverUnavailable, NoMoverForScheme, UnknownMover

ENTRY_POINT_GROUP = "pilot_movers.movers"

#: Which mover serves a scheme when queue config names none.
DEFAULT_FOR_SCHEME = {
    "file": "local",
    "gsiftp": "gridftp",
    "root": "xrootd",
    "roots": "xrootd",
    "xroot": "xrootd",
    "davs": "https",
    "https": "https",
    "globus": "globus",
}

#: Modules that pip cannot install: where they come from instead.
_NOT_ON_PYPI = {
    "gfal2": "gfal2's Python binding comes from the distribution, not PyPI "
    "(Debian: apt install python3-gfal2 gfal2-plugin-gridftp; scripts/bootstrap.sh sets up a venv that sees it)",
}


def _entry_points() -> dict[str, metadata.EntryPoint]:
    if sys.version_info >= (3, 10):
        found = metadata.entry_points(group=ENTRY_POINT_GROUP)
    else:  # pragma: no cover - Python 3.9
        found = metadata.entry_points().get(ENTRY_POINT_GROUP, [])
    return {ep.name: ep for ep in found}


def mover_names() -> list[str]:
    return sorted(_entry_points())


@functools.cache
def get_mover_class(name: str) -> type[Mover]:
    """The class registered as ``name``; UnknownMover or MoverUnavailable otherwise."""
    entry_points = _entry_points()
    entry_point = entry_points.get(name)
    if entry_point is None:
        known = ", ".join(sorted(entry_points)) or "none"
        raise UnknownMover(f"no mover named {name!r} is installed (installed: {known})")
    try:
        cls = entry_point.load()
    except ImportError as exc:
        raise MoverUnavailable(_install_sentence(name, entry_point, exc)) from exc
    if not (isinstance(cls, type) and issubclass(cls, Mover)):
        raise UnknownMover(f"entry point {name!r} ({entry_point.value}) is not a pilot_movers.Mover subclass")
    problem = cls.availability_problem()
    if problem:
        raise MoverUnavailable(f"the {name!r} mover cannot run here: {problem}")
    return cls


def get_mover(name: str, **options: Any) -> Mover:
    """An instance of the mover ``name``; ``options`` go to its constructor."""
    return get_mover_class(name)(**options)


def mover_for_scheme(scheme: str) -> str:
    """The name of the mover that serves ``scheme`` by default, or the first installed one that
    declares it."""
    default = DEFAULT_FOR_SCHEME.get(scheme)
    if default is not None:
        return default
    for name in mover_names():
        try:
            if scheme in get_mover_class(name).schemes:
                return name
        except (UnknownMover, MoverUnavailable):
            continue
    raise NoMoverForScheme(f"no installed mover handles {scheme}:// locations")


@dataclass(frozen=True)
class MoverInfo:
    name: str
    target: str
    schemes: tuple[str, ...]
    problem: Optional[str]

    @property
    def usable(self) -> bool:
        return self.problem is None


def describe_movers() -> list[MoverInfo]:
    """Every installed mover, and why it cannot be used here if it cannot."""
    infos = []
    for name, entry_point in sorted(_entry_points().items()):
        try:
            cls = get_mover_class(name)
        except (UnknownMover, MoverUnavailable) as exc:
            infos.append(MoverInfo(name, entry_point.value, (), exc.message))
        else:
            infos.append(MoverInfo(name, entry_point.value, cls.schemes, None))
    return infos


def _install_sentence(name: str, entry_point: metadata.EntryPoint, exc: ImportError) -> str:
    missing = exc.name or str(exc)
    if missing in _NOT_ON_PYPI:
        return f"the {name!r} mover needs the Python module {missing!r}: {_NOT_ON_PYPI[missing]}."
    dist = getattr(entry_point, "dist", None)  # EntryPoint.dist is Python 3.10+
    distribution = dist.name if dist is not None else "pilot-movers"
    extras = getattr(entry_point, "extras", [])
    package = f"{distribution}[{','.join(extras)}]" if extras else distribution
    return f"the {name!r} mover needs the Python module {missing!r}, which is not installed: pip install '{package}'."
