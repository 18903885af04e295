"""The gridftp mover's warm context pools: a broken session retires the contexts of its pool and
of the linked pool (copies and lookups talk to the same servers)."""

from __future__ import annotations

import itertools

from pilot_movers.gridftp.contexts import ContextPool


class Context:
    """Stands for a gfal2 context: only ``free`` is called by the pool."""

    numbers = itertools.count()

    def __init__(self) -> None:
        self.number = next(self.numbers)
        self.freed = False

    def free(self) -> None:
        self.freed = True


def test_a_broken_session_in_one_pool_retires_the_linked_pools_contexts():
    copies, lookups = ContextPool(Context, 2), ContextPool(Context, 2)
    copies.link(lookups)
    idle_lookup, borrowed_lookup = lookups.borrow(), lookups.borrow()
    with idle_lookup:
        pass  # idle in its pool when the break comes
    with copies.borrow() as broken:
        broken.discard()  # the copy saw the server go away
    assert (broken.context.freed, idle_lookup.context.freed) == (True, True), "the dead sessions are freed"
    with borrowed_lookup:
        pass  # given back after the break: not kept
    assert borrowed_lookup.context.freed
    with lookups.borrow() as fresh:
        assert fresh.context not in (idle_lookup.context, borrowed_lookup.context)
    assert lookups.contexts_made == 3


def test_a_healthy_pool_keeps_its_contexts_warm():
    pool = ContextPool(Context, 2)
    with pool.borrow() as first:
        pass
    with pool.borrow() as again:
        pass
    assert (again.context is first.context, first.context.freed, pool.contexts_made) == (True, False, 1)
    pool.close()
    assert first.context.freed
