"""Template filters that write sizes and rates in the units the page states: powers of 1000
(1 MB = 10^6 bytes), as MB/s is everywhere here; Django's ``filesizeformat`` uses powers of 1024
under the same names."""

from __future__ import annotations

from typing import Optional

from django import template

from pilot_movers.units import human_bytes

register = template.Library()


@register.filter
def si_bytes(count: Optional[int]) -> str:
    """``1234567`` -> ``1.23 MB``; empty for an unknown size."""
    if count is None:
        return ""
    return human_bytes(int(count))


@register.filter
def mb_per_s(rate: Optional[float]) -> str:
    """A rate in MB/s with three significant digits (``0.0123``, ``1.23``, ``123``)."""
    if rate is None:
        return ""
    if rate < 0.001:
        return "< 0.001"
    return f"{rate:.3g}" if rate < 1000 else f"{rate:.0f}"
