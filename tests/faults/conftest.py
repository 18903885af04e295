"""The fault suite: faults injected into the real local grid, each outcome counted.

Every test records what happened (``figures``) in ``var/faults/figures.jsonl``; ``python -m
tests.faults.report`` turns the records into ``docs/reliability.md``. ``FAULT_RUNS`` sets how many
times each fault is injected (CI: 3; ``scripts/faults.sh``: 20). Every log line the suite produces
is scanned for secrets (proxy and key PEM lines, the MyProxy passphrase), and the count is a
figure too: it must be 0.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
from pilot_movers_testkit.grid import LocalGrid

ROOT = Path(__file__).resolve().parents[2]
FIGURES = ROOT / "var" / "faults" / "figures.jsonl"
RUNS = int(os.environ.get("FAULT_RUNS", "3"))


class Figures:
    """Append-only records of what each fault did."""

    def record(self, fault: str, protocol: str, **counts: Any) -> None:
        FIGURES.parent.mkdir(parents=True, exist_ok=True)
        entry = {"fault": fault, "protocol": protocol, "runs": RUNS, "at": time.time(), **counts}
        with open(FIGURES, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")


@pytest.fixture(scope="session")
def figures() -> Figures:
    return Figures()


def secret_lines(grid: LocalGrid, extra: tuple[str, ...] = ()) -> set[str]:
    """Lines that must never appear in a log: every line of every key and proxy of the grid."""
    lines: set[str] = set(extra)
    for path in grid.root.rglob("*.pem"):
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        if "PRIVATE KEY" in text:
            lines.update(line for line in text.splitlines() if line and not line.startswith("-----"))
    return lines


@pytest.fixture(scope="session")
def all_log_lines() -> Iterator[list[str]]:
    """Every log record of the suite, at DEBUG, from every logger."""
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    handler = Keep(level=logging.DEBUG)
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield records
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


from tests.grid.conftest import gib_file, proto  # noqa: E402, F401 - the per-protocol fixtures
