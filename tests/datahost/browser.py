"""A real headless Chromium (Debian's chromium, driven through its chromedriver by selenium) that
trusts the test DataHost's host key, for the page tests. Missing pieces fail the test: the
browser test is part of CI (scripts/bootstrap.sh installs chromium and chromium-driver)."""

from __future__ import annotations

import base64
import hashlib
import shutil
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def spki_hash(certificate: Path) -> str:
    """base64(sha256(SubjectPublicKeyInfo)): what Chromium's --ignore-certificate-errors-spki-list
    takes, so the browser trusts exactly this server's key and no other untrusted certificate."""
    cert = x509.load_pem_x509_certificate(certificate.read_bytes())
    der = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode("ascii")


def start_chromium(host_certificate: Path, profile: Path, downloads: Path):  # -> selenium WebDriver
    """A headless Chromium as root in a container: no sandbox (it refuses to start as root with
    one), /tmp instead of a small /dev/shm, its own profile directory."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if shutil.which(path) is None:
            pytest.fail(f"the browser tests need {path}: run scripts/bootstrap.sh (Debian's {package})", pytrace=False)
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("the browser tests need selenium: run scripts/bootstrap.sh (the test extra)", pytrace=False)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,2000",
        f"--user-data-dir={profile}",
        f"--ignore-certificate-errors-spki-list={spki_hash(host_certificate)}",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--password-store=basic",
    ):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads)})
    return webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
