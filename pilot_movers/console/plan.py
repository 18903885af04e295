"""``run --dry-run``: the plan of a job, each file with its source, destination, mover, expected
size and checksum, as text or JSON."""

from __future__ import annotations

from typing import Any

from pilot_movers.job import NO_FILES_HINT, Preflight


def plan_to_dict(checked: Preflight, job_id: str) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "workdir": checked.workdir,
        "myproxy": (
            {"server": checked.myproxy.address, "username": checked.myproxy.username} if checked.myproxy else None
        ),
        "phases": {
            phase.value: [
                {
                    **item.spec.to_dict(),
                    "mover": item.mover.name,
                    **({"fallbacks": [m.name for m in item.fallbacks]} if item.fallbacks else {}),
                }
                for item in planned
            ]
            for phase, planned in checked.plans.items()
        },
    }


def plan_text(checked: Preflight, job_id: str) -> str:
    lines = [f"job {job_id or '(no id)'}: work dir {checked.workdir} (not made: dry run)"]
    if checked.myproxy is not None:
        lines.append(f"credentials: MyProxy logon as {checked.myproxy.username} at {checked.myproxy.address}")
    else:
        lines.append("credentials: the pilot's own (no MyProxy logon)")
    for phase, planned in checked.plans.items():
        lines.append(f"{phase.value}: {len(planned)} file(s)")
        for item in planned:
            spec = item.spec
            size = f"{spec.size} bytes" if spec.size is not None else "size unknown"
            checksum = str(spec.checksum) if spec.checksum else "no checksum given"
            lines.append(f"  {spec.name}  [{item.mover.name}]  {size}, {checksum}")
            lines.append(f"    from {spec.source.url}")
            lines.append(f"    to   {spec.destination.url}")
            for end, mover in zip(spec.alternatives, item.fallbacks):
                lines.append(f"    else {end.url}  [{mover.name}]")
    if not any(checked.plans.values()):
        lines.append(f"this job moves no file: {NO_FILES_HINT}")
    lines.append("nothing was made or moved")
    return "\n".join(lines)
