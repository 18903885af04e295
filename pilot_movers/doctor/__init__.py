"""``pilot-movers doctor``: before any job, what a job of this queue would find on this node.

One ``Finding`` per check (ok, warning, problem, with the fix); ``examine`` runs them all and
``exit_status`` turns them into ``run``'s exit codes (0, 1, or 3 when every problem may pass)."""

from pilot_movers.doctor.checkup import examine
from pilot_movers.doctor.findings import Finding, Status, exit_status

__all__ = ["Finding", "Status", "examine", "exit_status"]
