"""A native XRootD server computes the checksum of a file just written as a job, holds three
times ``xrootd.chksum max`` such jobs, and answers ``kXR_wait`` 30 s beyond: the XRootD mover
asks for those checksums quickly and again, never sleeping the server's 30 seconds.

The server here runs one checksum job at a time (``xrootd.chksum max 1``), so it holds three.
Three long checksums fill it, in the order they run (jobs that end out of slot order make the
server lose slots, see ``pilot_movers.xrootd.namespace``), and a fourth query finds no room."""

from __future__ import annotations

import shutil
import threading
import time
from typing import Iterator, Union

import pytest
from pilot_movers_testkit.grid import LocalGrid

from pilot_movers.checksums import Checksum
from pilot_movers.credentials import Credentials
from pilot_movers.registry import get_mover_class
from pilot_movers.values import Location
from pilot_movers.xrootd.namespace import XRootDNamespace
from tests.grid.conftest import sibling_server
from tests.helpers import FAST, write_file

MIB = 1 << 20
BLOCKER = 256 * MIB


@pytest.fixture
def busy_xrootd(grid: LocalGrid) -> Iterator[LocalGrid]:
    """An XRootD server on the session's CA that runs one checksum job at a time."""
    with sibling_server(grid, "xrootd", xrootd_checksum_jobs=1) as busy:
        yield busy


def test_the_checksum_of_a_new_file_is_asked_again_while_the_servers_jobs_are_all_taken(busy_xrootd: LocalGrid):
    directory = busy_xrootd.xrootd_dir / "new"
    names = ["block0.dat", "block1.dat", "block2.dat", "probe.dat"]
    expected = {
        name: write_file(directory / name, BLOCKER if name != "probe.dat" else MIB, seed=i)
        for i, name in enumerate(names)
    }
    for path in [directory, *directory.iterdir()]:
        shutil.chown(path, "nobody", "nogroup")
    mover = get_mover_class("xrootd")(FAST)
    mover.start(Credentials.from_environment())
    try:
        namespace = mover.remote_namespace(Location.parse(busy_xrootd.xrootd_url("new/probe.dat")))
        assert isinstance(namespace, XRootDNamespace)
        answers: dict[str, Union[Checksum, Exception]] = {}

        def ask(name: str) -> None:
            location = Location.parse(busy_xrootd.xrootd_url(f"new/{name}"))
            size = (directory / name).stat().st_size
            try:
                answers[name] = namespace.checksum_of_new(location, "adler32", size)
            except Exception as exc:
                answers[name] = exc

        threads = [threading.Thread(target=ask, args=(name,)) for name in names]
        for thread in threads:  # one by one: the blockers take the slots in the order they run
            thread.start()
            time.sleep(0.02)
        for thread in threads:
            thread.join(120)
        assert answers == expected
        assert namespace.busy_answers >= 1, "the server had room: the probe did not meet a full table"
    finally:
        mover.stop()
