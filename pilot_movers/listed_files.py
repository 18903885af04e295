"""Files a job's description lists one by one (PanDA's getJob does), each with what its catalogue
says of it and where its replica is: a planning input besides the job parameters.

Where a listed file is (an input) or goes (an output), on the remote side:

* ``replicas``: URLs given for this file (turls a pilot resolved, Rucio's replicas), best first:
  the others are tried when the first fails in a way another can cure; else
* ``storage``: a storage endpoint's name (``CERN-PROD_DATADISK``), which the queue's ``storages``
  rule turns into a URL prefix, joined with ``path`` (default: the file's name).

The local side is always the work dir. ``planner.plan`` turns each into a ``FileSpec`` whose
expected ``size`` and ``checksum`` every mover verifies, and whose ``metadata`` reaches the report.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Mapping, Optional

from job_params.errors import JobParamsError
from job_params.model import check_file_name
from pilot_movers.checksums import Checksum
from pilot_movers.values import Role


@dataclass(frozen=True)
class ListedFile:
    """One file of a job's description. ``metadata`` (scope, GUID, dataset...) is carried to the
    report unchanged."""

    name: str
    role: Role
    size: Optional[int] = None
    checksum: Optional[Checksum] = None
    replicas: tuple[str, ...] = ()
    storage: Optional[str] = None
    path: Optional[str] = None
    """Where the file is under its storage's URL prefix (relative); default: ``name``."""
    metadata: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        check_file_name(self.name, self.name)
        if self.size is not None and self.size < 0:
            raise JobParamsError(self.name, f"a size cannot be negative ({self.size})")
        if self.path is not None:
            normal = posixpath.normpath(self.path)
            if self.path.startswith("/") or normal == ".." or normal.startswith("../"):
                raise JobParamsError(self.name, f"path {self.path!r} must stay under its storage's URL prefix")

    @property
    def relative_path(self) -> str:
        """The path under the storage's URL prefix."""
        return self.path or self.name
