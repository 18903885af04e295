"""What one check found: ok, a warning or a problem, in one sentence, with the fix."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Sequence


class Status(str, enum.Enum):
    OK = "ok"
    WARNING = "warning"
    PROBLEM = "problem"
    """A job run here now would fail."""


@dataclass(frozen=True)
class Finding:
    """``check`` names what was looked at (``proxy``, ``server gsiftp://se:2811``); ``message``
    says what was found, ``fix`` what to do about a warning or a problem. ``transient``: a problem
    that may go away by itself (a server down), as a transient error is for ``run``."""

    check: str
    status: Status
    message: str
    fix: str = ""
    transient: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "status": self.status.value,
            "message": self.message,
            "fix": self.fix or None,
            "transient": self.transient,
        }


#: The fix when a Python module is missing (the message names the extra or package to install).
INSTALL_FIX = "install what it names into the Python environment pilot-movers runs in"
#: The same for a mover, which a queue may also do without.
MOVER_INSTALL_FIX = f"{INSTALL_FIX}, or name another mover in the queue config"


def ok(check: str, message: str) -> Finding:
    return Finding(check, Status.OK, message)


def warning(check: str, message: str, fix: str = "") -> Finding:
    return Finding(check, Status.WARNING, message, fix)


def problem(check: str, message: str, fix: str = "", *, transient: bool = False) -> Finding:
    return Finding(check, Status.PROBLEM, message, fix, transient)


#: Exit statuses, as ``pilot-movers run`` uses them.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_RETRYABLE = 3


def exit_status(findings: Sequence[Finding]) -> int:
    """0: no problem; 3: every problem may go away by itself (a retry may help); 1 otherwise."""
    problems = [f for f in findings if f.status is Status.PROBLEM]
    if not problems:
        return EXIT_OK
    return EXIT_RETRYABLE if all(f.transient for f in problems) else EXIT_FAILED
