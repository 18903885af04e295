"""A person's session: idle expiry, kept alive by an upload in progress (the SAGrid portal's
complaint was sessions that ended in the middle of long uploads)."""

from __future__ import annotations

import secrets
import shutil
import threading
import time
from collections.abc import Iterator

import pytest
from pilot_movers_testkit.datahost import DataHost

from pilot_movers.errors import AuthenticationFailed
from pilot_movers.https_datahost.client import DataHostClient
from tests.datahost.conftest import start_datahost
from tests.helpers import write_file

IDLE = 3  # seconds without a request that end a session on this instance
MIB = 1 << 20


@pytest.fixture(scope="module")
def short_sessions(credentials) -> Iterator[DataHost]:
    server = start_datahost(credentials, "short-sessions", session_idle_seconds=IDLE)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)


def _login(server: DataHost, name: str, password: str) -> DataHostClient:
    client = DataHostClient(server.address, ca_dir=str(server.grid.cert_dir))
    client.login(name, password)
    return client


def test_an_idle_session_ends(short_sessions):
    password = secrets.token_urlsafe(12)
    short_sessions.add_user("idle", password)
    with _login(short_sessions, "idle", password) as client:
        client.ls()
        time.sleep(IDLE + 1.5)
        with pytest.raises(AuthenticationFailed, match="not authenticated"):
            client.ls()


def test_a_session_survives_an_upload_longer_than_its_idle_time(short_sessions, tmp_path):
    password = secrets.token_urlsafe(12)
    short_sessions.add_user("patient", password)
    write_file(tmp_path / "slow.bin", 12 * MIB, seed=51)
    uploader = _login(short_sessions, "patient", password)
    cookies = uploader.cookies()

    def slowly(done: int, total: int | None) -> None:
        time.sleep(0.75)  # about 9 s for 12 MiB: three times the idle time

    outcome: dict[str, object] = {}

    def upload() -> None:
        try:
            outcome["result"] = uploader.put(tmp_path / "slow.bin", progress=slowly)
        except Exception as exc:  # reported below
            outcome["error"] = exc

    started = time.monotonic()
    thread = threading.Thread(target=upload)
    thread.start()
    # Nothing else touches the session meanwhile: only the upload can keep it alive.
    time.sleep(2 * IDLE)
    assert thread.is_alive(), "the upload finished too early to prove anything"
    with DataHostClient(short_sessions.address, ca_dir=str(short_sessions.grid.cert_dir), cookies=cookies) as other:
        assert other.whoami()["user"] == "patient"  # same session, another tab: still logged in
    thread.join(timeout=120)
    elapsed = time.monotonic() - started
    assert "error" not in outcome, outcome.get("error")
    assert elapsed > 2 * IDLE
    with uploader:
        assert [f.name for f in uploader.ls()] == ["slow.bin"]
        time.sleep(IDLE + 1.5)  # and once idle, it still ends
        with pytest.raises(AuthenticationFailed):
            uploader.ls()
