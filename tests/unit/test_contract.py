"""The transport contract: one mover per job, immutable typed errors, capabilities as data,
batch-first engine (batch deadline and cancel, settling off the engine's thread)."""

from __future__ import annotations

import dataclasses
import pickle
import sys
import threading
from pathlib import Path

import pytest

import job_params
from pilot_movers import (
    Batch,
    Capabilities,
    ChecksumSource,
    Copied,
    CopyRequest,
    FileSpec,
    Job,
    LocalNamespace,
    Location,
    Mover,
    QueueConfig,
    Role,
    Status,
)
from pilot_movers.engine.engine import TransferEngine
from pilot_movers.errors import (
    ChecksumUnavailable,
    MoverError,
    PayloadFailed,
    Phase,
    PhaseFailed,
    ProxyExpired,
    ServiceUnavailable,
    SourceNotFound,
)
from pilot_movers.registry import get_mover_class
from tests.doubles import ScriptedMover
from tests.helpers import FAST, debris, local_spec, write_file
from tests.unit.test_registry import thirdparty_site, with_thirdparty  # noqa: F401 - fixtures

# -- one mover per job ---------------------------------------------------------------------


def _teleport_job(tmp_path, payload):
    store = tmp_path / "store"
    (store / "se1" / "in").mkdir(parents=True)
    (store / "se1" / "in" / "x.dat").write_bytes(b"bytes")
    params = job_params.parse("dir-in=tele://se1/in files-in=x.dat dir-out=tele://se1/out files-out=y.dat")
    queue = QueueConfig.from_dict({"copytool": "teleport", "movers": {"teleport": {"root": str(store)}}})
    cls = get_mover_class("teleport")
    cls.events.clear()
    job = Job(params, queue, tmp_path / "work")
    try:
        with job:
            job.stage_in()
            job.run_payload(payload)
            job.stage_out()
    except MoverError:
        pass
    return job, cls.events


@pytest.mark.usefixtures("with_thirdparty")
def test_a_mover_is_opened_once_for_the_whole_job_and_closed_at_its_end(tmp_path):
    job, events = _teleport_job(tmp_path, [sys.executable, "-c", "open('y.dat','w').write('out')"])
    assert job.report.ok
    assert [what for what, _ in events] == ["open", "close"], "one open for stage-in and stage-out"
    assert len({instance for _, instance in events}) == 1


@pytest.mark.usefixtures("with_thirdparty")
def test_a_mover_is_closed_once_when_the_payload_fails(tmp_path):
    job, events = _teleport_job(tmp_path, ["sh", "-c", "exit 4"])
    assert job.report.failed_phase == "payload"
    assert [what for what, _ in events] == ["open", "close"]


# -- errors are immutable, typed values ----------------------------------------------------


def test_binding_an_error_returns_a_copy_and_never_changes_the_original():
    shared = ServiceUnavailable("connection refused", endpoint="gsiftp://se:2811")
    a = shared.bind(file="a", phase=Phase.STAGE_IN)
    b = shared.bind(file="b", phase=Phase.STAGE_OUT)
    assert (a.file, b.file, shared.file) == ("a", "b", None)
    assert (a.code, b.code) == (1324, 1324)
    assert a.endpoint == "gsiftp://se:2811", "what the raiser knew is kept"
    with pytest.raises(AttributeError, match="immutable"):
        shared.file = "c"
    assert shared.bind(endpoint="other") is shared, "nothing to add: the same object"


def test_an_error_pickles_with_its_type_and_context():
    error = SourceNotFound("gone", file="a.dat", phase=Phase.STAGE_OUT)
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), copy.file, copy.code, str(copy)) == (SourceNotFound, "a.dat", 1165, str(error))


def test_a_phase_wide_failure_gives_each_file_a_record_naming_that_file(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    for name in ("a", "b"):
        write_file(src / name, 10)
    expired = ProxyExpired("proxy expired at 12:00")

    def check():
        raise expired

    mover = ScriptedMover(FAST)
    with mover:
        reports = TransferEngine(mover, Phase.STAGE_IN, credential_check=check).run(
            [local_spec(src / "a", dst / "a"), local_spec(src / "b", dst / "b")]
        )
    assert [r.error.file for r in reports] == ["a", "b"]
    assert all(isinstance(r.error, ProxyExpired) for r in reports)
    assert expired.file is None


def test_errors_stay_typed_from_the_transport_to_the_phase_failure(tmp_path):
    queue = QueueConfig.from_dict({"copytool": "local"})
    (tmp_path / "in").mkdir()
    params = job_params.parse(f"in-mode=local dir-in={tmp_path}/in files-in=nope.dat,gone.dat")
    with pytest.raises(PhaseFailed) as caught, Job(params, queue, tmp_path / "w") as job:
        job.stage_in()
    failures = caught.value.failures
    assert [type(f) for f in failures] == [SourceNotFound, SourceNotFound]
    assert [f.file for f in failures] == ["nope.dat", "gone.dat"]
    assert caught.value.code == 1103
    stage_in = job.report.phases[0]
    assert isinstance(stage_in.error, PhaseFailed)
    assert all(isinstance(r.error, SourceNotFound) for r in stage_in.results)
    assert job.report.to_dict()["phases"]["stage-in"]["files"][0]["error"]["name"] == "NOSUCHFILE"


# -- capabilities --------------------------------------------------------------------------


class _Blind(LocalNamespace):
    """A remote store that keeps files under a root but can compute no checksum."""

    def __init__(self, root):
        self.root = root
        self.checksum_calls = 0

    def _here(self, location):
        return Location.local(f"{self.root}{location.path}")

    def stat(self, location):
        return super().stat(self._here(location))

    def checksum(self, location, algorithm):
        self.checksum_calls += 1
        raise ChecksumUnavailable("this store computes no checksum")

    def rename(self, source, target, *, overwrite):
        super().rename(self._here(source), self._here(target), overwrite=overwrite)

    def remove(self, location):
        super().remove(self._here(location))


class BlindMover(Mover):
    """Uploads to ``blind://`` by plain copy; declares that no checksum is available."""

    name = "blind"
    schemes = ("blind",)
    capabilities = Capabilities(checksums=ChecksumSource.NONE)

    def __init__(self, settings, root):
        super().__init__(settings)
        self.store = _Blind(root)

    def copy_file(self, request):
        target = Path(self.store._here(request.target).path)
        target.parent.mkdir(parents=True, exist_ok=True)
        data = Path(request.source.path).read_bytes()
        target.write_bytes(data)
        return Copied(len(data))

    def remote_namespace(self, location):
        return self.store


def test_a_transport_without_checksums_is_not_asked_for_one_and_the_file_is_marked_unverified(tmp_path):
    write_file(tmp_path / "out.dat", 1000)
    mover = BlindMover(FAST, str(tmp_path / "store"))
    spec = FileSpec(
        "out.dat", Location.local(str(tmp_path / "out.dat")), Location("blind", "h", "/o/out.dat"), Role.OUTPUT
    )
    (report,) = mover.stage_out([spec])
    assert report.status is Status.DONE, report.error
    assert (report.checksum, report.verified) == (None, False)
    assert mover.store.checksum_calls == 0
    assert (tmp_path / "store" / "o" / "out.dat").stat().st_size == 1000
    assert report.to_dict()["verified"] is False


# -- batch first ---------------------------------------------------------------------------


class TaskMover(ScriptedMover):
    """A task-based transport: one submission for the whole batch, polled until the batch clock
    says stop; the task's one cancel hangs on the batch clock."""

    name = "task"

    def __init__(self, settings, **options):
        super().__init__(settings, **options)
        self.submissions = 0
        self.cancelled = threading.Event()

    def copy_batch(self, batch: Batch):
        self.submissions += 1
        batch.clock.on_cancel(self.cancelled.set)
        while not batch.clock.cancelled.wait(0.02):
            batch.clock.touch()  # the task is alive: bytes move, slowly
        for request in batch.requests:
            yield request, batch.clock.reason


def test_a_task_transport_gets_one_batch_and_is_cancelled_by_the_batch_deadline(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    specs = []
    for index in range(5):
        write_file(src / f"f{index}", 10, seed=index)
        specs.append(local_spec(src / f"f{index}", dst / f"f{index}"))
    settings = FAST.replace(timeout_base=0.5, timeout_per_mb=0, max_attempts=1, stall_timeout=30)
    mover = TaskMover(settings)
    reports = mover.stage_in(specs)
    assert mover.submissions == 1, "all five files in one submission"
    assert mover.cancelled.is_set(), "the task's cancel was called"
    assert {r.error.name for r in reports} == {"STAGEINTIMEOUT"}
    assert debris(dst) == []


def test_settling_runs_off_the_engines_thread(tmp_path):
    seen = set()

    class Watching(LocalNamespace):
        def rename(self, source, target, *, overwrite):
            seen.add(threading.current_thread().name)
            super().rename(source, target, overwrite=overwrite)

    class WatchingMover(ScriptedMover):
        def namespace(self, location):
            return Watching()

    specs = []
    for index in range(8):
        write_file(tmp_path / "src" / f"f{index}", 10, seed=index)
        specs.append(local_spec(tmp_path / "src" / f"f{index}", tmp_path / "dst" / f"f{index}"))
    reports = WatchingMover(FAST.replace(concurrency=4)).stage_in(specs)
    assert all(r.status is Status.DONE for r in reports)
    assert seen and threading.main_thread().name not in seen


def test_a_request_is_a_frozen_value(tmp_path):
    spec = local_spec(tmp_path / "a", tmp_path / "b")
    request = CopyRequest(spec, spec.source, spec.destination, clock=None, attempt=1)  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.attempt = 2  # type: ignore[misc]


def test_a_payload_failure_still_reports_typed_errors(tmp_path):
    queue = QueueConfig.from_dict({"copytool": "local"})
    with pytest.raises(PayloadFailed), Job(job_params.parse(""), queue, tmp_path / "w") as job:
        job.run_payload(["sh", "-c", "exit 2"])
    assert isinstance(job.report.error, PayloadFailed)
    assert job.report.to_dict()["error"]["code"] == 1305
