"""The few environment variables the library itself sets in the pilot's process, and only where a
library offers no other knob; the payload never inherits them."""

from __future__ import annotations

import os

_OURS: dict[str, str] = {}


def set_default(name: str, value: str) -> None:
    """``name=value`` in this process's environment unless the site set it already."""
    if name not in os.environ:
        os.environ[name] = value
        _OURS[name] = value


def set_by_us() -> dict[str, str]:
    """The variables ``set_default`` set (and their values): left out of the payload's environment."""
    return {name: value for name, value in _OURS.items() if os.environ.get(name) == value}
