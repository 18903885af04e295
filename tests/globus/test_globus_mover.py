"""The ``globus`` mover in-process, with the real globus-sdk against the emulator: tasks per
endpoint pair, per-file results, expected checksums, INACTIVE tasks, the namespace, endpoint
names, what the service would refuse, a node whose GCP another job took at the same instant, an
endpoint the service would not delete, and a legacy proxy."""

from __future__ import annotations

import json
import os
import threading
import zlib
from pathlib import Path
from typing import Optional

import pytest
from pilot_movers_testkit.ca import ThrowawayCA, make_proxy
from pilot_movers_testkit.globus import wait_until

import job_params
from pilot_movers import Credentials, Job, JobFacts, Location, QueueConfig
from pilot_movers.checksums import Checksum
from pilot_movers.errors import MoverError, Phase, PhaseFailed, Scope
from pilot_movers.globus.gcp import GlobusConnectPersonal
from pilot_movers.globus.mover import GlobusMover
from pilot_movers.values import FileReport, FileSpec, Role, Status
from tests.globus.pilots import SENDJOB, WRITE_10MB, Site, given_name
from tests.helpers import debris


def adler32(data: bytes) -> Checksum:
    return Checksum.adler32_of_int(zlib.adler32(data))


def open_mover(site: Site, workdir: Optional[Path] = None, **globus: object) -> GlobusMover:
    """The mover as a job opens it: the job's credentials, work dir and worker endpoint."""
    queue = QueueConfig.from_dict(site.queue(**globus))
    mover = GlobusMover(queue.transfer, queue.mover_options("globus"))
    params = job_params.parse("--WorkingendpointGO=WN-test") if workdir else job_params.JobParams()
    mover.start(Credentials.from_environment(), JobFacts(str(workdir) if workdir else None, "t", params))
    return mover


def test_one_task_per_endpoint_pair_and_every_file_lands(site: Site, pilot_env: dict[str, str]) -> None:
    files = {name: os.urandom(100_000 + i) for i, name in enumerate(["a", "b", "c", "d", "e"])}
    for name in "abc":
        site.put("SITE1", f"/in/{name}", files[name])
    for name in "de":
        site.put("mxp#MXP_BNL_TEST", f"/x/{name}", files[name])
    site.emulator.settings.successful_transfers_page_size = 2  # the mover follows the markers
    params = job_params.parse(
        "globus-endpoint-in=SITE1 dir-in=/in files-in=a,b,c "
        "--StageinGOsrc=mxp#MXP_BNL_TEST:/x/d,mxp#MXP_BNL_TEST:/x/e --WorkingendpointGO=WN"
    )
    workdir = site.base / "job"
    with Job(params, QueueConfig.from_dict(site.queue()), workdir) as job:
        reports = job.stage_in()
    assert [r.status for r in reports] == [Status.DONE] * 5
    assert all(r.verified and r.checksum is not None for r in reports)
    for name, data in files.items():
        assert (workdir / name).read_bytes() == data
    tasks = sorted(site.tasks(), key=lambda t: t.source.display_name)
    assert [(t.source.display_name, len(t.items)) for t in tasks] == [("MXP_BNL_TEST", 2), ("SITE1", 3)]
    assert all(given_name(t.destination.display_name) == "WN" and t.verify_checksum for t in tasks)
    site.assert_nothing_left()


def test_expected_checksums_go_to_the_service_and_a_source_that_differs_fails_for_good(
    site: Site, pilot_env: dict[str, str]
) -> None:
    good, bad = os.urandom(50_000), os.urandom(50_000)
    site.put("SITE1", "/in/good", good)
    site.put("SITE1", "/in/bad", bad)
    workdir = site.base / "job"
    workdir.mkdir()
    here = Location.local(str(workdir))
    specs = [
        FileSpec("good", Location("globus", "SITE1", "/in/good"), here.join("good"), checksum=adler32(good)),
        FileSpec("bad", Location("globus", "SITE1", "/in/bad"), here.join("bad"), checksum=adler32(good)),
    ]
    mover = open_mover(site, workdir)
    try:
        good_report, bad_report = mover.stage_in(specs)
    finally:
        mover.stop()
    assert (good_report.status, good_report.verified, good_report.checksum) == (Status.DONE, True, adler32(good))
    assert bad_report.status is Status.FAILED
    assert bad_report.error is not None
    assert (bad_report.error.code, bad_report.error.name, bad_report.error.transient) == (1171, "GETADMISMATCH", False)
    assert bad_report.error.scope is Scope.SOURCE
    assert len(bad_report.attempts) == 1
    items = {i.source_path: i for t in site.tasks() for i in t.items}
    assert (items["/in/good"].checksum_algorithm, items["/in/good"].external_checksum) == (
        "ADLER32",
        adler32(good).value,
    )
    assert not (workdir / "bad").exists()
    assert debris(workdir) == []
    site.assert_nothing_left()


def test_a_copy_corrupted_on_the_way_is_a_checksum_mismatch_a_retry_may_fix(
    site: Site, pilot_env: dict[str, str]
) -> None:
    site.put("SITE1", "/in/f", os.urandom(20_000))
    site.emulator.corrupt("*/f")
    workdir = site.base / "job"
    workdir.mkdir()
    mover = open_mover(site, workdir)
    try:
        (report,) = mover.stage_in(
            [FileSpec("f", Location("globus", "SITE1", "/in/f"), Location.local(f"{workdir}/f"))]
        )
    finally:
        mover.stop()
    assert report.error is not None
    assert (report.error.name, report.error.transient) == ("GETADMISMATCH", True)
    assert "Checksum verification failed" in report.error.message


def test_local_outputs_are_checksummed_first_so_the_service_verifies_a_known_value(
    site: Site, pilot_env: dict[str, str]
) -> None:
    workdir = site.base / "job"
    workdir.mkdir()
    data = os.urandom(70_000)
    (workdir / "out.root").write_bytes(data)
    mover = open_mover(site, workdir)
    try:
        spec = FileSpec(
            "out.root", Location.local(f"{workdir}/out.root"), Location("globus", "SITE1", "/out/out.root"), Role.OUTPUT
        )
        (report,) = mover.stage_out([spec])
    finally:
        mover.stop()
    assert (report.status, report.checksum, report.verified) == (Status.DONE, adler32(data), True)
    (task,) = site.tasks()
    assert task.items[0].external_checksum == adler32(data).value
    assert (site.directory("SITE1") / "out/out.root").read_bytes() == data


@pytest.mark.parametrize(
    ("fault", "code", "name"),
    [
        ("deny_permission", 9005, "DESTINATIONNOTWRITABLE"),
        ("exceed_quota", 1333, "NOREMOTESPACE"),
    ],
)
def test_a_refused_output_fails_with_the_code_of_the_cause(
    site: Site, pilot_env: dict[str, str], fault: str, code: int, name: str
) -> None:
    site.put("SITE1", "/home/osg_data/panda/0064.file", b"x" * 1000)
    getattr(site.emulator, fault)("/home/osg_data/panda/*10mb-file.bin*")
    with (
        pytest.raises(PhaseFailed) as caught,
        Job(job_params.parse(SENDJOB), QueueConfig.from_dict(site.queue()), site.base / "job") as job,
    ):
        job.stage_in()
        job.run_payload(WRITE_10MB)
        job.stage_out()
    assert (caught.value.code, caught.value.name, caught.value.phase) == (code, name, Phase.STAGE_OUT)
    (failure,) = caught.value.failures
    assert failure.scope is Scope.DESTINATION
    assert "10mb-file.bin" in failure.message
    site.assert_nothing_left()


def test_an_inactive_task_is_still_running(site: Site, pilot_env: dict[str, str]) -> None:
    data = os.urandom(10_000)
    site.put("SITE1", "/in/f", data)
    outage = site.emulator.take_offline("SITE1", inactive=True)
    workdir = site.base / "job"
    workdir.mkdir()
    mover = open_mover(site, workdir)
    results: list[list[FileReport]] = []
    spec = FileSpec("f", Location("globus", "SITE1", "/in/f"), Location.local(f"{workdir}/f"))
    stage_in = threading.Thread(target=lambda: results.append(mover.stage_in([spec])))
    try:
        stage_in.start()
        wait_until(lambda: any(t.status == "INACTIVE" for t in site.tasks()), what="the task INACTIVE")
        site.emulator.remove_fault(outage)
        stage_in.join(timeout=60)
    finally:
        mover.stop()
    ((report,),) = results
    assert report.status is Status.DONE
    assert (workdir / "f").read_bytes() == data


def test_the_namespace_stats_many_files_with_one_listing_per_directory_renames_and_removes(
    site: Site, pilot_env: dict[str, str]
) -> None:
    site.put("SITE1", "/d/a", b"1" * 10)
    site.put("SITE1", "/d/b", b"2" * 20)
    site.put("SITE1", "/e/c", b"3" * 30)
    mover = open_mover(site)
    try:
        namespace = mover.namespace(Location("globus", "SITE1", "/d/a"))
        at = [Location("globus", "SITE1", p) for p in ("/d/a", "/d/b", "/d/none", "/e/c", "/nowhere/x", "/d")]
        found = namespace.stat_many(at)  # type: ignore[attr-defined]
        assert [(f.size, f.is_dir) if f else None for f in found[:5]] == [
            (10, False),
            (20, False),
            None,
            (30, False),
            None,
        ]
        assert found[5] is not None and found[5].is_dir
        namespace.rename(at[0], Location("globus", "SITE1", "/d/a2"), overwrite=False)
        assert not (site.directory("SITE1") / "d/a").exists()
        namespace.rename(Location("globus", "SITE1", "/d/a2"), at[1], overwrite=True)  # replaces b
        assert (site.directory("SITE1") / "d/b").read_bytes() == b"1" * 10
        namespace.remove(at[1])
        namespace.remove(at[1])  # a missing file is not an error
        assert not (site.directory("SITE1") / "d/b").exists()
        with pytest.raises(Exception, match="computes no adler32"):
            namespace.checksum(at[3], "adler32")
    finally:
        mover.stop()
    assert {t.type for t in site.emulator.tasks.all()} == {"DELETE"}


def test_endpoint_names_resolve_once_exactly_or_are_refused_as_ambiguous(site: Site, pilot_env: dict[str, str]) -> None:
    alice = site.globus.add_endpoint("alice#TWIN")
    site.globus.add_endpoint("bob#TWIN")
    mover = open_mover(site, endpoints=f"TWIN={alice.id}, OTHER={alice.id}")
    try:
        assert mover.resolver is not None
        assert mover.resolver.resolve("alice#TWIN").id == alice.id
        assert mover.resolver.resolve("TWIN").id == alice.id  # queue config's map wins
        assert mover.resolver.resolve(alice.id).id == alice.id
        assert mover.resolver.resolve("SITE1").id == site.globus.endpoints["SITE1"].id
    finally:
        mover.stop()
    mover = open_mover(site)
    try:
        assert mover.resolver is not None
        with pytest.raises(Exception, match="'TWIN' is ambiguous: 2 endpoints") as caught:
            mover.resolver.resolve("TWIN")
        assert caught.value.code == 9001  # type: ignore[attr-defined]
    finally:
        mover.stop()


def test_a_gcp_another_job_started_at_the_same_instant_is_left_running(
    site: Site, pilot_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both jobs asked -status before either started: the second -start is refused by GCP, and
    the second job must not -stop the first one's GCP (the control socket is shared)."""
    first_dir, second_dir = site.base / "job1", site.base / "job2"
    first_dir.mkdir()
    second_dir.mkdir()
    first = open_mover(site, first_dir)
    try:
        monkeypatch.setattr(GlobusConnectPersonal, "refuse_if_another_runs", lambda self: None)  # the race
        with pytest.raises(Exception, match="started on this node at the same time") as caught:
            open_mover(site, second_dir)
        assert (caught.value.code, type(caught.value).__name__) == (1180, "WorkerEndpointFailed")  # type: ignore[attr-defined]
        assert site.gcp_running()
        assert site.personal_endpoints() == ["WN-test"]  # the second one's endpoint was deleted
        assert first.worker is not None and first.worker.gcp is not None and first.worker.gcp.running
    finally:
        first.stop()
    site.assert_nothing_left()


def test_an_endpoint_the_service_would_not_delete_is_listed_in_the_report(
    site: Site, pilot_env: dict[str, str]
) -> None:
    site.put("SITE1", "/home/osg_data/panda/0064.file", b"x" * 1000)
    queue = QueueConfig.from_dict(site.queue(http_retries=0, gcp_stop_timeout=5))
    with pytest.raises(PhaseFailed), Job(job_params.parse(SENDJOB), queue, site.base / "job") as job:
        job.stage_in()
        (endpoint_id,) = [e.id for e in site.emulator.endpoints.all() if e.is_globus_connect]
        site.globus.server.stop()  # Globus is unreachable from here on
        job.run_payload(WRITE_10MB)
        job.stage_out()
    assert job.report is not None
    (left,) = job.report.to_dict()["left_behind"]
    assert (left["kind"], left["location"], left["name"]) == ("globus-endpoint", endpoint_id, "OSGDEV")
    assert "cannot reach the Globus service" in left["reason"]
    assert not site.gcp_running()


def test_a_legacy_proxy_is_refused_before_anything_is_made(
    site: Site, pilot_env: dict[str, str], tmp_path: Path
) -> None:
    ca = ThrowawayCA(tmp_path / "ca").create()
    legacy = make_proxy(ca.user(tmp_path / "user", "Test User"), tmp_path / "legacy.pem", rfc=False)
    site.put("SITE1", "/home/osg_data/panda/0064.file", b"x")
    credentials = Credentials.from_environment().with_proxy(str(legacy))
    with (
        pytest.raises(Exception, match="legacy proxy; Globus needs an RFC 3820 proxy") as caught,
        Job(
            job_params.parse(SENDJOB), QueueConfig.from_dict(site.queue()), site.base / "job", credentials=credentials
        ) as job,
    ):
        job.stage_in()
    assert caught.value.code == 1163  # type: ignore[attr-defined]
    assert site.emulator.endpoints.issued_setup_keys() == []
    assert site.tasks() == []


def test_a_globus_job_needs_no_proxy(site: Site, pilot_env: dict[str, str]) -> None:
    site.put("SITE1", "/home/osg_data/panda/0064.file", b"x")
    credentials = Credentials.from_environment()
    assert credentials.x509_proxy is None or not os.path.exists(credentials.x509_proxy)
    with Job(
        job_params.parse(SENDJOB),
        QueueConfig.from_dict(site.queue()),
        site.base / "job",
        credentials=Credentials(oauth=credentials.oauth),
    ) as job:
        job.stage_in()
    assert job.report is not None and job.report.error is None


def test_the_jobs_expected_checksums_and_sizes_reach_the_service(site: Site, pilot_env: dict[str, str]) -> None:
    """``checksums-in``/``sizes-in`` (key=value form): the service verifies each input against its
    expected checksum; an input that is not what the job expects fails for good, naming both."""
    good, other = os.urandom(30_000), os.urandom(30_000)
    site.put("mxp#MXP_BNL_TEST", "/direct/usatlas+u/mxp/a.dat", good)
    site.put("mxp#MXP_BNL_TEST", "/direct/usatlas+u/mxp/b.dat", other)
    params = job_params.parse(
        "globus-endpoint-in=mxp#MXP_BNL_TEST globus-endpoint-local=WN dir-in=/direct/usatlas+u/mxp/ "
        f"files-in=a.dat,b.dat checksums-in={adler32(good)},{adler32(good)} sizes-in=30000,30000"
    )
    workdir = site.base / "job"
    with pytest.raises(PhaseFailed) as caught, Job(params, QueueConfig.from_dict(site.queue()), workdir) as job:
        job.stage_in()
    (failure,) = caught.value.failures
    assert (failure.file, failure.name, failure.transient) == ("b.dat", "GETADMISMATCH", False)
    assert adler32(good).value in failure.message
    assert job.report is not None
    a_report = job.report.phases[0].results[0]
    assert (a_report.status, a_report.checksum, a_report.verified) == (Status.DONE, adler32(good), True)
    assert (workdir / "a.dat").read_bytes() == good
    assert not (workdir / "b.dat").exists()
    (task,) = site.tasks()
    assert {i.external_checksum for i in task.items} == {adler32(good).value}
    site.assert_nothing_left()


def test_a_rotating_refresh_token_from_the_credentials_file_serves_a_whole_job(
    site: Site, pilot_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The user's refresh token, rotated at every renewal (access tokens live 2 s, so every call
    renews): the job's threads renew one at a time and never reuse a rotated-away token."""
    for name in ("GLOBUS_CLIENT_ID", "GLOBUS_CLIENT_SECRET", "GLOBUS_REFRESH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    token = site.emulator.register_refresh_token(site.globus.client_id, "mxp", rotate=True)
    site.emulator.access_token_lifetime = 2
    credentials = site.base / "globus.json"
    secrets = {"client_id": site.globus.client_id, "client_secret": site.globus.client_secret, "refresh_token": token}
    credentials.write_text(json.dumps(secrets))
    credentials.chmod(0o600)
    for name in "abcdef":
        site.put("SITE1", f"/in/{name}", os.urandom(20_000))
        site.put("mxp#MXP_BNL_TEST", f"/in/{name}2", os.urandom(20_000))
    params = job_params.parse(
        "globus-endpoint-in=SITE1 dir-in=/in files-in=a,b,c,d,e,f globus-endpoint-local=WN "
        "--StageinGOsrc=" + ",".join(f"mxp#MXP_BNL_TEST:/in/{n}2" for n in "abcdef")
    )
    queue = QueueConfig.from_dict(site.queue(credentials_file=str(credentials)))
    with Job(params, queue, site.base / "job") as job:
        reports = job.stage_in()
    assert [r.status for r in reports] == [Status.DONE] * 12
    owners = {t.owner.username for t in site.tasks()}
    assert owners == {"mxp@globusid.org"}  # the user's identity, through the refresh token
    site.assert_nothing_left()


def test_an_endpoint_left_by_a_failed_start_is_listed_in_the_report(site: Site, pilot_env: dict[str, str]) -> None:
    """Globus goes away while the worker's GCP is connecting: the job fails, GCP is stopped, and
    the endpoint it could not delete is in the report for an operator."""
    site.put("SITE1", "/home/osg_data/panda/0064.file", b"x")
    site.emulator.cut_relay()  # GCP waits to connect ...
    created = threading.Event()

    def take_globus_away() -> None:
        wait_until(site.personal_endpoints, what="the worker endpoint created")
        site.globus.server.stop()  # ... and then Globus cannot be reached
        created.set()

    threading.Thread(target=take_globus_away, daemon=True).start()
    queue = QueueConfig.from_dict(site.queue(http_retries=0, gcp_connect_timeout=20))
    with pytest.raises(MoverError) as caught, Job(job_params.parse(SENDJOB), queue, site.base / "job") as job:
        job.stage_in()
    assert created.is_set()
    assert (caught.value.code, caught.value.name) == (1180, "GETGLOBUSSYSERR")
    assert job.report is not None
    (left,) = job.report.to_dict()["left_behind"]
    (endpoint,) = [e for e in site.emulator.endpoints.all() if e.is_globus_connect]
    assert (left["kind"], left["location"], left["name"]) == ("globus-endpoint", endpoint.id, "OSGDEV")
    assert not site.gcp_running()
