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


def _download_request(tmp_path, data: bytes):
    from pilot_movers.engine.clocks import TransferClock
    from pilot_movers.engine.contract import CopyRequest

    target = tmp_path / "copy.part"
    target.write_bytes(data)
    spec = FileSpec(
        "copy",
        Location.parse("gsiftp://se.example.org:2811/data/copy"),
        Location.local(str(tmp_path / "copy")),
        Role.INPUT,
    )
    clock = TransferClock("test", stall_timeout=60, total_timeout=lambda _: 600)
    return CopyRequest(spec, spec.source, Location.local(str(target)), clock, 1)


def test_a_followed_checksum_that_disagrees_is_settled_by_reading_the_copy_again(tmp_path):
    """The follower read the bytes while gfal2 wrote them; a transfer gfal2 restarted may have
    rewritten them since. The file on disk, read again, decides: here it is right."""
    from pilot_movers.checksums import file_checksum
    from pilot_movers.gridftp.follower import Followed
    from pilot_movers.gridftp.mover import _judged_download

    data = b"pilot-movers " * 1000
    request = _download_request(tmp_path, data)
    source = file_checksum(request.target.path)
    stale = Followed(len(data), (Checksum("adler32", "00000001"),))
    outcome = _judged_download(request, stale, source)
    assert (type(outcome).__name__, outcome.verified, outcome.checksums) == ("Copied", True, (source,))


def test_a_copy_that_differs_from_its_source_is_a_transient_mismatch(tmp_path):
    """No expected value from the job: the copy differs from the server's checksum of the source,
    so it was damaged on the way and a new attempt can cure it."""
    from pilot_movers.gridftp.follower import Followed
    from pilot_movers.gridftp.mover import _judged_download

    request = _download_request(tmp_path, b"damaged")
    followed = Followed(7, (Checksum("adler32", "00000001"),))
    outcome = _judged_download(request, followed, Checksum("adler32", "0badc0de"))
    assert (outcome.name, outcome.transient, outcome.code) == ("GETADMISMATCH", True, 1171)
