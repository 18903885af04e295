"""The lock every front-end of an instance shares: on PostgreSQL, a transaction-scoped advisory
lock, so quota checks and renames of hosts that share one storage directory never interleave.
On SQLite (one host only) nothing: the file lock in ``run/`` already covers the host's processes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction

#: The advisory lock's key ("DHCL"), the same in every process of every host.
COMMIT_LOCK_KEY = 0x4448434C


@contextmanager
def shared_commit_lock() -> Iterator[None]:
    """Hold the database's commit lock (PostgreSQL) for the block, which runs in one transaction
    that the lock's release ends."""
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [COMMIT_LOCK_KEY])
        yield
