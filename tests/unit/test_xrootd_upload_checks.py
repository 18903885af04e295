"""How the XRootD mover judges an upload the client wrote: the server's checksum of the copy
against the source's (narrow: the server's answer is stubbed; the real one is in
tests/grid/test_xrootd_checksum_jobs.py)."""

from __future__ import annotations

import pytest

from pilot_movers.checksums import Checksum
from pilot_movers.engine.clocks import TransferClock
from pilot_movers.engine.contract import Copied, CopyRequest
from pilot_movers.errors import ChecksumsDiffer, TransferFailed
from pilot_movers.values import FileSpec, Location, Role
from pilot_movers.xrootd.mover import XRootDMover

SOURCE = Checksum("adler32", "0a0b0c0d")


def _request(expected=None) -> CopyRequest:
    spec = FileSpec(
        "out.dat",
        Location.local("/work/out.dat"),
        Location.parse("root://se.example.org:1094//data/out.dat"),
        Role.OUTPUT,
        checksum=expected,
    )
    clock = TransferClock("test", stall_timeout=60, total_timeout=lambda _: 600)
    target = Location.parse("root://se.example.org:1094//data/.out.dat.pilot-movers-a1-0.part")
    return CopyRequest(spec, spec.source, target, clock, 1)


@pytest.fixture
def mover(mocker):
    mover = XRootDMover()
    mover._namespace = mocker.Mock()
    return mover


def test_a_copy_whose_server_checksum_matches_the_source_is_verified_where_it_lies(mover):
    mover._namespace.checksum_of_new.return_value = SOURCE
    request = _request()
    outcome = mover._upload_outcome(request, {"sourceCheckSum": "adler32:0a0b0c0d", "size": 1234})
    assert outcome == Copied(1234, (SOURCE,), verified=True, at_target=True)
    mover._namespace.checksum_of_new.assert_called_once_with(request.target, "adler32", 1234)


def test_a_copy_that_differs_from_its_source_is_reported_as_the_copy_differing(mover):
    mover._namespace.checksum_of_new.return_value = Checksum("adler32", "ffff0000")
    outcome = mover._upload_outcome(_request(), {"sourceCheckSum": "adler32:0a0b0c0d", "size": 10})
    assert isinstance(outcome, ChecksumsDiffer) and outcome.source_differs is False and outcome.transient
    assert "ffff0000" in str(outcome) and "0a0b0c0d" in str(outcome)


def test_the_jobs_expected_checksum_stands_in_for_a_source_checksum_the_client_did_not_give(mover):
    expected = Checksum("md5", "0" * 32)
    mover._namespace.checksum_of_new.return_value = expected
    request = _request(expected)
    outcome = mover._upload_outcome(request, {"size": 10})
    assert outcome == Copied(10, (expected,), verified=True, at_target=True)
    mover._namespace.checksum_of_new.assert_called_once_with(request.target, "md5", 10)


def test_no_source_checksum_at_all_is_a_transient_failure_not_a_pass(mover):
    mover._namespace.checksum_of_new.return_value = SOURCE
    outcome = mover._upload_outcome(_request(), {"size": 10})
    assert isinstance(outcome, TransferFailed) and outcome.transient


def test_a_server_that_never_has_room_fails_the_attempt_saying_why(mocker, monkeypatch):
    """Every quick query expires on the server's wait: after the patience, a transient error that
    names the cause (not an ordinary query that would sleep the server's 30 seconds)."""
    from pilot_movers.errors import ServiceUnavailable
    from pilot_movers.xrootd import namespace as xrootd_namespace
    from pilot_movers.xrootd.errors import ERR_OPERATION_EXPIRED

    monkeypatch.setattr(xrootd_namespace, "QUICK_QUERY_PATIENCE", 0.3)
    expired = mocker.Mock(ok=False, code=ERR_OPERATION_EXPIRED, message="[ERROR] Operation expired")
    system = mocker.Mock()
    system.query.return_value = (expired, None)
    namespace = xrootd_namespace.XRootDNamespace(lambda location: "root://se.example.org:1094")
    mocker.patch.object(namespace, "_system", return_value=system)
    location = Location.parse("root://se.example.org:1094//data/new.dat")
    with pytest.raises(ServiceUnavailable, match="no room for the checksum job") as failure:
        namespace.checksum_of_new(location, "adler32", 10)
    assert failure.value.transient
    assert system.query.call_count > 1 and namespace.busy_answers == system.query.call_count
    assert all(call.kwargs["timeout"] < 30 for call in system.query.call_args_list)
