"""Fixtures: an emulated Globus per test (its own port, directories and state), and clients of
the real globus-sdk pointed at it through GLOBUS_SDK_SERVICE_URL_TRANSFER and _AUTH."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import globus_sdk
import pytest
from pilot_movers_testkit.globus import LocalGlobus

from tests.globus.pilots import SEED_ENDPOINTS, Site


@pytest.fixture(autouse=True)
def stoppable_children() -> Iterator[None]:
    """These tests start processes that must stop on SIGTERM (the emulator, stand-in GCPs, pilots).
    Children inherit the test thread's signal mask, and a gfal2 context made in this process (the
    gridftp mover's import, when the whole suite is collected) blocks every signal: unblock the
    ones that stop a process for the test's duration."""
    saved = signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT, signal.SIGHUP})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, saved)


@pytest.fixture
def globus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalGlobus]:
    with LocalGlobus(tmp_path / "globus") as local:
        for name, value in local.sdk_env().items():
            monkeypatch.setenv(name, value)
        yield local


@pytest.fixture
def auth_client(globus: LocalGlobus) -> globus_sdk.ConfidentialAppAuthClient:
    return globus_sdk.ConfidentialAppAuthClient(globus.client_id, globus.client_secret)


@pytest.fixture
def tc(auth_client: globus_sdk.ConfidentialAppAuthClient) -> globus_sdk.TransferClient:
    """A TransferClient of the test's confidential client (client credentials)."""
    authorizer = globus_sdk.ClientCredentialsAuthorizer(auth_client, globus_sdk.TransferClient.scopes.all)
    return globus_sdk.TransferClient(authorizer=authorizer)


@pytest.fixture
def user_tc(globus: LocalGlobus, auth_client: globus_sdk.ConfidentialAppAuthClient) -> globus_sdk.TransferClient:
    """A TransferClient of the test user, through the refresh token."""
    return globus_sdk.TransferClient(authorizer=globus_sdk.RefreshTokenAuthorizer(globus.refresh_token, auth_client))


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """The emulated Globus with the seed's endpoints and one emulated worker node."""
    with LocalGlobus(tmp_path / "globus", SEED_ENDPOINTS) as local:
        site = Site(local, tmp_path)
        try:
            yield site
        finally:
            site.close()


@pytest.fixture
def pilot_env(site: Site, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """This process as the pilot of ``site``'s worker node (for jobs run through ``Job``)."""
    env = site.env()
    for name in ("X509_USER_PROXY", "GLOBUS_REFRESH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        if os.environ.get(name) != value:
            monkeypatch.setenv(name, value)
    return env
