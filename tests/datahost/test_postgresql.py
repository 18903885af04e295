"""The DataHost on PostgreSQL, with two front-ends: two instances (two Apaches on two ports, as two
hosts behind a load balancer would be) sharing one PostgreSQL cluster, one storage directory and
one secret key. The cluster is Debian's PostgreSQL started by the testkit; a missing PostgreSQL
fails these tests."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from datahost_server.storage import host_label
from pilot_movers_testkit.datahost import DataHost
from pilot_movers_testkit.datahost_load import plan_pilots, run_and_check, seed_inputs
from pilot_movers_testkit.grid import LocalGrid
from pilot_movers_testkit.postgresql import PostgreSQL, PostgreSQLError

from pilot_movers import QueueConfig
from pilot_movers.credentials.bundle import Credentials
from pilot_movers.errors import DestinationExists, MoverError, NoSpace
from pilot_movers.https_datahost.client import DataHostClient
from tests.datahost.conftest import start_datahost
from tests.helpers import assert_nothing_lost, write_file

PILOT_USER = "griduser"
PILOTS = 100
FILE_SIZE = 64 * 1024


@pytest.fixture(scope="module")
def postgresql() -> Iterator[PostgreSQL]:
    cluster = PostgreSQL()
    try:
        cluster.start()
    except PostgreSQLError as exc:
        cluster.__exit__()
        pytest.fail(f"the PostgreSQL tests need Debian's postgresql: {exc}", pytrace=False)
    try:
        yield cluster
    finally:
        cluster.__exit__()


@pytest.fixture(scope="module")
def front_ends(credentials: LocalGrid, postgresql: PostgreSQL) -> Iterator[tuple[DataHost, DataHost]]:
    shared = Path("/tmp") / f"pilot-movers-datahost-shared-{os.getpid()}"
    shutil.rmtree(shared, ignore_errors=True)
    shared.mkdir(mode=0o755)
    first = start_datahost(credentials, "pg-a", databases=postgresql.databases(), storage=shared / "storage")
    second_root = Path("/tmp") / f"pilot-movers-datahost-pg-b-{os.getpid()}"
    shutil.rmtree(second_root, ignore_errors=True)
    second = first.front_end(second_root)
    try:
        second.start()
        first.add_user(PILOT_USER, None, dns=[credentials.user.dn])  # type: ignore[union-attr]
        yield first, second
    finally:
        for server in (first, second):
            server.stop()
            shutil.rmtree(server.root, ignore_errors=True)
        shutil.rmtree(shared, ignore_errors=True)


def _account(server: DataHost, **options: object) -> tuple[str, str]:
    name, password = f"pg{secrets.token_hex(4)}", secrets.token_urlsafe(16)
    server.add_user(name, password, **options)  # type: ignore[arg-type]
    return name, password


def _client(server: DataHost, name: str, password: str) -> DataHostClient:
    client = DataHostClient(server.address, ca_dir=str(server.grid.cert_dir))
    client.login(name, password)
    return client


def test_upload_list_download_delete_and_quota_run_on_postgresql(front_ends, postgresql, tmp_path):
    first, second = front_ends
    name, password = _account(first, quota=3_000_000)
    write_file(tmp_path / "one.bin", 1_000_000, seed=1)
    write_file(tmp_path / "big.bin", 2_500_000, seed=2)
    with _client(first, name, password) as on_first, _client(second, name, password) as on_second:
        stored = on_first.put(tmp_path / "one.bin")
        assert [(f.name, f.size) for f in on_second.ls()] == [("one.bin", 1_000_000)]
        on_second.get("one.bin", tmp_path / "back.bin")
        assert (tmp_path / "back.bin").read_bytes() == (tmp_path / "one.bin").read_bytes()
        rows = postgresql.query(
            "SELECT f.name, f.adler32 FROM datahost_storedfile f JOIN auth_user u ON u.id = f.user_id "
            f"WHERE u.username = '{name}'",
            database=postgresql.database,
        )
        assert rows == [["one.bin", stored.adler32]]
        with pytest.raises(NoSpace):
            on_second.put(tmp_path / "big.bin")
        assert [f.name for f in on_first.ls()] == ["one.bin"]
        on_second.rm("one.bin")
        assert on_first.ls() == []
    assert postgresql.query(
        f"SELECT count(*) FROM datahost_storedfile WHERE name = 'one.bin' AND user_id = "
        f"(SELECT id FROM auth_user WHERE username = '{name}')",
        database=postgresql.database,
    ) == [["0"]]
    assert not [p for server in front_ends for p in (server.root / "db").iterdir()], "an SQLite file was made"


def test_a_session_made_on_one_front_end_is_valid_on_the_other(front_ends):
    first, second = front_ends
    name, password = _account(first)
    with _client(first, name, password) as on_first:
        cookies = on_first.cookies()
    with DataHostClient(second.address, ca_dir=str(second.grid.cert_dir), cookies=cookies) as on_second:
        assert on_second.whoami()["user"] == name


def _race(clients: list[DataHostClient], sources: list[Path], names: list[str]) -> list[object]:
    """Every client uploads its source under its name at the same moment; each one's outcome."""
    barrier = threading.Barrier(len(clients))
    outcomes: list[object] = [None] * len(clients)

    def upload(index: int) -> None:
        barrier.wait()
        try:
            outcomes[index] = clients[index].put(sources[index], names[index])
        except MoverError as exc:
            outcomes[index] = exc

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_same_name_uploads_through_both_front_ends_leave_one_winner(front_ends, postgresql, tmp_path):
    first, second = front_ends
    name, password = _account(first)
    racers = 8
    sources = [tmp_path / f"racer{i}.bin" for i in range(racers)]
    for i, source in enumerate(sources):
        write_file(source, 2_000_000, seed=10 + i)
    clients = [_client((first, second)[i % 2], name, password) for i in range(racers)]
    try:
        outcomes = _race(clients, sources, ["contested.bin"] * racers)
        winners = [i for i, outcome in enumerate(outcomes) if not isinstance(outcome, Exception)]
        assert len(winners) == 1, outcomes
        assert all(isinstance(o, DestinationExists) for i, o in enumerate(outcomes) if i != winners[0]), outcomes
        clients[1].get("contested.bin", tmp_path / "stored.bin")
        assert (tmp_path / "stored.bin").read_bytes() == sources[winners[0]].read_bytes()
        rows = postgresql.query(
            "SELECT adler32 FROM datahost_storedfile WHERE name = 'contested.bin' AND user_id = "
            f"(SELECT id FROM auth_user WHERE username = '{name}')",
            database=postgresql.database,
        )
        assert rows == [[outcomes[winners[0]].adler32]]  # type: ignore[attr-defined]
    finally:
        for client in clients:
            client.close()


def test_a_quota_holds_when_uploads_arrive_through_both_front_ends_at_once(front_ends, tmp_path):
    first, second = front_ends
    name, password = _account(first, quota=3_000_000)
    racers = 6
    sources = [tmp_path / f"part{i}.bin" for i in range(racers)]
    for i, source in enumerate(sources):
        write_file(source, 1_000_000, seed=30 + i)
    clients = [_client((first, second)[i % 2], name, password) for i in range(racers)]
    try:
        outcomes = _race(clients, sources, [source.name for source in sources])
        stored = clients[0].ls()
    finally:
        for client in clients:
            client.close()
    assert sum(1 for o in outcomes if isinstance(o, NoSpace)) == 3, outcomes
    assert len(stored) == 3 and sum(f.size for f in stored) == 3_000_000


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_start_up_removes_only_its_own_hosts_dead_uploads_and_stale_ones_on_shared_storage(front_ends, tmp_path):
    first, second = front_ends
    name, password = _account(first)
    write_file(tmp_path / "anchor.bin", 1000, seed=5)
    with _client(first, name, password) as client:
        client.put(tmp_path / "anchor.bin")
    user_dir = next(p.parent for p in first.files_on_disk() if p.name == "anchor.bin")
    dead = _dead_pid()  # a pid no process here has: another host's live uploader, or a crashed one of ours

    def plant(file_name: str, age: float = 0.0) -> Path:
        path = user_dir / file_name
        path.write_bytes(b"bytes of an upload")
        if age:
            moment = time.time() - age
            os.utime(path, (moment, moment))
        return path

    other_host = plant(f".upload-{dead}@other-host.example-{secrets.token_urlsafe(9)}.part")
    unnamed_host = plant(f".upload-{dead}-{secrets.token_urlsafe(9)}.part")  # written before hosts were named
    own_crashed = plant(f".upload-{dead}@{host_label()}-{secrets.token_urlsafe(9)}.part")
    other_stale = plant(f".pull-{dead}@other-host.example-{secrets.token_urlsafe(9)}.part", age=2 * 24 * 3600)
    second.restart()
    with _client(second, name, password) as client:  # the application has started
        assert [f.name for f in client.ls()] == ["anchor.bin"]
    deadline = time.monotonic() + 20
    while own_crashed.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert unnamed_host.exists(), "an upload in progress of a host that names no host was removed"
    assert other_host.exists(), "another host's upload in progress was removed"
    assert not own_crashed.exists(), "this host's dead upload was left"
    assert not other_stale.exists(), "another host's upload untouched for two days was left"


def test_pilots_through_both_front_ends_at_once_lose_nothing_corrupt_nothing_and_get_no_server_error(
    front_ends, credentials
):
    first = front_ends[0]
    workroot = Path("/tmp") / f"pilot-movers-load-pg-{os.getpid()}"
    shutil.rmtree(workroot, ignore_errors=True)
    pilot_credentials = Credentials(x509_proxy=str(credentials.user_proxy), ca_dir=str(credentials.cert_dir))
    pilots = seed_inputs(
        plan_pilots(f"two{time.monotonic_ns() % 10**9}", PILOTS, files_per_pilot=1),
        address=first.address,
        credentials=pilot_credentials,
        size=FILE_SIZE,
        scratch=workroot / "seed",
    )
    queue = QueueConfig.from_dict({"transfer": {"max_attempts": 3, "backoff_initial": 0.5, "concurrency": 2}})
    offsets = [server.access_log.stat().st_size for server in front_ends]
    try:
        result = run_and_check(
            pilots,
            front_ends,
            user=PILOT_USER,
            credentials=pilot_credentials,
            workroot=workroot,
            queue=queue,
            file_size=FILE_SIZE,
        )
        assert_nothing_lost(result, files=2 * PILOTS)
        for server, offset in zip(front_ends, offsets):
            with open(server.access_log, "rb") as log:
                log.seek(offset)
                uploads = log.read().count(b"POST /datahost/transmit/")
            assert uploads >= PILOTS // 2, f"{server.address} received {uploads} uploads of {PILOTS}"
    finally:
        shutil.rmtree(workroot, ignore_errors=True)
