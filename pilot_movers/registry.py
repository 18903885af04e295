"""Movers by name, from the ``pilot_movers.movers`` entry point group, imported on first use.

A third party adds a mover by declaring, in its own package metadata::

    [options.entry_points]
    pilot_movers.movers =
        mystore = mystore_mover:MyStoreMover [mystore]
    pilot_movers.schemes =
        mystore = mystore

The optional ``[extra]`` names the extra of the distribution to install when the mover's module
cannot be imported; the error then says exactly that, in one sentence (the way fsspec's
``known_implementations`` does). The ``pilot_movers.schemes`` group says which mover serves a URL
scheme when queue config names none, without importing any mover; a scheme no entry point
claims goes to the first installed mover (by name) whose class lists it in ``schemes``.

Importing a transport must not change the caller's signal mask (a gfal2 context, made when the
gridftp mover's module loads, blocks every signal in its thread, which would leave the pilot deaf
to SIGTERM): whatever a mover's import does to it is undone.
"""

from __future__ import annotations

import functools
import signal
import sys
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Optional

from pilot_movers.base import Mover
from pilot_movers.engine.settings import TransferSettings
from pilot_movers.errors import ConfigurationError, MoverUnavailable, NoMoverForScheme, UnknownMover

ENTRY_POINT_GROUP = "pilot_movers.movers"
SCHEME_GROUP = "pilot_movers.schemes"

#: Modules that pip cannot install: where they come from instead.
_NOT_ON_PYPI = {
    "gfal2": "install the operating system's binding, which matches its libgfal2 "
    "(Debian/Ubuntu: apt install python3-gfal2 gfal2-plugin-gridftp; "
    "EL: dnf install python3-gfal2 gfal2-plugin-gridftp) and run pilot-movers with the system Python it is "
    "built for (/usr/bin/python3), or in a venv made from it with --system-site-packages (PyPI's gfal2-python "
    "is a source package: building it needs libgfal2's headers and boost-python, gfal2-devel or libgfal2-dev)",
}


def _group(group: str) -> list[metadata.EntryPoint]:
    if sys.version_info >= (3, 10):
        return list(metadata.entry_points(group=group))
    return list(metadata.entry_points().get(group, []))  # pragma: no cover - Python 3.9


def _entry_points() -> dict[str, metadata.EntryPoint]:
    return {ep.name: ep for ep in _group(ENTRY_POINT_GROUP)}


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
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    try:
        cls = entry_point.load()
    except ImportError as exc:
        raise MoverUnavailable(_install_sentence(name, entry_point, exc)) from exc
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    if not (isinstance(cls, type) and issubclass(cls, Mover)):
        raise UnknownMover(f"entry point {name!r} ({entry_point.value}) is not a pilot_movers.Mover subclass")
    problem = cls.availability_problem()
    if problem:
        raise MoverUnavailable(f"the {name!r} mover cannot run here: {problem}")
    return cls


@dataclass(frozen=True)
class ResolvedMover:
    """A mover looked up once, as a plan carries it: ``name``, the one queue config, the mover
    options and the report know it by (its entry point's; a class's own ``name`` normally says
    the same, but nothing makes a third party's agree), and ``cls``, its class, imported and
    usable here. Who holds one never asks the registry again."""

    name: str
    cls: type[Mover]

    @property
    def schemes(self) -> tuple[str, ...]:
        return self.cls.schemes


def resolve_mover(name: str) -> ResolvedMover:
    """The mover registered as ``name``, resolved; UnknownMover or MoverUnavailable otherwise."""
    return ResolvedMover(name, get_mover_class(name))


def get_mover(name: str, settings: Optional[TransferSettings] = None, **options: Any) -> Mover:
    """An instance of the mover ``name``; ``options`` are its queue config options."""
    return get_mover_class(name)(settings, **options)


def mover_for_scheme(scheme: str) -> str:
    """The mover that serves ``scheme`` when queue config names none: the one a
    ``pilot_movers.schemes`` entry point names (no mover is imported to find it), else the first
    installed mover (by name) whose class handles the scheme.

    Raises NoMoverForScheme when none does, ConfigurationError when two distributions claim it.
    """
    claims = {ep.value.strip() for ep in _group(SCHEME_GROUP) if ep.name == scheme}
    if len(claims) > 1:
        raise ConfigurationError(
            f"movers {', '.join(sorted(claims))} all claim {scheme}:// by default: name one in queue config (copytool)"
        )
    if claims:
        return claims.pop()
    for name, cls in _usable_classes().items():
        if scheme in cls.schemes:
            return name
    raise NoMoverForScheme(f"no installed mover handles {scheme}:// locations")


def _usable_classes() -> dict[str, type[Mover]]:
    usable = {}
    for name in mover_names():
        try:
            usable[name] = get_mover_class(name)
        except (UnknownMover, MoverUnavailable):
            continue
    return usable


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


def mover_distribution(name: str) -> Optional[metadata.Distribution]:
    """The installed distribution that registers mover ``name`` (None: no such mover, or its
    metadata cannot be found)."""
    entry_point = _entry_points().get(name)
    return _distribution_of(entry_point) if entry_point is not None else None


def _distribution_of(entry_point: metadata.EntryPoint) -> Optional[metadata.Distribution]:
    """The distribution declaring ``entry_point`` (None for one made by hand, as tests do)."""
    return getattr(entry_point, "dist", None)


def _install_sentence(name: str, entry_point: metadata.EntryPoint, exc: ImportError) -> str:
    missing = exc.name or str(exc)
    if missing in _NOT_ON_PYPI:
        return f"the {name!r} mover needs the Python module {missing!r}: {_NOT_ON_PYPI[missing]}."
    dist = _distribution_of(entry_point)
    distribution = dist.metadata["Name"] if dist is not None else "pilot-movers"
    extras = getattr(entry_point, "extras", [])
    package = f"{distribution}[{','.join(extras)}]" if extras else distribution
    return f"the {name!r} mover needs the Python module {missing!r}, which is not installed: pip install '{package}'."
