"""Sizes as a person reads them (the summary table, the doctor's lines)."""

from __future__ import annotations


def human_bytes(count: int) -> str:
    """``1234567`` -> ``1.23 MB`` (powers of 1000, as disks and links are sold)."""
    value = float(count)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{count} B" if unit == "B" else f"{value:.2f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")
