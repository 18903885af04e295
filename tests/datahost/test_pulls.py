"""Upload from URL: the server fetches a file from a (local) http server in the background."""

from __future__ import annotations

import pytest

from pilot_movers.errors import TransferFailed
from tests.helpers import write_file

MIB = 1 << 20


def test_upload_from_url_completes_and_reports_its_bandwidth(account, web_server, tmp_path):
    base, root = web_server
    expected = write_file(root / "remote.dat", 24 * MIB, seed=41).value
    with account.client() as client:
        queued = client.pull(f"{base}/remote.dat")
        assert queued.state == "queued" and queued.name == "remote.dat"
        done = client.wait_for_pull(queued.id, timeout=60)
        assert done.state == "done", done.error
        assert done.bytes == 24 * MIB and done.seconds and done.mb_per_s
        listed = {f.name: f for f in client.ls()}
        assert listed["remote.dat"].adler32 == expected
        fetched = client.get("remote.dat", tmp_path / "fetched.dat")
        assert fetched.adler32 == expected
        assert any(h.kind == "pull" and h.state == "done" for h in client.history())


def test_upload_from_url_that_fails_says_why(account, web_server):
    base, _ = web_server
    with account.client() as client:
        queued = client.pull(f"{base}/missing.dat", "missing.dat")
        done = client.wait_for_pull(queued.id, timeout=30)
        assert done.state == "failed" and "404" in (done.error or "")
        assert client.ls() == []


def test_upload_from_url_respects_the_quota(make_account, web_server, datahost):
    base, root = web_server
    write_file(root / "large.dat", 3 * MIB, seed=42)
    account = make_account(quota=MIB)
    with account.client() as client:
        done = client.wait_for_pull(client.pull(f"{base}/large.dat").id, timeout=30)
        assert done.state == "failed" and "quota" in (done.error or "")
        assert client.ls() == []
    assert not [p for p in datahost.files_on_disk() if p.name.startswith(".pull-")]


def test_only_http_urls_are_pulled(account):
    with account.client() as client:
        for url in ("file:///etc/passwd", "ftp://example.org/x", "not a url"):
            with pytest.raises(TransferFailed, match="not an http"):
                client.pull(url, "x.dat")
