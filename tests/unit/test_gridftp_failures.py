"""The gridftp mover's handling of gfal2 failures it cannot be made to produce on demand on a
real server: a narrow double (pytest-mock) of the gfal2 context, the rest real."""

from __future__ import annotations

import errno

import gfal2
import pytest

from pilot_movers.checksums import Checksum
from pilot_movers.gridftp.mover import GridFTPMover
from pilot_movers.values import FileSpec, Location, Role, Status
from tests.helpers import FAST


@pytest.mark.parametrize(
    ("code", "name", "transient"),
    [
        (errno.ECONNREFUSED, "SERVICENOTAVAILABLE", True),
        (errno.EACCES, "STAGEINAUTHENTICATIONFAILURE", False),
        (errno.ENOSPC, "NOLOCALSPACE", False),
    ],
)
def test_a_failed_bulk_call_fails_each_file_with_the_mapped_code(mocker, tmp_path, code, name, transient):
    context = mocker.MagicMock()
    context.filecopy.side_effect = gfal2.GError("the whole bulk call failed", code)
    mocker.patch("pilot_movers.gridftp.mover.new_context", return_value=context)
    specs = [
        FileSpec(
            f"f{i}",
            Location.parse(f"gsiftp://se.example.org:2811/data/f{i}"),
            Location.local(str(tmp_path / f"f{i}")),
            Role.INPUT,
            size=10,
            checksum=Checksum("adler32", "00000001"),
        )
        for i in range(3)
    ]
    mover = GridFTPMover(FAST.replace(max_attempts=1))
    reports = mover.stage_in(specs)
    assert [r.status for r in reports] == [Status.FAILED] * 3
    assert {(r.error.name, r.error.transient) for r in reports} == {(name, transient)}
    assert [r.error.file for r in reports] == ["f0", "f1", "f2"], "each file its own record"
