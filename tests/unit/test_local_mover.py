"""The local mover's three modes."""

from __future__ import annotations

import os

import pytest

from pilot_movers.errors import ConfigurationError, TransferFailed
from pilot_movers.local.mover import LocalMover
from pilot_movers.values import Role, Status
from tests.doubles import ScriptedMover
from tests.helpers import FAST, debris, local_spec, write_file


@pytest.mark.parametrize("size", [0, 1, 4 * 1024 * 1024 + 7, 20 * 1024 * 1024 + 7])
def test_copy_keeps_content_and_mode_bits(tmp_path, size):
    checksum = write_file(tmp_path / "in" / "run.sh", size)
    os.chmod(tmp_path / "in" / "run.sh", 0o755)
    spec = local_spec(tmp_path / "in" / "run.sh", tmp_path / "work" / "run.sh", checksum=checksum)
    (result,) = LocalMover(FAST).stage_in([spec])
    assert result.status is Status.DONE
    assert result.bytes == size
    copied = tmp_path / "work" / "run.sh"
    assert copied.read_bytes() == (tmp_path / "in" / "run.sh").read_bytes()
    assert copied.stat().st_mode & 0o777 == 0o755


def test_move_removes_the_source_only_after_the_destination_is_in_place(tmp_path):
    write_file(tmp_path / "work" / "out.root", 1000)
    spec = local_spec(tmp_path / "work" / "out.root", tmp_path / "store" / "out.root", role=Role.OUTPUT)
    (result,) = LocalMover(FAST, mode="move").stage_out([spec])
    assert result.status is Status.DONE
    assert not (tmp_path / "work" / "out.root").exists()
    assert (tmp_path / "store" / "out.root").stat().st_size == 1000


def test_a_failed_move_keeps_the_source(tmp_path):
    write_file(tmp_path / "work" / "out.root", 1000)
    spec = local_spec(tmp_path / "work" / "out.root", tmp_path / "store" / "out.root", role=Role.OUTPUT)
    mover = ScriptedMover(FAST.replace(max_attempts=1), mode="move", script={"out.root": [TransferFailed("no")]})
    (result,) = mover.stage_out([spec])
    assert result.status is Status.FAILED
    assert (tmp_path / "work" / "out.root").stat().st_size == 1000
    assert debris(tmp_path) == []


def test_symlink_links_to_the_source(tmp_path):
    write_file(tmp_path / "shared" / "big.root", 2048)
    spec = local_spec(tmp_path / "shared" / "big.root", tmp_path / "work" / "big.root")
    (result,) = LocalMover(FAST, mode="symlink").stage_in([spec])
    assert result.status is Status.DONE
    link = tmp_path / "work" / "big.root"
    assert link.is_symlink()
    assert os.readlink(link) == str(tmp_path / "shared" / "big.root")


def test_unknown_mode_or_option_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="mode = 'teleport'"):
        LocalMover(mode="teleport")
    with pytest.raises(ConfigurationError, match="unknown setting 'colour'"):
        LocalMover(colour="blue")
    with pytest.raises(ConfigurationError, match=r"block_size = 0: must be from 1024 \(1 KiB\)"):
        LocalMover(block_size=0)


def test_a_full_disk_is_reported_as_no_local_space(tmp_path):
    if not os.path.exists("/dev/full"):
        pytest.fail("/dev/full is needed for this test")
    write_file(tmp_path / "a", 10)
    os.symlink("/dev/full", tmp_path / "full")
    from pilot_movers.errors import NoSpace, Scope
    from pilot_movers.oserrors import from_oserror

    try:
        with open(tmp_path / "full", "wb") as handle:
            handle.write(b"x" * 10)
            handle.flush()
    except OSError as exc:
        error = from_oserror(exc, scope=Scope.DESTINATION, what="x")
    assert isinstance(error, NoSpace)
    assert error.code == 1098
