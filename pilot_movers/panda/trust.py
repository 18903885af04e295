"""What a PanDA job description may steer (queue config ``[panda]``).

In PanDA mode the data a job moves comes from the description's file fields (``inFiles``,
``outFiles``, their scopes, checksums and storage endpoints), the replicas the pilot resolved and
the queue's storages: fields the PanDA server fills. ``jobPars`` is the payload's command line,
which a user writes for analysis jobs; job parameter tokens inside it (``dir-in=``, ``files-out=``,
``myproxy-server=``...) steer nothing unless the queue says so, as the 2012 dataPilot did, and then
only with a user's proxy fetched from MyProxy, never with the pilot's own credential.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional

from pilot_movers.config_values import check_fields, parse_options


@dataclass(frozen=True)
class PandaOptions:
    """Queue config ``[panda]``."""

    data_in_jobpars: bool = False
    """Honour job parameter tokens in ``jobPars`` (the 2012 dataPilot style): files to move, where,
    and the MyProxy user. The job then needs a MyProxy logon (``[myproxy]``): what a user's own
    parameters move is moved with that user's proxy, never with the pilot's."""
    output_storages: tuple[str, ...] = ()
    """Storage endpoints an output may go to instead of its own (``ddmEndPointOut``), in order,
    when its own fails in a way another can cure (unreachable, full, refusing): queuedata's
    ``astorages`` for stage-out. Each must be one the queue can resolve (``storages`` or
    ``ddmendpoints``)."""
    ddmendpoints: Optional[str] = None
    """CRIC's storage description (a JSON file: ``cric_ddmendpoints.json`` as on CVMFS): storage
    endpoints the ``storages`` rule does not name are resolved from it, by their protocols for
    the phase's activity (``panda.ddmendpoints``)."""

    def __post_init__(self) -> None:
        check_fields(self, where="[panda]")

    @classmethod
    def from_options(cls, options: Mapping[str, Any], *, where: str = "[panda]") -> PandaOptions:
        return parse_options(cls, options, where=where)
