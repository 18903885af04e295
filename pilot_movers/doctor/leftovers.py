"""What jobs of this user that were killed left on this node (the ledger's records of jobs that are
gone): a GCP still running (it would block every later Globus job), its config dir, a worker
endpoint still registered at the service, temporary copies on servers, a user's proxy.

The doctor stops such a process group and removes such a directory itself (they are the
library's own, named so, and nobody's any more), and says what it did; what needs a server or a
service (temporary copies, a worker endpoint) it lists: the next job of the queue removes it.
"""

from __future__ import annotations

import os
from typing import Optional

from pilot_movers.doctor.findings import Finding, ok, warning
from pilot_movers.errors import MoverError
from pilot_movers.holdings import LOCAL_KINDS, remove_local
from pilot_movers.ledger import Ledger


def check_leftovers(directory: Optional[str] = None) -> list[Finding]:
    try:
        ledger = Ledger(directory)
        dead = ledger.dead_records()
    except (MoverError, OSError) as exc:
        return [
            warning("left by killed jobs", f"the ledger cannot be read: {exc}", "look at its directory's permissions")
        ]
    findings: list[Finding] = []
    for record in dead:
        removed: list[str] = []
        try:
            remote = []
            for kind, value in record.held:
                if kind in LOCAL_KINDS:
                    said = remove_local(kind, value)
                    if said:
                        removed.append(said)
                else:
                    remote.append(f"{kind} {value}")
            remote += [f"temporary copy {url}" for url in record.pending]
            remote += [f"user proxy {path}" for path in record.proxies if os.path.exists(path)]
            if removed:
                findings.append(
                    warning(
                        "left by killed jobs",
                        f"a job that was killed (work dir {record.workdir}) left {'; '.join(removed)}: removed now",
                    )
                )
            if remote:
                findings.append(
                    warning(
                        "left by killed jobs",
                        f"a job that was killed (work dir {record.workdir}) left {'; '.join(remote)}",
                        "the next job of this user on this node removes it (a worker endpoint: the next Globus job)",
                    )
                )
        finally:  # the record stays as it is: the next job sweeps the rest (what is gone, it skips)
            record.leave()
    return findings or [ok("left by killed jobs", "no job of this user on this node left anything behind")]
