"""The XRootD namespace against the local grid's server."""

from __future__ import annotations

import shutil

from pilot_movers_testkit.grid import LocalGrid

from pilot_movers.credentials import Credentials
from pilot_movers.engine.contract import FileStat
from pilot_movers.registry import get_mover_class
from pilot_movers.values import Location
from pilot_movers.xrootd.namespace import XRootDNamespace
from tests.helpers import FAST, write_file


def test_stat_many_lists_each_directory_once_and_agrees_with_stat(grid: LocalGrid):
    directory = grid.xrootd_dir / "stat-many"
    write_file(directory / "a.dat", 1000, seed=1)
    write_file(directory / "b.dat", 2000, seed=2)
    (directory / "sub").mkdir()
    write_file(grid.xrootd_dir / "stat-lone" / "c.dat", 3000, seed=3)
    for path in [directory, *directory.iterdir(), grid.xrootd_dir / "stat-lone", grid.xrootd_dir / "stat-lone/c.dat"]:
        shutil.chown(path, "nobody", "nogroup")
    names = ["stat-many/a.dat", "stat-many/b.dat", "stat-many/missing.dat", "stat-many/sub", "stat-lone/c.dat"]
    names += ["no-such-dir/x.dat", "no-such-dir/y.dat"]
    locations = [Location.parse(grid.xrootd_url(name)) for name in names]
    mover = get_mover_class("xrootd")(FAST)
    mover.start(Credentials.from_environment())
    try:
        assert mover.capabilities.batched_stat
        namespace = mover.remote_namespace(locations[0])
        assert isinstance(namespace, XRootDNamespace)
        found = namespace.stat_many(locations)
        assert found == [
            FileStat(1000),
            FileStat(2000),
            None,
            FileStat(found[3].size if found[3] else 0, is_dir=True),
            FileStat(3000),
            None,
            None,
        ]
        assert found == [namespace.stat(location) for location in locations]
    finally:
        mover.stop()
        shutil.rmtree(directory, ignore_errors=True)
        shutil.rmtree(grid.xrootd_dir / "stat-lone", ignore_errors=True)
