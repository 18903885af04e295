"""The table printed at the end of a job on a terminal: per phase, files, bytes, seconds, MB/s,
attempts; the payload's exit status and time."""

from __future__ import annotations

from pilot_movers.report import JobReport
from pilot_movers.units import human_bytes
from pilot_movers.values import Status

_HEADER = ("phase", "files", "failed", "bytes", "seconds", "MB/s", "attempts")


def summary_table(report: JobReport) -> str:
    rows = [_HEADER]
    for phase in report.phases:
        done = sum(1 for r in phase.results if r.status in (Status.DONE, Status.ALREADY_DONE))
        failed = len(phase.results) - done
        rows.append(
            (
                phase.phase,
                f"{done}/{len(phase.results)}",
                str(failed),
                human_bytes(phase.bytes),
                f"{phase.seconds:.2f}",
                f"{phase.throughput:.1f}",
                str(phase.attempts),
            )
        )
    if report.payload is not None:
        payload = report.payload
        ended = f"signal {payload.signal}" if payload.signal else f"exit {payload.exit_code}"
        rows.append(("payload", "", "", "", f"{payload.ended - payload.started:.2f}", "", ended))
    widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADER))]
    lines = [
        "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    status = "succeeded" if report.ok else f"FAILED in {report.failed_phase or 'setup'}"
    lines.append(f"job {report.job_id or '(no id)'} {status} in {report.ended - report.started:.2f} s")
    return "\n".join(lines)
