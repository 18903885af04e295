"""Each mover a job of this queue would use: installed, importable, and its library's version."""

from __future__ import annotations

from typing import Any, Mapping

from pilot_movers.doctor.findings import MOVER_INSTALL_FIX, Finding, ok, problem
from pilot_movers.errors import MoverError
from pilot_movers.registry import get_mover_class, mover_distribution


def check_mover(name: str) -> Finding:
    check = f"mover {name}"
    try:
        get_mover_class(name)
    except MoverError as exc:
        return problem(check, exc.message, MOVER_INSTALL_FIX)
    library = get_mover_class(name).library()
    if library is not None:
        return ok(check, library)
    dist = mover_distribution(name)
    return ok(check, f"from {dist.metadata['Name']} {dist.version}" if dist is not None else "installed")


def check_node(name: str, options: Any, environ: Mapping[str, str]) -> list[Finding]:
    """What mover ``name`` needs of this node besides its library (``Mover.node_checks``)."""
    try:
        checks = get_mover_class(name).node_checks(options, environ)
    except MoverError:  # not installed: check_mover said so
        return []
    return [
        ok(c.check, c.message) if c.ok else problem(c.check, c.message, c.fix, transient=c.transient) for c in checks
    ]
