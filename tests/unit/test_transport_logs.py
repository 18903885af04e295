"""The mask every logged line passes through (``-v`` lets libraries' debug lines in): what
looks like a credential is masked, the rest of the line kept (issue 24)."""

from __future__ import annotations

import logging

import pytest

from pilot_movers.console.transport_logs import MaskSecrets, mask_secrets

TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJwaWxvdCJ9.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    "line",
    [
        f"send: b'GET /f HTTP/1.1\\r\\nAuthorization: Bearer {TOKEN}\\r\\n'",
        f"header: authorization={TOKEN}",
        f"Davix: > Authorization: Bearer {TOKEN}",
        f"opening root://se//f?authz=Bearer%20{TOKEN}&x=1",
        f'"GET /f?access_token={TOKEN} HTTP/1.1" 200 5',
        f"-----BEGIN RSA PRIVATE KEY-----\n{TOKEN}\n-----END RSA PRIVATE KEY-----",
        # the forms the review of issue 24 found unmasked
        f"env: BEARER_TOKEN={TOKEN} X509_CERT_DIR=/etc",
        f"env: MYPROXY_PASSPHRASE={TOKEN}",
        f'answer: {{"access_token": "{TOKEN}", "expires_in": 3600}}',
        f"body: grant_type=client_credentials&client_secret={TOKEN}",
        f"url: https://alice:{TOKEN}@dh.example.org/datahost/",
    ],
)
def test_a_credential_in_a_line_is_masked_and_the_line_kept(line: str):
    masked = mask_secrets(line)
    assert TOKEN not in masked and "masked]" in masked
    assert masked.startswith(line[:8]) or masked == "[PEM block masked]", "what comes before the secret stays"


def test_an_ordinary_line_is_left_as_it_is():
    line = "[PostMaster] [localhost:1094] Stream 0 connected (IPv4); token count 3"
    assert mask_secrets(line) == line


def test_the_filter_masks_a_records_arguments_too():
    record = logging.LogRecord("urllib3", logging.DEBUG, __file__, 1, "%s %s", ("Authorization:", TOKEN), None)
    assert MaskSecrets().filter(record) is True
    assert TOKEN not in record.getMessage() and record.getMessage() == "Authorization: [masked]"


def test_a_traceback_is_masked_too():
    try:
        raise RuntimeError(f"login failed with password={TOKEN}")
    except RuntimeError:
        import sys

        record = logging.LogRecord("pilot_movers", logging.ERROR, __file__, 1, "cleanup failed", (), sys.exc_info())
    assert MaskSecrets().filter(record) is True
    formatted = logging.Formatter().format(record)
    assert TOKEN not in formatted and "password=[masked]" in formatted and "RuntimeError" in formatted
