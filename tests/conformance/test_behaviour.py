"""The conformance behaviour suite (pilot_movers_testkit.conformance) on every network mover of
the project, against the session's real servers."""

from pilot_movers_testkit.conformance import MoverBehaviourSuite


class TestMoverBehaviour(MoverBehaviourSuite):
    pass
