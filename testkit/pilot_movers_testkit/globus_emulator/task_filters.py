"""The ``filter`` of ``GET /task_list`` as globus-cli's ``task list`` writes it: clauses joined by
``/``; ``task_id``, ``type``, ``status`` take comma-separated values; ``label`` takes ``~PATTERN``
(``*`` wildcards, any case), ``=EXACT``, their negations ``!~``/``!``, or a bare exact label;
``request_time`` and ``completion_time`` take ``AFTER,BEFORE`` (either may be empty)."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Callable, Optional

from pilot_movers_testkit.globus_emulator.errors import bad_request
from pilot_movers_testkit.globus_emulator.tasks import Task

TaskFilter = Callable[[Task], bool]


def task_filter(text: str) -> TaskFilter:
    """One predicate for the whole filter string (every clause must hold)."""
    clauses = [_clause(clause) for clause in filter(None, text.split("/"))]
    return lambda task: all(clause(task) for clause in clauses)


def _clause(clause: str) -> TaskFilter:
    field, _, value = clause.partition(":")
    if field in ("task_id", "type", "status"):
        wanted = set(value.split(","))
        return lambda task: str(getattr(task, field)) in wanted
    if field == "label":
        return _label_filter(value.split(","))
    if field in ("request_time", "completion_time"):
        after, _, before = value.partition(",")
        low, high = _moment(after), _moment(before)
        return lambda task: _between(getattr(task, field), low, high)
    raise bad_request(f"Unsupported filter {clause!r}")


def _label_filter(terms: list[str]) -> TaskFilter:
    """Positive terms: any may match; negated terms (``!``): none may."""
    wanted = [_label_test(term) for term in terms if not term.startswith("!")]
    refused = [_label_test(term[1:]) for term in terms if term.startswith("!")]

    def matches(task: Task) -> bool:
        label = task.label or ""
        return (not wanted or any(test(label) for test in wanted)) and not any(test(label) for test in refused)

    return matches


def _label_test(term: str) -> Callable[[str], bool]:
    if term.startswith("~"):
        pattern = re.compile(".*".join(re.escape(part) for part in term[1:].split("*")), re.IGNORECASE)
        return lambda label: pattern.fullmatch(label) is not None
    exact = term[1:] if term.startswith("=") else term
    return lambda label: label == exact


def _moment(text: str) -> Optional[datetime]:
    if not text.strip():
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise bad_request(f"Invalid time {text!r} in filter") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _between(moment: Optional[datetime], low: Optional[datetime], high: Optional[datetime]) -> bool:
    if low is None and high is None:
        return True
    if moment is None:
        return False
    return (low is None or moment >= low) and (high is None or moment <= high)
