"""The face people see in a browser: login page, forms with CSRF tokens, the admin."""

from __future__ import annotations

import re

import requests

from tests.helpers import write_file

HTML = {"Accept": "text/html,application/xhtml+xml"}


def _browser(datahost) -> requests.Session:
    browser = requests.Session()
    browser.trust_env = False
    browser.verify = str(datahost.grid.cert_dir)
    browser.headers.update(HTML)
    return browser


def _token(page: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert match, "no CSRF token in the page"
    return match.group(1)


def _log_in(browser: requests.Session, datahost, name: str, password: str) -> requests.Response:
    page = browser.get(datahost.url("/datahost/login/"), verify=browser.verify)
    return browser.post(
        datahost.url("/datahost/login/"),
        data={"username": name, "password": password, "csrfmiddlewaretoken": _token(page.text), "next": "/datahost/"},
        headers={"Referer": datahost.url("/datahost/login/")},
        verify=browser.verify,
    )


def test_a_person_logs_in_uploads_with_the_form_and_sees_the_file(account, datahost, tmp_path):
    browser = _browser(datahost)
    assert browser.get(datahost.url("/datahost/"), allow_redirects=False, verify=browser.verify).status_code == 302
    landed = _log_in(browser, datahost, account.name, account.password)
    assert landed.status_code == 200 and landed.url.endswith("/datahost/") and account.name in landed.text
    write_file(tmp_path / "form.bin", 300_000, seed=61)
    with open(tmp_path / "form.bin", "rb") as body:
        # The token travels inside the multipart body, as a browser sends it.
        answer = browser.post(
            datahost.url("/datahost/transmit/"),
            data={"csrfmiddlewaretoken": _token(landed.text)},
            files={"file2xmit": ("form.bin", body)},
            headers={"Referer": datahost.url("/datahost/")},
            verify=browser.verify,
        )
    assert answer.status_code == 200 and "Uploaded form.bin" in answer.text
    assert "form.bin" in browser.get(datahost.url("/datahost/"), verify=browser.verify).text


def test_a_forged_form_upload_is_refused_and_leaves_nothing(account, datahost, tmp_path):
    browser = _browser(datahost)
    _log_in(browser, datahost, account.name, account.password)
    write_file(tmp_path / "forged.bin", 300_000)
    with open(tmp_path / "forged.bin", "rb") as body:
        answer = browser.post(
            datahost.url("/datahost/transmit/"),
            data={"csrfmiddlewaretoken": "x" * 64},
            files={"file2xmit": ("forged.bin", body)},
            headers={"Referer": datahost.url("/datahost/"), "Accept": "application/json"},
            verify=browser.verify,
        )
    assert answer.status_code == 403 and answer.json()["reason"] == "csrf"
    assert not [p for p in datahost.files_on_disk() if p.name == "forged.bin" or p.name.startswith(".upload-")]


def test_wrong_password_is_refused(account, datahost):
    browser = _browser(datahost)
    answer = _log_in(browser, datahost, account.name, "not the password")
    assert answer.status_code == 401 and "wrong user name or password" in answer.text


def test_the_admin_is_for_staff(datahost):
    datahost.add_user("admin-person", "admin secret phrase", staff=True)
    browser = _browser(datahost)
    _log_in(browser, datahost, "admin-person", "admin secret phrase")
    users = browser.get(datahost.url("/datahost/admin/auth/user/"), verify=browser.verify)
    assert users.status_code == 200 and "griduser" in users.text
    dns = browser.get(datahost.url("/datahost/admin/datahost/certificatedn/"), verify=browser.verify)
    assert dns.status_code == 200 and "Test User" in dns.text
    assert browser.get(datahost.url("/static/admin/css/base.css"), verify=browser.verify).status_code == 200


def test_people_without_staff_rights_do_not_reach_the_admin(account, datahost):
    browser = _browser(datahost)
    _log_in(browser, datahost, account.name, account.password)
    answer = browser.get(datahost.url("/datahost/admin/auth/user/"), allow_redirects=False, verify=browser.verify)
    assert answer.status_code == 302 and "/admin/login/" in answer.headers["Location"]
