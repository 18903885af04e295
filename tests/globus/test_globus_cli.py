"""The stock ``globus`` command (globus-cli from PyPI) against the emulator, as a site admin
rehearses with it: the client's id and secret in GLOBUS_CLI_CLIENT_ID/_SECRET, the services in
GLOBUS_SDK_SERVICE_URL_TRANSFER/_AUTH, a HOME of its own for the CLI's token storage. Each test
asserts on what the command prints (``--format json`` where it has one) and on its exit code."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pilot_movers_testkit.globus import LocalGlobus

from tests.globus.support import emulator_process

GLOBUS = Path(sys.executable).with_name("globus")
API_ERROR = 1
WRONG_ENTITY_TYPE = 3
ADMIN_CLIENT = "3b1f6c2e-5d7a-4e0b-9c41-7a2d8e6f1b90"


@dataclass(frozen=True)
class GlobusCLI:
    """The ``globus`` command in an environment pointed at the emulator."""

    env: dict[str, str]
    home: Path

    def run(self, *args: str, rc: int = 0) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([str(GLOBUS), *args], env=self.env, capture_output=True, text=True, timeout=60)
        assert done.returncode == rc, f"globus {' '.join(args)}: exit {done.returncode}\n{done.stdout}{done.stderr}"
        return done

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--format", "json").stdout)


def cli_for(url: str, client_id: str, client_secret: str, home: Path) -> GlobusCLI:
    """Fails, never skips, without globus-cli: it is in the ``test`` extra (setup.cfg)."""
    assert GLOBUS.is_file(), f"globus-cli is not installed next to {sys.executable}: pip install -e '.[test]'"
    home.mkdir()
    env = {
        "PATH": f"{GLOBUS.parent}:/usr/bin:/bin",
        "HOME": str(home),
        "LC_ALL": "C.UTF-8",
        "GLOBUS_CLI_CLIENT_ID": client_id,
        "GLOBUS_CLI_CLIENT_SECRET": client_secret,
        "GLOBUS_SDK_SERVICE_URL_TRANSFER": url,
        "GLOBUS_SDK_SERVICE_URL_AUTH": url,
    }
    return GlobusCLI(env, home)


@pytest.fixture
def cli(globus: LocalGlobus, tmp_path: Path) -> GlobusCLI:
    return cli_for(globus.url, globus.client_id, globus.client_secret, tmp_path / "cli-home")


@pytest.fixture
def site_endpoint(globus: LocalGlobus) -> str:
    return globus.endpoints["SITE1"].id


@pytest.fixture
def own_endpoint(globus: LocalGlobus, tmp_path: Path) -> str:
    """An endpoint the CLI's client administers, as a site's service account does its own."""
    directory = tmp_path / "own"
    directory.mkdir()
    return globus.emulator.add_endpoint("SITE_ADMIN_EP", directory, owner=globus.client_id).id


def test_whoami_names_the_client_identity_and_keeps_tokens_in_its_home(cli: GlobusCLI, globus: LocalGlobus) -> None:
    assert cli.run("whoami").stdout.strip() == f"{globus.client_id}@clients.auth.globus.org"
    me = cli.json("whoami")
    assert me["sub"] == globus.client_id
    assert [i["sub"] for i in me["identity_set"]] == [globus.client_id]
    assert (cli.home / ".globus" / "cli" / "storage.db").is_file()


def test_session_show_of_a_client_identity_lists_no_authentication(cli: GlobusCLI) -> None:
    assert cli.json("session", "show") == {"session_id": None, "authentications": {}}


def test_endpoint_search_finds_the_site_endpoint_by_name_and_owner(cli: GlobusCLI, site_endpoint: str) -> None:
    assert [e["id"] for e in cli.json("endpoint", "search", "SITE1")["DATA"]] == [site_endpoint]
    by_owner = cli.json("endpoint", "search", "SITE", "--filter-owner-id", "emulator@globusid.org")
    assert [(e["id"], e["owner_string"]) for e in by_owner["DATA"]] == [(site_endpoint, "emulator@globusid.org")]


def test_endpoint_update_by_its_administrator_shows_in_endpoint_show(cli: GlobusCLI, own_endpoint: str) -> None:
    updated = cli.run("endpoint", "update", own_endpoint, "--description", "BNL scratch", "--organization", "BNL")
    assert updated.stdout.strip() == "Endpoint updated successfully"
    shown = cli.json("endpoint", "show", own_endpoint)
    assert (shown["display_name"], shown["description"], shown["organization"]) == (
        "SITE_ADMIN_EP",
        "BNL scratch",
        "BNL",
    )
    assert shown["entity_type"] == "GCSv4_host"


def test_endpoint_update_of_someone_elses_endpoint_is_denied(cli: GlobusCLI, site_endpoint: str) -> None:
    refused = cli.run(
        "endpoint", "update", site_endpoint, "--description", "mine now", "--map-http-status", "403=51", rc=51
    )
    assert "code:             PermissionDenied" in refused.stderr
    assert cli.json("endpoint", "show", site_endpoint)["description"] is None


def test_collection_show_sends_gcsv4_and_gcp_endpoints_to_endpoint_show(cli: GlobusCLI, site_endpoint: str) -> None:
    """Only GCSv5 collections have a collection document; the CLI says which command to use."""
    site = cli.run("collection", "show", site_endpoint, rc=WRONG_ENTITY_TYPE)
    assert "Globus Connect Server v4 Host" in site.stderr
    assert f"globus endpoint show {site_endpoint}" in site.stderr
    personal = cli.json("gcp", "create", "mapped", "rehearsal-gcp")
    assert personal["code"] == "Created" and personal["globus_connect_setup_key"]
    gcp = cli.run("collection", "show", personal["id"], rc=WRONG_ENTITY_TYPE)
    assert "Globus Connect Personal Mapped Collection" in gcp.stderr


def test_ls_mkdir_rename_and_delete_on_the_site_endpoint(
    cli: GlobusCLI, globus: LocalGlobus, site_endpoint: str
) -> None:
    root = globus.endpoints["SITE1"].directory
    (root / "a.txt").write_text("hello")
    assert [e["name"] for e in cli.json("ls", f"{site_endpoint}:/")["DATA"]] == ["a.txt"]
    assert cli.run("mkdir", f"{site_endpoint}:/d1").stdout.strip() == "The directory was created successfully"
    renamed = cli.run("rename", site_endpoint, "/a.txt", "/d1/b.txt")
    assert renamed.stdout.strip() == "File or directory renamed successfully"
    assert (root / "d1" / "b.txt").read_text() == "hello"
    listed = cli.json("ls", f"{site_endpoint}:/d1/")["DATA"]
    assert [(e["name"], e["type"], e["size"]) for e in listed] == [("b.txt", "file", 5)]
    deleted = cli.json("delete", "--recursive", "--label", "cleanup", f"{site_endpoint}:/d1")
    assert deleted["code"] == "Accepted"
    cli.run("task", "wait", deleted["task_id"], "--timeout", "30", "--polling-interval", "1")
    assert not (root / "d1").exists()


def test_transfer_then_task_wait_show_list_and_event_list(
    cli: GlobusCLI, globus: LocalGlobus, site_endpoint: str
) -> None:
    (globus.endpoints["SITE1"].directory / "in.dat").write_bytes(b"x" * 1000)
    destination = globus.endpoints["mxp#MXP_BNL_TEST"]
    submitted = cli.json("transfer", "--label", "rehearsal", f"{site_endpoint}:/in.dat", f"{destination.id}:/out.dat")
    assert submitted["code"] == "Accepted"
    task_id = submitted["task_id"]
    cli.run("task", "wait", task_id, "--timeout", "30", "--polling-interval", "1")
    task = cli.json("task", "show", task_id)
    assert (task["status"], task["label"], task["files_transferred"], task["bytes_transferred"]) == (
        "SUCCEEDED",
        "rehearsal",
        1,
        1000,
    )
    assert (destination.directory / "out.dat").read_bytes() == b"x" * 1000
    assert task_id in [t["task_id"] for t in cli.json("task", "list", "--filter-label", "rehearsal")["DATA"]]
    events = cli.json("task", "event-list", task_id)["DATA"]
    assert events[0]["code"] == "SUCCEEDED" and not events[0]["is_error"]


def test_an_active_task_shows_pause_info_takes_a_new_label_and_is_cancelled(
    cli: GlobusCLI, globus: LocalGlobus, site_endpoint: str
) -> None:
    (globus.endpoints["SITE1"].directory / "slow.dat").write_bytes(b"y" * 100)
    globus.emulator.delay_start(120, label="held")
    destination = globus.endpoints["mxp#MXP_BNL_TEST"].id
    task_id = cli.json("transfer", "--label", "held", f"{site_endpoint}:/slow.dat", f"{destination}:/slow.dat")[
        "task_id"
    ]
    pause = cli.json("task", "pause-info", task_id)
    assert pause["pause_rules"] == [] and pause["source_pause_message"] is None
    assert cli.run("task", "update", task_id, "--label", "renamed").stdout.strip() == "Success"
    assert cli.json("task", "show", task_id)["label"] == "renamed"
    assert cli.json("task", "cancel", task_id)["code"] == "Canceled"
    task = cli.json("task", "show", task_id)
    assert (task["status"], task["fatal_error"]["code"]) == ("FAILED", "CANCELED")
    late = cli.run("task", "update", task_id, "--label", "too late", "--map-http-status", "409=52", rc=52)
    assert "code:             TaskComplete" in late.stderr
    assert cli.json("task", "show", task_id)["label"] == "renamed"


def test_bookmark_create_list_show_and_delete(cli: GlobusCLI, site_endpoint: str) -> None:
    created = cli.json("bookmark", "create", f"{site_endpoint}:/data/", "site-data")
    listed = cli.json("bookmark", "list")["DATA"]
    assert [(b["id"], b["name"], b["endpoint_id"], b["path"]) for b in listed] == [
        (created["id"], "site-data", site_endpoint, "/data/")
    ]
    assert cli.run("bookmark", "show", "site-data").stdout.strip() == f"{site_endpoint}:/data/"
    deleted = cli.run("bookmark", "delete", "site-data")
    assert deleted.stdout.strip() == f"Bookmark '{created['id']}' deleted successfully"
    assert cli.json("bookmark", "list")["DATA"] == []


def test_permission_list_is_refused_with_the_services_error_for_an_endpoint_without_acl(
    cli: GlobusCLI, site_endpoint: str
) -> None:
    refused = cli.run("endpoint", "permission", "list", site_endpoint, rc=API_ERROR)
    assert "A Transfer API Error Occurred" in refused.stderr
    assert "HTTP status:      400" in refused.stderr
    assert "ClientError.BadRequest" in refused.stderr
    assert "has no access control list" in refused.stderr


@pytest.fixture
def emulator_url(tmp_path: Path) -> Iterator[str]:
    """The emulator as docs/globus-emulator.md starts it for globus-cli: a config file with the
    admin's client and an endpoint that client administers."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    config = {
        "clients": [{"client_id": ADMIN_CLIENT, "client_secret": "admin-secret-from-file"}],
        "endpoints": [{"name": "BNL_SCRATCH", "directory": str(scratch), "owner": ADMIN_CLIENT}],
    }
    with emulator_process(config, tmp_path) as url:
        yield url


def test_the_documented_rehearsal_updates_the_admins_endpoint(emulator_url: str, tmp_path: Path) -> None:
    cli = cli_for(emulator_url, ADMIN_CLIENT, "admin-secret-from-file", tmp_path / "admin-home")
    assert cli.run("whoami").stdout.strip() == f"{ADMIN_CLIENT}@clients.auth.globus.org"
    found = cli.json("endpoint", "search", "BNL_SCRATCH")["DATA"]
    assert [e["owner_id"] for e in found] == [ADMIN_CLIENT]
    cli.run("endpoint", "update", found[0]["id"], "--contact-email", "grid-admin@example.org")
    assert cli.json("endpoint", "show", found[0]["id"])["contact_email"] == "grid-admin@example.org"
