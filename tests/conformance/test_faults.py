"""The conformance fault suite (pilot_movers_testkit.conformance) on every network mover of the
project, in both directions, through the real command against the session's real servers."""

from pilot_movers_testkit.conformance import MoverFaultSuite


class TestMoverFaults(MoverFaultSuite):
    pass
