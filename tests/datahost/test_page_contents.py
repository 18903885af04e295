"""What the page tells a person, read as a browser receives it (HTML over HTTPS from the real
DataHost): files a page at a time, sizes in the units it states, failed transfers with their
reason, what to expect now and on what basis; names it cannot store refused with a suggestion."""

from __future__ import annotations

import datetime
import html
import re
import time

from tests.datahost.test_pages import _browser, _log_in, _token
from tests.helpers import write_file


def _page(browser, datahost, query: str = "") -> str:
    answer = browser.get(datahost.url("/datahost/" + query), verify=browser.verify)
    assert answer.status_code == 200
    return html.unescape(answer.text)


def _section(page: str, element_id: str) -> str:
    match = re.search(rf'<table id="{element_id}">(.*?)</table>\n', page, re.S)
    assert match, f"no table {element_id} in the page"
    return match.group(1)


def test_twenty_thousand_files_are_shown_a_page_at_a_time(account, datahost, tmp_path):
    write_file(tmp_path / "first.bin", 1000)
    with account.client() as client:
        client.put(tmp_path / "first.bin", "first.bin")
    (directory,) = {p.parent for p in datahost.files_on_disk() if p.name == "first.bin"}
    for number in range(20_000):
        with open(directory / f"run-{number:05d}.dat", "wb") as handle:
            handle.write(b"x" * 10)
    browser = _browser(datahost)
    _log_in(browser, datahost, account.name, account.password)

    started = time.monotonic()
    first = browser.get(datahost.url("/datahost/"), verify=browser.verify)
    seconds = time.monotonic() - started
    assert first.status_code == 200
    assert len(first.content) < 150_000, f"the first page weighs {len(first.content)} bytes"
    assert seconds < 10
    page = html.unescape(first.text)
    assert "20001 files, 201.00 kB; showing 1\u2013100." in page
    assert page.count('action="/datahost/delete/"') == 100
    assert "Page 1 of 201" in page and 'rel="next" href="?page=2"' in page

    last = _page(browser, datahost, "?page=201")
    assert "showing 20001\u201320001" in last and "run-19999.dat" in last
    found = _page(browser, datahost, "?q=run-1234")
    assert "10 matches “run-1234”; showing 1\u201310." in found
    assert "run-12340.dat" in found and "run-12349.dat" in found and "run-12350.dat" not in found


def test_sizes_are_in_the_units_the_page_states(account, datahost, tmp_path):
    write_file(tmp_path / "sized.bin", 1_500_000)
    with account.client() as client:
        client.put(tmp_path / "sized.bin", "sized.bin")
    browser = _browser(datahost)
    _log_in(browser, datahost, account.name, account.password)
    page = _page(browser, datahost)
    assert "1 MB = 10<sup>6</sup> bytes" in page
    # Django's filesizeformat would say 1.4 MB (powers of 1024 under the same name).
    assert '<td class="n" title="1500000 bytes">1.50 MB</td>' in page


def test_a_failed_upload_is_listed_with_its_name_and_reason(account, datahost, tmp_path):
    browser = _browser(datahost)
    landed = _log_in(browser, datahost, account.name, account.password)
    write_file(tmp_path / "liar.bin", 300_000)
    with open(tmp_path / "liar.bin", "rb") as body:
        answer = browser.post(
            datahost.url("/datahost/transmit/?name=liar.bin&size=1000"),
            data={"csrfmiddlewaretoken": _token(landed.text)},
            files={"file2xmit": ("liar.bin", body)},
            headers={"Referer": datahost.url("/datahost/"), "Accept": "application/json"},
            verify=browser.verify,
        )
    assert answer.status_code == 422 and answer.json()["reason"] == "size_mismatch"
    failed = _section(_page(browser, datahost), "failed")
    row = next(r for r in failed.split("<tr>") if "liar.bin" in r)
    assert "upload" in row and "the file is larger than the 1000 bytes declared" in row


def test_the_expectation_states_its_basis(account, datahost, tmp_path):
    with account.client() as client:
        for number in range(3):
            write_file(tmp_path / f"basis{number}.bin", 2_000_000, seed=number)
            client.put(tmp_path / f"basis{number}.bin", f"basis{number}.bin")
        write_file(tmp_path / "tiny.bin", 5000)
        client.put(tmp_path / "tiny.bin", "tiny.bin")  # too small to measure bandwidth
        rates = sorted(r.mb_per_s for r in client.history() if r.kind == "upload" and r.name.startswith("basis"))
    browser = _browser(datahost)
    _log_in(browser, datahost, account.name, account.password)
    page = _page(browser, datahost)
    expectations = _section(page, "expectations")
    rows = expectations.split("<tr data-direction=")
    uploads = next(r for r in rows if r.startswith('"upload"'))
    cells = re.findall(r'<td class="n(?: expected)?">([^<]*)</td>', uploads)
    expected, typical = float(cells[0]), float(cells[1])
    median = rates[1]
    assert abs(typical - median) <= 0.051 * median
    # Nothing else ran alongside these uploads or runs now (this test's user, this server).
    assert expected == typical
    assert "your last 3 uploads of at least 1.00 MB" in uploads
    assert "basis0.bin" in uploads and "tiny.bin" not in uploads
    downloads = next(r for r in rows if r.startswith('"download"'))
    assert "no basis yet" in downloads
    assert "typical \u00d7 (1 + alongside then) \u00f7 (1 + running now)" in page


def test_a_download_is_timed_when_its_bytes_moved_not_when_the_log_was_read(account, datahost, tmp_path):
    write_file(tmp_path / "timed.bin", 2_000_000)
    with account.client() as client:
        client.put(tmp_path / "timed.bin", "timed.bin")
        client.get("timed.bin", tmp_path / "back.bin")
    datahost.logged("/datahost/receive/timed.bin")
    time.sleep(3)  # the log is read later, when someone asks for the history
    browser = _browser(datahost)
    _log_in(browser, datahost, account.name, account.password)
    answer = browser.get(
        datahost.url("/datahost/history/"), headers={"Accept": "application/json"}, verify=browser.verify
    )
    (download,) = [t for t in answer.json()["transfers"] if t["kind"] == "download"]
    started = datetime.datetime.fromisoformat(download["started"])
    finished = datetime.datetime.fromisoformat(download["finished"])
    assert abs((finished - started).total_seconds() - download["seconds"]) < 0.01


def test_a_name_the_datahost_cannot_store_is_refused_with_a_suggestion(account, datahost):
    browser = _browser(datahost)
    _log_in(browser, datahost, account.name, account.password)
    answer = browser.get(
        datahost.url("/datahost/transmit/"),
        params={"name": "données été.txt", "size": "10"},
        headers={"Accept": "application/json"},
        verify=browser.verify,
    )
    assert answer.status_code == 400 and answer.json()["reason"] == "bad_name"
    assert "for example 'donnees_ete.txt'" in answer.json()["error"]
