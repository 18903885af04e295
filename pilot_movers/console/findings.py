"""``pilot-movers doctor``'s lines: one per check, its status, what was found and the fix."""

from __future__ import annotations

from typing import Sequence

from pilot_movers.doctor.findings import Finding, Status

_MARK = {Status.OK: "ok     ", Status.WARNING: "warning", Status.PROBLEM: "PROBLEM"}


def findings_text(findings: Sequence[Finding]) -> str:
    lines = []
    for finding in findings:
        lines.append(f"{_MARK[finding.status]}  {finding.check}: {finding.message}")
        if finding.fix and finding.status is not Status.OK:
            lines.append(f"         fix: {finding.fix}")
    problems = sum(1 for f in findings if f.status is Status.PROBLEM)
    warnings = sum(1 for f in findings if f.status is Status.WARNING)
    lines.append(f"{len(findings)} check(s): {problems} problem(s), {warnings} warning(s)")
    return "\n".join(lines)
