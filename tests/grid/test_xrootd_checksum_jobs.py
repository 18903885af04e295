"""A native XRootD server computes the checksum of a file just written as a job, holds three
times ``xrootd.chksum max`` such jobs, and answers ``kXR_wait`` 30 s beyond: the XRootD mover
asks for those checksums quickly and again, never sleeping the server's 30 seconds.

The server here runs one checksum job at a time (``xrootd.chksum max 1``), so it holds three:
eight queries at once leave five with no room."""

from __future__ import annotations

import os
import pwd
import shutil
import threading
from pathlib import Path
from typing import Iterator

import pytest

from pilot_movers.checksums import file_checksum
from pilot_movers.credentials import Credentials
from pilot_movers.registry import get_mover_class
from pilot_movers.testing.grid import LocalGrid
from pilot_movers.values import FileSpec, Location, Role, Status
from pilot_movers.xrootd.namespace import XRootDNamespace
from tests.helpers import FAST, debris, write_file

MIB = 1 << 20


@pytest.fixture
def busy_xrootd(grid: LocalGrid) -> Iterator[LocalGrid]:
    """An XRootD server on the session's CA that runs one checksum job at a time."""
    root = Path("/tmp") / f"pilot-movers-busy-xrootd-{os.getpid()}"
    shutil.rmtree(root, ignore_errors=True)
    busy = grid.sibling(root, xrootd_checksum_jobs=1)
    busy.start("xrootd")
    try:
        yield busy
    finally:
        busy.stop()
        shutil.rmtree(root, ignore_errors=True)


def _owned_by_nobody(directory: Path) -> None:
    nobody = pwd.getpwnam("nobody")
    for path in [directory, *directory.rglob("*")]:
        os.chown(path, nobody.pw_uid, nobody.pw_gid)


def test_checksums_of_new_files_are_asked_again_while_the_server_has_no_room(busy_xrootd: LocalGrid):
    directory = busy_xrootd.xrootd_dir / "new"
    expected = {f"f{i}.dat": write_file(directory / f"f{i}.dat", 32 * MIB, seed=i) for i in range(8)}
    _owned_by_nobody(directory)
    mover = get_mover_class("xrootd")(FAST)
    mover.start(Credentials.from_environment())
    try:
        first = Location.parse(busy_xrootd.xrootd_url("new/f0.dat"))
        namespace = mover.remote_namespace(first)
        assert isinstance(namespace, XRootDNamespace)
        answers: dict[str, object] = {}
        start = threading.Barrier(len(expected))

        def ask(name: str) -> None:
            start.wait()
            location = Location.parse(busy_xrootd.xrootd_url(f"new/{name}"))
            try:
                answers[name] = namespace.checksum_of_new(location, "adler32", 32 * MIB)
            except Exception as exc:
                answers[name] = exc

        threads = [threading.Thread(target=ask, args=(name,)) for name in expected]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert answers == expected
        assert namespace.busy_answers >= 1, "the server always had room: the test did not test the busy path"
    finally:
        mover.stop()


def test_uploads_to_a_busy_server_all_land_verified(busy_xrootd: LocalGrid, tmp_path: Path):
    (busy_xrootd.xrootd_dir / "up").mkdir()
    _owned_by_nobody(busy_xrootd.xrootd_dir / "up")
    sources = {f"f{i:02d}.dat": write_file(tmp_path / f"f{i:02d}.dat", 1 * MIB + i, seed=i) for i in range(24)}
    mover = get_mover_class("xrootd")(FAST.replace(concurrency=8), checksum_queries=8)
    files = [
        FileSpec(
            name,
            Location.local(str(tmp_path / name)),
            Location.parse(busy_xrootd.xrootd_url(f"up/{name}")),
            Role.OUTPUT,
        )
        for name in sources
    ]
    results = mover.stage_out(files)
    assert [r.status for r in results] == [Status.DONE] * len(files), [r.error for r in results if r.error][:3]
    assert all(r.verified for r in results)
    assert {r.spec.name: r.checksum for r in results} == sources
    assert {name: file_checksum(busy_xrootd.xrootd_dir / "up" / name) for name in sources} == sources
    assert debris(busy_xrootd.xrootd_dir) == []
