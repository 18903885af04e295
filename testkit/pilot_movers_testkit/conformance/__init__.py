"""The mover conformance kit: fault cases every mover passes against a real server.

    from pilot_movers_testkit.conformance import MoverFaultSuite, StorageUnderTest

    @pytest.fixture
    def storage(...) -> StorageUnderTest: ...   # your server, one test's directory on it

    class TestMyMoverFaults(MoverFaultSuite):
        pass

See ``faults`` for the cases and ``storage`` for what a server must offer.
"""

from pilot_movers_testkit.conformance.faults import MoverFaultSuite
from pilot_movers_testkit.conformance.jobs import JobRun, start_job
from pilot_movers_testkit.conformance.storage import StorageUnderTest, free_port, slow_loopback, small_disk

__all__ = ["JobRun", "MoverFaultSuite", "StorageUnderTest", "free_port", "slow_loopback", "small_disk", "start_job"]
