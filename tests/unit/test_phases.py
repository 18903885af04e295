"""The one phase runner: failover rounds to a file's alternative ends (narrow tests, the local
mover on real files; end to end against real servers in tests/panda/test_replicas.py)."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from pilot_movers.engine.engine import TransferEngine
from pilot_movers.errors import MoverUnavailable, Phase
from pilot_movers.local.mover import LocalMover
from pilot_movers.phases import run_phase
from pilot_movers.planner import PlannedFile
from pilot_movers.registry import ResolvedMover
from pilot_movers.values import FileSpec, Location, Role, Status
from tests.doubles import ScriptedMover
from tests.helpers import FAST, write_file

LOCAL = ResolvedMover("local", LocalMover)
#: A mover the job has resolved but cannot open (its start fails).
BROKEN = ResolvedMover("broken", ScriptedMover)


def spec(tmp_path: Path, name: str, *alternatives: Path) -> FileSpec:
    return FileSpec(
        name,
        Location.local(str(tmp_path / "first" / name)),
        Location.local(str(tmp_path / "work" / name)),
        Role.INPUT,
        alternatives=tuple(Location.local(str(path)) for path in alternatives),
    )


def test_a_fallback_whose_mover_cannot_open_fails_its_own_file_not_the_phase(tmp_path: Path):
    (tmp_path / "work").mkdir()
    write_file(tmp_path / "first" / "ok.dat", 1000, seed=1)
    local = LocalMover(FAST)

    @contextmanager
    def mover(chosen: ResolvedMover):
        if chosen == BROKEN:
            raise MoverUnavailable("the broken mover cannot run here")
        yield local

    planned = [
        PlannedFile(LOCAL, spec(tmp_path, "gone.dat", tmp_path / "second" / "gone.dat"), (BROKEN,)),
        PlannedFile(LOCAL, spec(tmp_path, "ok.dat")),
    ]
    gone, ok = run_phase(planned, mover=mover, engine=lambda chosen, m: TransferEngine(m, Phase.STAGE_IN))
    assert ok.status is Status.DONE
    assert gone.status is Status.FAILED and gone.error is not None and gone.error.name == "MISSINGINSTALLATION"
    assert [(end["outcome"], end["error"]["name"]) for end in gone.remote_ends()] == [
        ("failed", "NOSUCHFILE"),
        ("failed", "MISSINGINSTALLATION"),
    ]


def test_a_file_served_by_its_second_end_reports_both(tmp_path: Path):
    (tmp_path / "work").mkdir()
    checksum = write_file(tmp_path / "second" / "b.dat", 5000, seed=2)
    planned = [PlannedFile(LOCAL, spec(tmp_path, "b.dat", tmp_path / "second" / "b.dat"), (LOCAL,))]

    @contextmanager
    def mover(chosen: ResolvedMover):
        yield chosen.cls(FAST)

    (report,) = run_phase(planned, mover=mover, engine=lambda chosen, m: TransferEngine(m, Phase.STAGE_IN))
    assert report.status is Status.DONE and report.checksum == checksum
    assert report.spec.source.path == str(tmp_path / "second" / "b.dat")
    assert [end["outcome"] for end in report.remote_ends()] == ["failed", "served"]
