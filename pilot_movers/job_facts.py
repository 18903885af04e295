"""What a job tells each mover it opens, besides its credentials: where the job works and what
its parameters say. A mover that needs more of the job than the files it is handed (the Globus
mover's worker endpoint, restricted to the work dir) reads it here, never from the ``Job``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from job_params.model import JobParams


@dataclass(frozen=True)
class JobFacts:
    """``workdir``: the job's work dir (absolute; None for a mover used on its own);
    ``job_id``: for labels and names the service shows; ``params``: the job's parameters."""

    workdir: Optional[str] = None
    job_id: str = ""
    params: JobParams = field(default_factory=JobParams)
