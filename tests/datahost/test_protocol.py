"""The protocol against the real server: password and certificate logins, files round trip,
refusals with the right error classes."""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import pytest
import requests
from pilot_movers_testkit.ca import make_proxy

from pilot_movers.errors import (
    AuthenticationFailed,
    ChecksumsDiffer,
    DestinationExists,
    NoSpace,
    SourceNotFound,
    TransferFailed,
)
from pilot_movers.https_datahost.client import DataHostClient
from tests.helpers import write_file


def adler32_of(path: Path) -> str:
    value = 1
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            value = zlib.adler32(block, value)
    return format(value, "08x")


def test_password_login_put_ls_get_rm_round_trip_with_checksums(account, tmp_path):
    source = tmp_path / "data.bin"
    expected = write_file(source, 3_000_000, seed=1).value
    with account.client() as client:
        uploaded = client.put(source)
        assert (uploaded.name, uploaded.size, uploaded.adler32) == ("data.bin", 3_000_000, expected)
        listing = client.listing()
        assert listing.user == account.name and listing.auth == "session"
        assert [(f.name, f.size, f.adler32) for f in listing.files] == [("data.bin", 3_000_000, expected)]
        assert client.stat("data.bin").adler32 == expected
        result = client.get("data.bin", tmp_path / "copy.bin")
        assert result.verified and result.adler32 == expected
        assert adler32_of(tmp_path / "copy.bin") == expected
        client.rm("data.bin")
        assert client.ls() == []
        with pytest.raises(SourceNotFound):
            client.rm("data.bin")
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_each_user_sees_only_their_own_files(make_account, tmp_path):
    write_file(tmp_path / "private.bin", 1000)
    first, second = make_account(), make_account()
    with first.client() as one, second.client() as other:
        one.put(tmp_path / "private.bin")
        assert other.ls() == []
        with pytest.raises(SourceNotFound):
            other.get("private.bin", tmp_path / "stolen.bin")


def test_existing_names_are_kept_unless_overwrite_is_asked(account, tmp_path):
    write_file(tmp_path / "a.bin", 1000, seed=1)
    write_file(tmp_path / "b.bin", 2000, seed=2)
    with account.client() as client:
        client.put(tmp_path / "a.bin", "same.bin")
        with pytest.raises(DestinationExists):
            client.put(tmp_path / "b.bin", "same.bin")
        assert client.stat("same.bin").size == 1000
        client.put(tmp_path / "b.bin", "same.bin", overwrite=True)
        assert client.stat("same.bin").size == 2000
        client.get("same.bin", tmp_path / "here.bin")
        with pytest.raises(DestinationExists):
            client.get("same.bin", tmp_path / "here.bin")


def test_bad_names_are_refused(account, tmp_path):
    write_file(tmp_path / "x.bin", 10)
    with account.client() as client:
        for bad in (".hidden", "../escape", "a/b", "/"):
            with pytest.raises(TransferFailed, match="not a valid file name"):
                client.put(tmp_path / "x.bin", bad)


def test_quota_exceeded_is_refused_before_the_upload_starts(make_account, datahost, tmp_path):
    account = make_account(quota=5_000_000)
    big = f"{account.name}-big.bin"  # unique in the server's access log
    write_file(tmp_path / "small.bin", 1_000_000)
    write_file(tmp_path / big, 8_000_000)
    sent = []
    with account.client() as client:
        client.put(tmp_path / "small.bin")
        with pytest.raises(NoSpace, match="exceed your quota"):
            client.put(tmp_path / big, progress=lambda done, total: sent.append(done))
        assert sent == []  # not one byte of the body was read
        assert [f.name for f in client.ls()] == ["small.bin"]
        assert not [h for h in client.history() if h.kind == "upload" and h.name == big]
    requests_for_big = datahost.logged(f"name={big}")
    assert len(requests_for_big) == 1  # the question, answered 507; the body was never sent
    assert '"GET /datahost/transmit/' in requests_for_big[0] and '" 507 ' in requests_for_big[0]
    assert not [p for p in datahost.files_on_disk() if p.name.startswith(".")]


def test_the_server_refuses_an_over_quota_upload_from_its_headers(make_account, datahost, tmp_path):
    """A client that does not ask first: the answer is decided before the body is read, and
    nothing is written (mod_wsgi still relays the body before the answer: see docs)."""
    account = make_account(quota=1_000_000)
    write_file(tmp_path / "big.bin", 3_000_000)
    with account.client() as client:
        url = client.base_url + "/datahost/transmit/?name=big.bin"
        with open(tmp_path / "big.bin", "rb") as body:
            answer = client.session.post(
                url,
                files={"file2xmit": ("big.bin", body)},
                headers={"X-CSRFToken": client.session.cookies["csrftoken"], "Origin": client.base_url},
                verify=str(datahost.grid.cert_dir),
            )
        assert answer.status_code == 507
        assert answer.json()["reason"] == "quota_exceeded"
        assert client.ls() == []
        assert not [h for h in client.history() if h.kind == "upload"]  # refused before an upload began


def test_group_quota_counts_every_member(make_account, datahost, tmp_path):
    datahost.add_group("small-vo", quota=3_000_000)
    first, second = make_account(groups=("small-vo",)), make_account(groups=("small-vo",))
    write_file(tmp_path / "two.bin", 2_000_000)
    with first.client() as one, second.client() as other:
        one.put(tmp_path / "two.bin")
        with pytest.raises(NoSpace, match="group small-vo"):
            other.put(tmp_path / "two.bin")
        quotas = {q["scope"]: q for q in other.listing().quotas}
        assert quotas["group:small-vo"]["usage_bytes"] == 2_000_000


def test_declared_checksum_that_does_not_match_is_refused_and_nothing_stored(account, datahost, tmp_path):
    write_file(tmp_path / "c.bin", 100_000)
    with account.client() as client:
        with pytest.raises(ChecksumsDiffer):
            client.put(tmp_path / "c.bin", checksum="00000001")
        assert client.ls() == []
    assert not [p for p in datahost.files_on_disk() if p.name.startswith(".")]


def test_a_body_larger_than_declared_is_refused(account, tmp_path):
    write_file(tmp_path / "d.bin", 100_000)
    with account.client() as client, open(tmp_path / "d.bin", "rb") as body:
        answer = client.session.post(
            client.base_url + "/datahost/transmit/?name=d.bin",
            files={"file2xmit": ("d.bin", body)},
            headers={
                "X-CSRFToken": client.session.cookies["csrftoken"],
                "Origin": client.base_url,
                "X-DataHost-Size": "1000",
            },
            verify=client._verify,
        )
        assert answer.status_code == 422
        assert answer.json()["reason"] == "size_mismatch"
        assert client.ls() == []


def test_pilot_without_client_certificate_is_refused(datahost, tmp_path):
    with DataHostClient(datahost.address, ca_dir=str(datahost.grid.cert_dir)) as anonymous:
        with pytest.raises(AuthenticationFailed, match="not authenticated"):
            anonymous.ls()
        write_file(tmp_path / "x.bin", 10)
        with pytest.raises(AuthenticationFailed):
            anonymous.put(tmp_path / "x.bin")
        with pytest.raises(AuthenticationFailed):
            anonymous.get("anything", tmp_path / "y.bin")


def test_proxy_of_an_unknown_dn_is_refused_with_403(datahost):
    grid = datahost.grid
    with (
        DataHostClient(datahost.address, ca_dir=str(grid.cert_dir), cert=str(grid.unauthorised_proxy)) as pilot,
        pytest.raises(AuthenticationFailed, match="not registered") as refused,
    ):
        pilot.ls()
    assert refused.value.http_status == 403  # type: ignore[attr-defined]


def test_rfc3820_proxy_of_a_known_user_is_accepted_and_maps_to_that_user(proxy_client, datahost, tmp_path):
    identity = proxy_client.whoami()
    assert identity == {
        "user": "griduser",
        "auth": "certificate",
        "dn": datahost.grid.user.dn,
        "session_idle_seconds": None,
    }
    write_file(tmp_path / "pilot.out", 200_000, seed=3)
    uploaded = proxy_client.put(tmp_path / "pilot.out", "pilot-rfc.out", overwrite=True)
    proxy_client.get("pilot-rfc.out", tmp_path / "back.out")
    assert adler32_of(tmp_path / "back.out") == uploaded.adler32


def test_legacy_proxy_and_plain_user_certificate_map_to_the_same_user(datahost, tmp_path):
    grid = datahost.grid
    legacy = make_proxy(grid.user, tmp_path / "legacy.pem", rfc=False)
    for cert, key in ((legacy, legacy), (grid.user.cert, grid.user.key)):
        with DataHostClient(datahost.address, ca_dir=str(grid.cert_dir), cert=str(cert), key=str(key)) as client:
            assert client.whoami()["user"] == "griduser"


def test_expired_proxy_and_foreign_ca_fail_the_handshake(datahost, tmp_path):
    import datetime

    from pilot_movers_testkit.ca import ThrowawayCA

    grid = datahost.grid
    past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=3)
    expired = make_proxy(grid.user, tmp_path / "expired.pem", hours=1, not_before=past)
    foreign = ThrowawayCA(tmp_path / "foreign-ca", "Foreign CA").create()
    stranger = make_proxy(foreign.user(tmp_path / "stranger", "Test User"), tmp_path / "stranger.pem")
    for proxy in (expired, stranger):
        with (
            DataHostClient(datahost.address, ca_dir=str(grid.cert_dir), cert=str(proxy)) as client,
            pytest.raises(AuthenticationFailed, match="TLS handshake"),
        ):
            client.ls()


def test_certificate_writes_from_another_site_and_session_writes_without_the_token_are_refused(account, datahost):
    grid = datahost.grid
    verify = str(grid.cert_dir)
    url = datahost.url("/datahost/delete/")
    cert = (str(grid.user_proxy), str(grid.user_proxy))
    # A browser holding the user's certificate, driven by another site: it says where it comes from.
    for forged in (
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"},
        {"Referer": "https://evil.example/page.html"},
    ):
        answer = requests.post(url, data={"name": "x"}, cert=cert, verify=verify, headers=forged)
        assert answer.status_code == 403 and "another site" in answer.json()["error"], forged
    # A program (curl, the 2010 scripts) sends no browser headers; this site's own pages may.
    for harmless in ({}, {"Origin": datahost.base_url}, {"Sec-Fetch-Site": "same-origin"}):
        answer = requests.post(url, data={"name": "x"}, cert=cert, verify=verify, headers=harmless)
        assert answer.status_code == 404 and answer.json()["reason"] == "not_found", harmless
    with account.client() as client:
        answer = client.session.post(url, data={"name": "x"}, verify=verify)  # cookie, no token
        assert answer.status_code == 403 and answer.json()["reason"] == "csrf"


def test_download_whose_bytes_do_not_match_the_recorded_checksum_never_lands(account, datahost, tmp_path):
    write_file(tmp_path / "e.bin", 50_000)
    with account.client() as client:
        client.put(tmp_path / "e.bin")
        # Simulate a corrupt store behind the server's back: same size, other bytes.
        stored = next(p for p in datahost.files_on_disk() if p.name == "e.bin")
        data = bytearray(stored.read_bytes())
        data[0] ^= 0xFF
        mtime = stored.stat().st_mtime_ns
        stored.write_bytes(bytes(data))
        os.utime(stored, ns=(mtime, mtime))  # the record still looks fresh: the Digest is stale
        with pytest.raises(ChecksumsDiffer):
            client.get("e.bin", tmp_path / "e.copy")
        assert not (tmp_path / "e.copy").exists()
        assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_an_empty_file_round_trips(account, tmp_path):
    (tmp_path / "empty.dat").write_bytes(b"")
    with account.client() as client:
        uploaded = client.put(tmp_path / "empty.dat")
        assert (uploaded.size, uploaded.adler32) == (0, "00000001")
        result = client.get("empty.dat", tmp_path / "empty.copy")
    assert result.size == 0 and (tmp_path / "empty.copy").read_bytes() == b""


def test_rename_is_atomic_keeps_the_checksum_and_respects_existing_names(account, tmp_path):
    """What a mover needs: upload to a temporary name, verify, rename into place."""
    expected = write_file(tmp_path / "t.bin", 10_000, seed=9).value
    temporary = "out.root.pilot-movers-a1-x1y2.part"
    with account.client() as client:
        client.put(tmp_path / "t.bin", temporary)
        client.put(tmp_path / "t.bin", "other.bin")
        with pytest.raises(DestinationExists):
            client.rename(temporary, "other.bin")
        client.rename(temporary, "out.root")
        assert {f.name: f.adler32 for f in client.ls()} == {"other.bin": expected, "out.root": expected}
        client.rename("out.root", "other.bin", overwrite=True)
        assert [f.name for f in client.ls()] == ["other.bin"]
        with pytest.raises(SourceNotFound):
            client.rename("out.root", "elsewhere.root")
        with pytest.raises(TransferFailed, match="not a valid file name"):
            client.rename("other.bin", "../other.bin")
