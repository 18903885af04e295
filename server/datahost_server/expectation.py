"""What bandwidth a user got and what to expect now: the heuristic the page states beside its plot
(rates.py reads its basis from the database).

The heuristic, per direction (uploads to the server; downloads from it):

- basis: the user's last ``RECENT`` finished transfers of at least ``MIN_BYTES`` in that
  direction from the past ``WINDOW`` (smaller files measure request latency, not bandwidth);
  for each, how many other transfers in the same direction (any user's) ran at the same time;
- typical = the median of their rates; alongside = the median of those counts;
- running now = transfers in that direction running on this server now (started in the past
  ``STALE``; older "running" records are left by a killed process);
- expected = typical x min(1, (1 + alongside) / (1 + running now)): running transfers are
  assumed to share the server's link equally, so more of them than usual means less for each;
  never more than typical, since the user's own link may be what limited it.

Uploads from URL are plotted but not predicted: their rate depends on the source.
"""

from __future__ import annotations

import datetime
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

#: The basis: this many recent transfers, of at least this many bytes, from this period.
RECENT = 10
MIN_BYTES = 1_000_000
WINDOW = datetime.timedelta(days=7)
#: A transfer "running" for longer than this is taken for a dead process's leftover.
STALE = datetime.timedelta(hours=24)


@dataclass(frozen=True)
class Sample:
    """One finished transfer of the basis."""

    name: str
    finished: datetime.datetime
    bytes: int
    mb_per_s: float
    alongside: int


@dataclass(frozen=True)
class Expectation:
    direction: str
    samples: tuple[Sample, ...]
    running_now: int
    typical_mb_per_s: Optional[float]
    typical_alongside: Optional[float]
    expected_mb_per_s: Optional[float]


def expect(direction: str, samples: Sequence[Sample], running_now: int) -> Expectation:
    """The heuristic of this module's docstring, on samples already gathered (no basis: None)."""
    if not samples:
        return Expectation(direction, tuple(samples), running_now, None, None, None)
    typical = statistics.median(s.mb_per_s for s in samples)
    alongside = statistics.median(s.alongside for s in samples)
    expected = typical * min(1.0, (1 + alongside) / (1 + running_now))
    return Expectation(direction, tuple(samples), running_now, typical, alongside, expected)
