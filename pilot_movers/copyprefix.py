"""PanDA's ``copyprefix``: rewrite the start of a storage URL (``^from1,from2^to1,to2``)."""

from __future__ import annotations

from pilot_movers.errors import ConfigurationError


def apply_copyprefix(url: str, copyprefix: str, source: str = "") -> str:
    """The first ``from`` prefix that starts ``url`` is replaced by its ``to``. Prefixes are
    literal text (``?`` and ``.`` in SRM URLs mean themselves)."""
    for prefix, replacement in parse_copyprefix(copyprefix, source):
        if url.startswith(prefix):
            return replacement + url[len(prefix) :]
    return url


def parse_copyprefix(copyprefix: str, source: str = "") -> list[tuple[str, str]]:
    """``^a,b^c,d`` -> ``[(a, c), (b, d)]``; ConfigurationError (naming ``source``) otherwise."""
    parts = copyprefix.split("^")
    if len(parts) != 3 or parts[0]:
        raise ConfigurationError(f"{source}: copyprefix {copyprefix!r} is not of the form ^from^to")
    froms, tos = parts[1].split(","), parts[2].split(",")
    if len(froms) != len(tos):
        raise ConfigurationError(f"{source}: copyprefix {copyprefix!r} has {len(froms)} 'from' and {len(tos)} 'to'")
    return list(zip(froms, tos))
