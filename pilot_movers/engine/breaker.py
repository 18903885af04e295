"""Stop a phase early when most of its transfers fail, instead of hammering a broken server
(pegasus-transfer's rule: more than 80 % of at least 10 transfers)."""

from __future__ import annotations

import threading


class CircuitBreaker:
    def __init__(self, min_transfers: int, failure_ratio: float) -> None:
        self.min_transfers = min_transfers
        self.failure_ratio = failure_ratio
        self.ok = 0
        self.failed = 0
        self._lock = threading.Lock()

    def record(self, ok: bool) -> None:
        with self._lock:
            if ok:
                self.ok += 1
            else:
                self.failed += 1

    @property
    def tripped(self) -> bool:
        with self._lock:
            total = self.ok + self.failed
            return total >= self.min_transfers and self.failed > self.failure_ratio * total

    def describe(self) -> str:
        return f"{self.failed} of {self.ok + self.failed} transfer attempts failed"
