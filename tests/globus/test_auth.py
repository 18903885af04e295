"""Globus Auth as the real globus-sdk sees it: client credentials, refresh tokens (rotated,
revoked), expiring access tokens, and the Transfer API refusing calls without a valid token."""

from __future__ import annotations

import time

import globus_sdk
import pytest
from pilot_movers_testkit.globus import LocalGlobus


def test_client_credentials_token_has_the_shape_the_sdk_needs(
    auth_client: globus_sdk.ConfidentialAppAuthClient,
) -> None:
    tokens = auth_client.oauth2_client_credentials_tokens(requested_scopes=globus_sdk.TransferClient.scopes.all)
    transfer = tokens.by_resource_server["transfer.api.globus.org"]
    assert transfer["access_token"]
    assert transfer["scope"] == "urn:globus:auth:scope:transfer.api.globus.org:all"
    assert transfer["expires_at_seconds"] > time.time() + 3000
    assert tokens["other_tokens"] == []
    assert tokens["token_type"] == "Bearer"


def test_transfer_client_with_client_credentials_authorizer_reaches_the_transfer_api(
    tc: globus_sdk.TransferClient,
) -> None:
    assert [ep["canonical_name"] for ep in tc.endpoint_search("MXP_BNL_TEST")] == ["mxp#MXP_BNL_TEST"]


def test_a_wrong_client_secret_is_invalid_client(globus: LocalGlobus) -> None:
    client = globus_sdk.ConfidentialAppAuthClient(globus.client_id, "not-the-secret")
    with pytest.raises(globus_sdk.AuthAPIError) as refused:
        client.oauth2_client_credentials_tokens(requested_scopes=globus_sdk.TransferClient.scopes.all)
    assert refused.value.http_status == 401
    assert refused.value.raw_json == {"error": "invalid_client"}


def test_an_unknown_client_is_invalid_client(globus: LocalGlobus) -> None:
    client = globus_sdk.ConfidentialAppAuthClient("no-such-client", globus.client_secret)
    with pytest.raises(globus_sdk.AuthAPIError) as refused:
        client.oauth2_client_credentials_tokens(requested_scopes=globus_sdk.TransferClient.scopes.all)
    assert refused.value.http_status == 401


def test_transfer_call_without_a_token_is_401_no_credentials(globus: LocalGlobus) -> None:
    with pytest.raises(globus_sdk.TransferAPIError) as refused:
        globus_sdk.TransferClient().endpoint_search("SITE1")
    assert refused.value.http_status == 401
    assert refused.value.code == "ClientError.AuthenticationFailed"
    assert refused.value.message == "No credentials supplied"


def test_transfer_call_with_an_unknown_token_is_401_token_not_active(globus: LocalGlobus) -> None:
    client = globus_sdk.TransferClient(authorizer=globus_sdk.AccessTokenAuthorizer("made-up-token"))
    with pytest.raises(globus_sdk.TransferAPIError) as refused:
        client.get_submission_id()
    assert (refused.value.http_status, refused.value.code, refused.value.message) == (
        401,
        "AuthenticationFailed",
        "Token is not active",
    )


def test_an_expired_access_token_is_refused(
    globus: LocalGlobus, auth_client: globus_sdk.ConfidentialAppAuthClient
) -> None:
    globus.emulator.access_token_lifetime = 3
    tokens = auth_client.oauth2_client_credentials_tokens(requested_scopes=globus_sdk.TransferClient.scopes.all)
    access = tokens.by_resource_server["transfer.api.globus.org"]["access_token"]
    fixed = globus_sdk.TransferClient(authorizer=globus_sdk.AccessTokenAuthorizer(access))
    assert fixed.get_submission_id()["value"]
    time.sleep(3.1)
    with pytest.raises(globus_sdk.TransferAPIError) as refused:
        fixed.get_submission_id()
    assert (refused.value.http_status, refused.value.code) == (401, "AuthenticationFailed")


def test_client_credentials_authorizer_gets_a_new_token_after_expiry(
    globus: LocalGlobus, auth_client: globus_sdk.ConfidentialAppAuthClient
) -> None:
    seen: list[str] = []

    def remember(response: globus_sdk.OAuthTokenResponse) -> None:
        seen.append(response.by_resource_server["transfer.api.globus.org"]["access_token"])

    authorizer = globus_sdk.ClientCredentialsAuthorizer(
        auth_client, globus_sdk.TransferClient.scopes.all, on_refresh=remember
    )
    client = globus_sdk.TransferClient(authorizer=authorizer)
    client.get_submission_id()
    globus.emulator.tokens.expire_access_tokens()  # the service says no; the authorizer recovers
    client.get_submission_id()
    assert len(seen) == 2
    assert seen[0] != seen[1]


def test_refresh_token_authorizer_refreshes_when_its_token_is_refused(
    globus: LocalGlobus, auth_client: globus_sdk.ConfidentialAppAuthClient
) -> None:
    refreshed: list[globus_sdk.OAuthTokenResponse] = []
    authorizer = globus_sdk.RefreshTokenAuthorizer(
        globus.refresh_token,
        auth_client,
        access_token="stale-token",  # looks valid to the authorizer; the service refuses it
        expires_at=int(time.time()) + 3600,
        on_refresh=refreshed.append,
    )
    client = globus_sdk.TransferClient(authorizer=authorizer)
    found = client.endpoint_search(filter_scope="my-endpoints")
    assert [ep["canonical_name"] for ep in found] == ["mxp#MXP_BNL_TEST"]
    assert len(refreshed) == 1
    assert authorizer.access_token != "stale-token"


def test_refresh_token_authorizer_renews_an_expired_token(
    globus: LocalGlobus, auth_client: globus_sdk.ConfidentialAppAuthClient
) -> None:
    globus.emulator.access_token_lifetime = 1
    authorizer = globus_sdk.RefreshTokenAuthorizer(globus.refresh_token, auth_client)
    client = globus_sdk.TransferClient(authorizer=authorizer)
    first = authorizer.access_token
    time.sleep(1.2)
    client.get_submission_id()
    assert authorizer.access_token != first


def test_rotated_refresh_token_replaces_the_old_one(
    globus: LocalGlobus, auth_client: globus_sdk.ConfidentialAppAuthClient
) -> None:
    original = globus.emulator.register_refresh_token(globus.client_id, "mxp", rotate=True)
    authorizer = globus_sdk.RefreshTokenAuthorizer(original, auth_client)
    globus_sdk.TransferClient(authorizer=authorizer).get_submission_id()
    assert authorizer.refresh_token != original
    assert authorizer.refresh_token == globus.emulator.tokens.current_refresh_token(original)
    with pytest.raises(globus_sdk.AuthAPIError) as refused:
        auth_client.oauth2_refresh_token(original)
    assert refused.value.http_status == 400


def test_a_revoked_refresh_token_surfaces_as_invalid_grant(
    globus: LocalGlobus, auth_client: globus_sdk.ConfidentialAppAuthClient
) -> None:
    assert globus.emulator.revoke_refresh_token(globus.refresh_token)
    with pytest.raises(globus_sdk.AuthAPIError) as refused:
        globus_sdk.RefreshTokenAuthorizer(globus.refresh_token, auth_client)
    assert refused.value.http_status == 400
    assert refused.value.raw_json == {"error": "invalid_grant"}


def test_an_expired_refresh_token_is_invalid_grant(
    globus: LocalGlobus, auth_client: globus_sdk.ConfidentialAppAuthClient
) -> None:
    token = globus.emulator.register_refresh_token(globus.client_id, "mxp", lifetime=0.2)
    time.sleep(0.3)
    with pytest.raises(globus_sdk.AuthAPIError) as refused:
        auth_client.oauth2_refresh_token(token)
    assert refused.value.raw_json == {"error": "invalid_grant"}


def test_a_refresh_token_only_works_for_the_client_it_was_issued_to(globus: LocalGlobus) -> None:
    other = globus.emulator.register_client()
    assert other.secret is not None
    with pytest.raises(globus_sdk.AuthAPIError) as refused:
        globus_sdk.ConfidentialAppAuthClient(other.client_id, other.secret).oauth2_refresh_token(globus.refresh_token)
    assert refused.value.raw_json == {"error": "invalid_grant"}


def test_native_app_refresh_needs_no_secret(globus: LocalGlobus) -> None:
    native = globus.emulator.register_client(native=True)
    token = globus.emulator.register_refresh_token(native.client_id, "mxp")
    client = globus_sdk.NativeAppAuthClient(native.client_id)
    authorizer = globus_sdk.RefreshTokenAuthorizer(token, client)
    assert globus_sdk.TransferClient(authorizer=authorizer).get_submission_id()["value"]
