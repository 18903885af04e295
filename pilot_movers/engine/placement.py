"""Temporary names: bytes land next to the destination under a name nobody else uses, and the
engine renames them into place only after verification."""

from __future__ import annotations

import secrets

from pilot_movers.reserved import MARK
from pilot_movers.values import Location

TEMP_MARK = MARK
TEMP_SUFFIX = ".part"
_MAX_STEM = 180  # leaves room for the suffix inside a 255-byte file name


def temporary_location(destination: Location, attempt: int) -> Location:
    """``dir/name`` -> ``dir/name.pilot-movers-a1-3f9c2e1b.part`` (unique per attempt)."""
    stem = destination.name[:_MAX_STEM]
    return destination.sibling(f"{stem}{TEMP_MARK}a{attempt}-{secrets.token_hex(4)}{TEMP_SUFFIX}")
