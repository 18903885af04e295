import no_such_module_anywhere  # noqa: F401  - the optional dependency this mover lacks

from pilot_movers import Mover


class BrokenMover(Mover):
    name = "broken"
