"""What a job tells each mover it opens, besides its credentials: where the job works and what
its parameters say. A mover that needs more of the job than the files it is handed (the Globus
mover's worker endpoint, restricted to the work dir) reads it here, never from the ``Job``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Protocol

from job_params.model import JobParams


class Holdings(Protocol):
    """What a mover makes on the node or at a service that outlives a killed pilot (a Globus
    Connect Personal process group and its config dir, a worker endpoint), told to the job's
    record before it exists and after it is gone, so that a later job removes what a killed one
    left (``ledger``). ``left_by_dead_jobs(kind)``: what jobs that are gone left of ``kind`` and
    only this mover can remove (it claims each with ``hold`` and drops it with ``release``)."""

    def hold(self, kind: str, value: str) -> None: ...

    def release(self, kind: str, value: str) -> None: ...

    def left_by_dead_jobs(self, kind: str) -> list[str]: ...


class NoHoldings:
    """A mover used on its own: nothing is recorded."""

    def hold(self, kind: str, value: str) -> None:
        pass

    def release(self, kind: str, value: str) -> None:
        pass

    def left_by_dead_jobs(self, kind: str) -> list[str]:
        return []


@dataclass(frozen=True)
class JobFacts:
    """``workdir``: the job's work dir (absolute; None for a mover used on its own);
    ``job_id``: for labels and names the service shows; ``params``: the job's parameters;
    ``holdings``: the job's record of what it holds (``Holdings``)."""

    workdir: Optional[str] = None
    job_id: str = ""
    params: JobParams = field(default_factory=JobParams)
    holdings: Holdings = field(default_factory=NoHoldings)
