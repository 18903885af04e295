"""The page in a real headless Chromium (Debian's chromium and chromedriver, driven by selenium),
as a person uses it: log in, upload with a progress bar, see the plot and what to expect, a
non-ASCII name turned into a storable one, a cancelled upload listed with its reason, delete,
log out. Never skipped: a missing browser fails."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from tests.datahost.browser import start_chromium
from tests.helpers import write_file

CANCEL_AT_TEN_PERCENT = """
var send = XMLHttpRequest.prototype.send;
XMLHttpRequest.prototype.send = function (body) {
  this.upload.addEventListener("progress", function (event) {
    if (event.loaded > event.total / 10) { document.getElementById("upload-cancel").click(); }
  });
  return send.call(this, body);
};
"""


@pytest.fixture
def chromium(datahost, tmp_path) -> Iterator:
    driver = start_chromium(datahost.grid.host.cert, tmp_path / "profile", tmp_path / "downloads")
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.save_screenshot(str(tmp_path / "last.png"))
        driver.quit()


def _wait(driver, condition, seconds: float = 60):
    return WebDriverWait(driver, seconds, poll_frequency=0.05).until(condition)


def _log_in(driver, datahost, account) -> None:
    driver.get(datahost.url("/datahost/"))
    assert "/datahost/login/" in driver.current_url
    driver.find_element(By.NAME, "username").send_keys(account.name)
    driver.find_element(By.NAME, "password").send_keys(account.password)
    driver.find_element(By.CSS_SELECTOR, "form[action='/datahost/login/'] button").click()
    _wait(driver, expected_conditions.text_to_be_present_in_element((By.TAG_NAME, "header"), account.name))


def _file_names(driver) -> list[str]:
    return [a.text for a in driver.find_elements(By.CSS_SELECTOR, "#files td:first-child a")]


def _progress_while_uploading(driver, seconds: float = 120) -> list[float]:
    """The progress bar's values, read until the page has moved on (reloaded after success)."""
    seen: list[float] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = driver.execute_script(
            "var bar = document.getElementById('upload-progress');"
            "var box = document.getElementById('upload-progress-box');"
            "return bar && box && !box.hidden ? bar.value : (document.getElementById('page-note') ? -1 : null);"
        )
        if value == -1:
            return seen
        if value is not None:
            seen.append(float(value))
        time.sleep(0.05)
    raise AssertionError(f"the upload did not finish in {seconds} s (progress seen: {seen[-5:]})")


def test_a_person_uploads_sees_the_plot_deletes_and_logs_out(chromium, datahost, account, tmp_path):
    _log_in(chromium, datahost, account)

    write_file(tmp_path / "big.bin", 24_000_000, seed=7)
    chromium.find_element(By.ID, "upload-file").send_keys(str(tmp_path / "big.bin"))
    assert chromium.find_element(By.ID, "upload-name").get_attribute("value") == "big.bin"
    with datahost.grid.throttled("60mbit"):  # ~3 s on the wire: long enough to watch the bar
        chromium.find_element(By.ID, "upload-button").click()
        seen = _progress_while_uploading(chromium)
    assert any(0 < value < 100 for value in seen), f"no partial progress shown: {seen[:10]}...{seen[-3:]}"
    assert seen == sorted(seen), "the progress bar went backwards"
    note = chromium.find_element(By.ID, "page-note").text
    assert note.startswith("Uploaded big.bin (24.00 MB, ")
    assert "big.bin" in _file_names(chromium)

    # The plot: uPlot drew a canvas, with this upload's rate as a point.
    plot = chromium.find_element(By.CSS_SELECTOR, "#rate-plot .uplot canvas")
    assert plot.size["width"] > 300 and plot.size["height"] > 100
    uploads = chromium.execute_script("return window.datahostPlot.data[1].filter(function (v) { return v !== null; });")
    assert len(uploads) == 1 and 0 < uploads[0] < 60 / 8 * 1.2  # MB/s, under the throttle
    expected = chromium.find_element(By.CSS_SELECTOR, "#expectations tr[data-direction='upload'] td.expected").text
    assert float(expected) == pytest.approx(uploads[0], rel=0.01)
    chromium.save_screenshot(str(tmp_path / "after-upload.png"))

    # A name the DataHost cannot store is offered a storable one before a byte is sent.
    write_file(tmp_path / "données été.txt", 2000)
    chromium.find_element(By.ID, "upload-file").send_keys(str(tmp_path / "données été.txt"))
    assert chromium.find_element(By.ID, "upload-name").get_attribute("value") == "donnees_ete.txt"
    assert "cannot be stored under its own name" in chromium.find_element(By.ID, "upload-rename").text
    chromium.find_element(By.ID, "upload-button").click()
    _wait(chromium, expected_conditions.text_to_be_present_in_element((By.ID, "page-note"), "Uploaded donnees_ete.txt"))
    assert "donnees_ete.txt" in _file_names(chromium)

    # Delete: the row goes, the page says so.
    row = chromium.find_element(By.XPATH, "//table[@id='files']//tr[td/a[text()='big.bin']]")
    row.find_element(By.TAG_NAME, "button").click()
    _wait(chromium, expected_conditions.text_to_be_present_in_element((By.CLASS_NAME, "messages"), "Deleted big.bin."))
    assert "big.bin" not in _file_names(chromium)
    assert not [p for p in datahost.files_on_disk() if p.name == "big.bin" and account.name in str(p)]

    # Log out: back to the login page, and the page is closed to this browser.
    chromium.find_element(By.CSS_SELECTOR, "form[action='/datahost/logout/'] button").click()
    _wait(chromium, expected_conditions.url_contains("/datahost/login/"))
    chromium.get(datahost.url("/datahost/"))
    assert "/datahost/login/" in chromium.current_url


def test_a_cancelled_upload_is_listed_with_its_reason(chromium, datahost, account, tmp_path):
    _log_in(chromium, datahost, account)
    write_file(tmp_path / "cancelled.bin", 40_000_000, seed=3)
    chromium.find_element(By.ID, "upload-file").send_keys(str(tmp_path / "cancelled.bin"))
    # The person presses Cancel at 10 %: clicked by the page itself, since the driver's own
    # commands queue behind the upload on the throttled loopback and would arrive late.
    chromium.execute_script(CANCEL_AT_TEN_PERCENT)
    with datahost.grid.throttled("40mbit"):
        chromium.find_element(By.ID, "upload-button").click()
        _wait(chromium, expected_conditions.text_to_be_present_in_element((By.ID, "upload-error"), "was cancelled"))
    deadline = time.monotonic() + 30
    while True:
        chromium.get(datahost.url("/datahost/"))
        failed = chromium.find_element(By.ID, "failed").text
        if "cancelled.bin" in failed or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    history = chromium.find_element(By.ID, "history").text
    assert "cancelled.bin" in failed, history
    assert "the client stopped sending before the upload was complete" in failed
    assert "cancelled.bin" not in _file_names(chromium)
    assert not [p for p in datahost.files_on_disk() if p.name.startswith(".upload-")]
