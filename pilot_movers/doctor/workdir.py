"""The work dir a job would use: can be made, private, and room for the job's inputs."""

from __future__ import annotations

import os
import shutil
import stat
from typing import Optional

from pilot_movers.doctor.findings import Finding, ok, problem, warning
from pilot_movers.errors import MoverError
from pilot_movers.units import human_bytes
from pilot_movers.workdir import check_workdir_path

CHECK = "work dir"
#: Free space below which a work dir's disk is as good as full (a proxy, a log, a report).
FULL = 10_000_000
#: Free space below which a warning is given when the inputs' sizes are not known.
LOW = 1_000_000_000


def check_workdir(path: str, input_bytes: Optional[int], inputs: int) -> list[Finding]:
    try:
        absolute = check_workdir_path(path)
    except MoverError as exc:
        return [problem(CHECK, exc.message, "give --workdir a writable directory")]
    findings = []
    if os.path.isdir(absolute):
        mode = stat.S_IMODE(os.stat(absolute).st_mode)
        if not os.access(absolute, os.W_OK | os.X_OK):
            return [problem(CHECK, f"{absolute} is not writable by this user", "give --workdir a writable directory")]
        if mode & 0o022:
            owner = os.stat(absolute).st_uid
            if owner != os.geteuid():
                findings.append(
                    problem(
                        CHECK,
                        f"{absolute} is writable by others (mode {mode:o}), owned by uid {owner}: a job refuses it",
                        "use a private work dir (mode 0700)",
                    )
                )
            else:
                findings.append(
                    warning(CHECK, f"{absolute} is writable by others (mode {mode:o}): a job makes it 0700")
                )
        else:
            findings.append(ok(CHECK, f"{absolute} exists, writable, mode {mode:o}"))
    else:
        findings.append(ok(CHECK, f"{absolute} can be made"))
    findings.append(_space(absolute, input_bytes, inputs))
    return findings


def _space(path: str, input_bytes: Optional[int], inputs: int) -> Finding:
    check = "free space"
    where = path
    while not os.path.exists(where):
        where = os.path.dirname(where)
    free = shutil.disk_usage(where).free
    fix = "free space there, or give --workdir a dir on a larger disk"
    if input_bytes is not None:
        said = f"{human_bytes(free)} free under {where}, the job's {inputs} input(s) need {human_bytes(input_bytes)}"
        return problem(check, said, fix) if free < input_bytes else ok(check, said)
    if free < FULL:
        return problem(check, f"the disk under {where} is full: {human_bytes(free)} free", fix)
    if free < LOW:
        return warning(check, f"only {human_bytes(free)} free under {where} (input sizes unknown)", fix)
    return ok(check, f"{human_bytes(free)} free under {where}")
