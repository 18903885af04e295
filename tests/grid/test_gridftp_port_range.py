"""A GridFTP server behind a site firewall opens few data ports: here 101 (a range of 101 from 20000 up). Each
file the server sends over a new data connection leaves the server's port in TIME_WAIT for a
minute (the sender closes first), so 300 small downloads on fresh connections run out of ports.
The pipelined engine (globus-url-copy's, data channels kept), which small files take by default,
brings every file in both directions; gfal2's lanes bring every upload (the client closes first),
and a download that meets the wall fails saying why."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Iterator

import pytest
from pilot_movers_testkit.grid import LocalGrid

from pilot_movers.checksums import file_checksum
from pilot_movers.gridftp.errors import OUT_OF_DATA_PORTS
from pilot_movers.registry import get_mover_class
from pilot_movers.values import FileSpec, Location, Role, Status
from tests.grid.conftest import sibling_server
from tests.helpers import FAST, debris, write_file

COUNT = 300


_RANGES = itertools.count(20000, 200)


@pytest.fixture
def narrow_gridftp(grid: LocalGrid) -> Iterator[LocalGrid]:
    """A GridFTP server on the session's CA with 101 data ports, none of them used before (a
    port a test left in TIME_WAIT would fail the next test's first minute)."""
    first = next(_RANGES)
    with sibling_server(grid, "gridftp", gridftp_port_range=(first, first + 100)) as narrow:
        yield narrow


@pytest.mark.parametrize("pipelined", [True, False], ids=["pipelined", "gfal2-lanes"])
@pytest.mark.parametrize("direction", ["download", "upload"])
def test_300_small_files_all_arrive_through_101_data_ports(
    narrow_gridftp: LocalGrid, tmp_path: Path, direction: str, pipelined: bool
):
    remote = narrow_gridftp.gridftp_dir / f"{direction}-{pipelined}"
    local = tmp_path / "local"
    names = [f"f{i:03d}.dat" for i in range(COUNT)]
    seeded = remote if direction == "download" else local
    expected = {name: write_file(seeded / name, 100_000 + i, seed=i) for i, name in enumerate(names)}
    remote.mkdir(parents=True, exist_ok=True)
    local.mkdir(parents=True, exist_ok=True)

    def spec(name: str) -> FileSpec:
        url = Location.parse(narrow_gridftp.gridftp_url(f"{remote.name}/{name}"))
        path = Location.local(str(local / name))
        if direction == "download":
            return FileSpec(name, url, path, Role.INPUT)
        return FileSpec(name, path, url, Role.OUTPUT)

    mover = get_mover_class("gridftp")(FAST, pipelined=pipelined)
    files = [spec(name) for name in names]
    results = mover.stage_in(files) if direction == "download" else mover.stage_out(files)
    failed = [r for r in results if r.status is not Status.DONE]
    if direction == "download" and not pipelined:
        assert failed, "gfal2 downloaded 300 files through 101 ports: the test no longer shows the limit"
        # each file's attempts fail with the reason, until the circuit breaker stops the phase
        # (a file's last attempt may instead meet gfal2's cached session left in a bad state by the
        # refused PASV, "GLOBUS_FTP_CLIENT_IDLE not allowed here": the same cause, said by gfal2)
        said = [r for r in failed if r.error.name == "SERVICENOTAVAILABLE"]
        assert said and all(r.error.transient for r in said)
        assert any(OUT_OF_DATA_PORTS in r.error.message for r in said)
        assert {r.error.name for r in failed} <= {"SERVICENOTAVAILABLE", "STAGEINFAILED"}
        names = [r.spec.name for r in results if r.status is Status.DONE]
        expected = {name: expected[name] for name in names}
    else:
        assert failed == [], f"{len(failed)} of {COUNT} failed, first: {[(r.spec.name, r.error) for r in failed[:2]]}"
    landed = local if direction == "download" else remote
    assert {name: file_checksum(landed / name) for name in names} == expected
    assert debris(landed) == []
