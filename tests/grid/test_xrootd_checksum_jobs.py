"""A native XRootD server computes the checksum of a file just written as a job, holds three
times ``xrootd.chksum max`` such jobs, and answers ``kXR_wait`` 30 s beyond: the XRootD mover
asks for those checksums quickly and again, never sleeping the server's 30 seconds.

The server here runs one checksum job at a time (``xrootd.chksum max 1``), so it holds three.
Three long checksums fill it, in the order they run (jobs that end out of slot order make the
server lose slots, see ``pilot_movers.xrootd.namespace``), and a fourth query finds no room."""

from __future__ import annotations

import contextlib
import shutil
import threading
import time
from pathlib import Path
from typing import Iterator, Union

import pytest
from pilot_movers_testkit.grid import LocalGrid

from pilot_movers.base import Mover
from pilot_movers.checksums import Checksum
from pilot_movers.credentials import Credentials
from pilot_movers.registry import get_mover_class
from pilot_movers.values import FileSpec, Location, Role, Status
from pilot_movers.xrootd.namespace import XRootDNamespace
from tests.grid.conftest import sibling_server
from tests.helpers import FAST, write_file

MIB = 1 << 20
BLOCKER = 256 * MIB


@contextlib.contextmanager
def opened(server: LocalGrid, directory: Path) -> Iterator[tuple[Mover, XRootDNamespace]]:
    """The files under ``directory`` handed to the server's user, and an open XRootD mover with
    its namespace."""
    for path in [directory, *directory.iterdir()]:
        shutil.chown(path, "nobody", "nogroup")
    mover = get_mover_class("xrootd")(FAST)
    mover.start(Credentials.from_environment())
    try:
        namespace = mover.remote_namespace(Location.parse(server.xrootd_url(directory.name)))
        assert isinstance(namespace, XRootDNamespace)
        yield mover, namespace
    finally:
        mover.stop()


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
    with opened(busy_xrootd, directory) as (_, namespace):
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


def test_a_download_is_verified_against_a_source_checksum_asked_again_while_the_servers_jobs_are_all_taken(
    busy_xrootd: LocalGrid, tmp_path
):
    """A download with no expected checksum: the copy job asks the server nothing (inside it the
    query would sleep the server's 30 s); the mover asks for the source's checksum as it asks
    for an upload's copy, and compares it with the client's checksum of the local copy."""
    directory = busy_xrootd.xrootd_dir / "source"
    blockers = ["block0.dat", "block1.dat", "block2.dat"]
    for i, name in enumerate(blockers):
        write_file(directory / name, BLOCKER, seed=i)
    expected = write_file(directory / "probe.dat", MIB, seed=9)
    with opened(busy_xrootd, directory) as (mover, namespace):

        def block(name: str) -> None:
            namespace.checksum_of_new(Location.parse(busy_xrootd.xrootd_url(f"source/{name}")), "adler32", BLOCKER)

        threads = [threading.Thread(target=block, args=(name,)) for name in blockers]
        for thread in threads:  # one by one: the blockers take the slots in the order they run
            thread.start()
            time.sleep(0.02)
        spec = FileSpec(
            "probe.dat",
            Location.parse(busy_xrootd.xrootd_url("source/probe.dat")),
            Location.local(str(tmp_path / "probe.dat")),
            Role.INPUT,
        )
        started = time.monotonic()
        (result,) = mover.stage_in([spec])
        elapsed = time.monotonic() - started
        for thread in threads:
            thread.join(120)
        assert (result.status, result.verified, result.checksum) == (Status.DONE, True, expected)
        assert namespace.busy_answers >= 1, "the server had room: the download did not meet a full table"
        assert elapsed < 25, f"the download took {elapsed:.0f} s: it slept the server's kXR_wait"
