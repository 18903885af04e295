"""The mover conformance kit: what every mover does right, and the faults it survives, against a
real server, written once.

    from pilot_movers_testkit.conformance import MoverBehaviourSuite, MoverFaultSuite, ServerUnderTest

    @pytest.fixture
    def storage(...) -> ServerUnderTest: ...   # your server, one test's directory on it

    class TestMyMoverBehaviour(MoverBehaviourSuite):
        pass

    class TestMyMoverFaults(MoverFaultSuite):   # needs a server it can freeze, fill and close
        pass

``behaviour`` (round trips, checksums, missing sources, existing destinations: through the
engine, in process) needs a ``StorageUnderTest``; ``faults`` (slow links, frozen servers, full
disks, refused connections, SIGTERM: through the real command) a ``ServerUnderTest``.
"""

from pilot_movers_testkit.conformance.behaviour import MoverBehaviourSuite
from pilot_movers_testkit.conformance.faults import MoverFaultSuite
from pilot_movers_testkit.conformance.jobs import JobRun, start_job
from pilot_movers_testkit.conformance.storage import (
    ServerUnderTest,
    StorageUnderTest,
    free_port,
    slow_loopback,
    small_disk,
)

__all__ = [
    "JobRun",
    "MoverBehaviourSuite",
    "MoverFaultSuite",
    "ServerUnderTest",
    "StorageUnderTest",
    "free_port",
    "slow_loopback",
    "small_disk",
    "start_job",
]
