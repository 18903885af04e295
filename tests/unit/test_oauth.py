"""OAuth2 client credentials (Globus): from the environment or a 0600 file, never shown, never in a
payload's environment."""

from __future__ import annotations

import json
import os

import pytest

import job_params
from pilot_movers import Credentials, Job, QueueConfig
from pilot_movers.credentials.oauth import OAuthClient
from pilot_movers.errors import CredentialRefused

SECRET = "s3cret-value-never-shown"
TOKEN = "refresh-token-never-shown"


def test_the_environment_gives_a_client_and_its_secret_or_refresh_token():
    client = OAuthClient.from_environment({"GLOBUS_CLIENT_ID": "abc", "GLOBUS_CLIENT_SECRET": SECRET})
    assert client is not None
    assert (client.client_id, client.grant, client.source) == ("abc", "client_credentials", "environment")
    native = OAuthClient.from_environment({"GLOBUS_CLIENT_ID": "abc", "GLOBUS_REFRESH_TOKEN": TOKEN})
    assert native is not None and native.grant == "refresh_token"
    assert OAuthClient.from_environment({"GLOBUS_CLIENT_SECRET": SECRET}) is None


def test_secrets_never_show_in_repr():
    client = OAuthClient("abc", SECRET, TOKEN)
    credentials = Credentials(x509_proxy="/tmp/p", oauth=client)
    for text in (repr(client), repr(credentials), str(credentials)):
        assert SECRET not in text and TOKEN not in text
    assert "GLOBUS" not in " ".join(credentials.environment())


def test_an_incomplete_client_is_refused_where_it_is_used_not_when_read():
    client = OAuthClient.from_environment({"GLOBUS_CLIENT_ID": "abc"})
    assert client is not None  # a job that does not use Globus must not fail over it
    with pytest.raises(CredentialRefused, match="neither a client secret nor a refresh token") as caught:
        client.check()
    assert (caught.value.code, caught.value.transient) == (1338, False)


def test_a_credentials_file_is_json_readable_by_its_owner_only(tmp_path):
    path = tmp_path / "globus.json"
    path.write_text(json.dumps({"client_id": "abc", "client_secret": SECRET}))
    os.chmod(path, 0o600)
    client = OAuthClient.from_file(str(path))
    assert (client.client_id, client.client_secret, client.source) == ("abc", SECRET, str(path))
    os.chmod(path, 0o640)
    with pytest.raises(CredentialRefused, match="others may read it"):
        OAuthClient.from_file(str(path))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "is not a JSON object"),
        ('["a"]', "is not a JSON object"),
        ('{"client_id": "abc", "password": "x"}', "unknown key(s) password"),
        ('{"client_id": "abc"}', "neither a client secret nor a refresh token"),
        ('{"client_secret": "x"}', "no client id"),
        ('{"client_id": 5, "client_secret": "x"}', "must be strings"),
    ],
)
def test_a_bad_credentials_file_is_refused_with_a_sentence(tmp_path, content, message):
    path = tmp_path / "globus.json"
    path.write_text(content)
    os.chmod(path, 0o600)
    with pytest.raises(CredentialRefused, match=message.replace("(", r"\(").replace(")", r"\)")) as caught:
        OAuthClient.from_file(str(path))
    assert caught.value.code == 1338


def test_a_missing_credentials_file_is_a_credential_error(tmp_path):
    with pytest.raises(CredentialRefused, match="cannot read the OAuth2 credentials file"):
        OAuthClient.from_file(str(tmp_path / "nope.json"))


def test_the_payload_never_gets_the_pilots_oauth_client(tmp_path, monkeypatch):
    monkeypatch.setenv("GLOBUS_CLIENT_ID", "abc")
    monkeypatch.setenv("GLOBUS_CLIENT_SECRET", SECRET)
    monkeypatch.setenv("GLOBUS_REFRESH_TOKEN", TOKEN)
    queue = QueueConfig.from_dict({"copytool": "local"})
    with Job(job_params.parse("globus-user=mxp"), queue, tmp_path / "w", handle_signals=False) as job:
        assert job.credentials is not None and job.credentials.oauth is not None
        env = job.payload_environment()
    assert not {"GLOBUS_CLIENT_ID", "GLOBUS_CLIENT_SECRET", "GLOBUS_REFRESH_TOKEN"} & set(env)
    assert SECRET not in json.dumps(env) and TOKEN not in json.dumps(env)
