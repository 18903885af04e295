"""Endpoints and file operations through the real TransferClient: search, get, create a GCP
endpoint and delete it, ls/mkdir/rename, and the service's errors."""

from __future__ import annotations

import globus_sdk
import pytest
from pilot_movers_testkit.globus import LocalGlobus

from tests.globus.support import write_bytes


def test_endpoint_search_finds_preconfigured_endpoints_by_their_names(
    globus: LocalGlobus, tc: globus_sdk.TransferClient
) -> None:
    bnl = globus.endpoints["mxp#MXP_BNL_TEST"]
    found = list(tc.endpoint_search("MXP_BNL_TEST"))
    assert [(ep["id"], ep["display_name"], ep["canonical_name"]) for ep in found] == [
        (bnl.id, "MXP_BNL_TEST", "mxp#MXP_BNL_TEST")
    ]
    assert found[0]["is_globus_connect"] is False
    assert found[0]["gcp_connected"] is None
    assert found[0]["owner_string"] == "mxp@globusid.org"
    site = list(tc.endpoint_search("SITE1"))
    assert [ep["canonical_name"] for ep in site] == ["emulator#SITE1"]
    assert list(tc.endpoint_search("nothing-called-this")) == []


def test_endpoint_search_scope_my_endpoints_is_what_the_caller_owns(
    globus: LocalGlobus, tc: globus_sdk.TransferClient, user_tc: globus_sdk.TransferClient
) -> None:
    assert [ep["canonical_name"] for ep in user_tc.endpoint_search(filter_scope="my-endpoints")] == ["mxp#MXP_BNL_TEST"]
    assert list(tc.endpoint_search(filter_scope="my-endpoints")) == []
    created = tc.post(
        "/v0.10/endpoint", data={"DATA_TYPE": "endpoint", "display_name": "wn-1", "is_globus_connect": True}
    )
    mine = list(tc.endpoint_search(filter_scope="my-gcp-endpoints"))
    assert [ep["id"] for ep in mine] == [created["id"]]
    assert list(user_tc.endpoint_search("wn-1")) == []  # a personal endpoint is private to its owner


def test_endpoint_search_without_text_in_scope_all_is_a_bad_request(
    globus: LocalGlobus, tc: globus_sdk.TransferClient
) -> None:
    with pytest.raises(globus_sdk.TransferAPIError) as refused:
        tc.endpoint_search()
    assert refused.value.http_status == 400


def test_endpoint_search_pages(globus: LocalGlobus, tc: globus_sdk.TransferClient) -> None:
    for n in range(5):
        globus.add_endpoint(f"mxp#PAGE_{n}")
    first = tc.endpoint_search("PAGE", limit=2)
    assert len(first["DATA"]) == 2
    assert first["has_next_page"] is True
    names = [ep["display_name"] for ep in tc.paginated.endpoint_search("PAGE", limit=2).items()]
    assert names == [f"PAGE_{n}" for n in range(5)]


def test_get_endpoint_by_id_and_not_by_name(globus: LocalGlobus, tc: globus_sdk.TransferClient) -> None:
    site = globus.endpoints["SITE1"]
    document = tc.get_endpoint(site.id)
    assert (document["DATA_TYPE"], document["id"], document["display_name"]) == ("endpoint", site.id, "SITE1")
    with pytest.raises(globus_sdk.TransferAPIError) as missing:
        tc.get_endpoint("emulator#SITE1")
    assert (missing.value.http_status, missing.value.code) == (404, "EndpointNotFound")


def test_create_gcp_endpoint_returns_a_setup_key_and_delete_removes_it(tc: globus_sdk.TransferClient) -> None:
    created = tc.post(
        "/v0.10/endpoint",
        data={
            "DATA_TYPE": "endpoint",
            "display_name": "pilot-wn-42",
            "is_globus_connect": True,
            "description": "a job",
        },
    )
    assert created.http_status == 201
    assert created["DATA_TYPE"] == "endpoint_create_result"
    assert created["code"] == "Created"
    assert created["globus_connect_setup_key"]
    document = tc.get_endpoint(created["id"])
    assert document["is_globus_connect"] is True
    assert document["globus_connect_setup_key"] == created["globus_connect_setup_key"]
    assert document["gcp_connected"] is False
    assert document["entity_type"] == "GCP_mapped_collection"
    deleted = tc.delete_endpoint(created["id"])
    assert deleted["code"] == "Deleted"
    with pytest.raises(globus_sdk.TransferAPIError) as gone:
        tc.get_endpoint(created["id"])
    assert gone.value.http_status == 404


def test_only_personal_endpoints_can_be_created(tc: globus_sdk.TransferClient) -> None:
    with pytest.raises(globus_sdk.TransferAPIError) as refused:
        tc.post("/v0.10/endpoint", data={"DATA_TYPE": "endpoint", "display_name": "server"})
    assert refused.value.http_status == 400


def test_someone_elses_endpoint_cannot_be_deleted(globus: LocalGlobus, tc: globus_sdk.TransferClient) -> None:
    with pytest.raises(globus_sdk.TransferAPIError) as refused:
        tc.delete_endpoint(globus.endpoints["SITE1"].id)
    assert refused.value.http_status == 403


def test_ls_lists_the_mapped_directory(globus: LocalGlobus, tc: globus_sdk.TransferClient) -> None:
    site = globus.endpoints["SITE1"]
    write_bytes(site.directory / "data" / "b.root", 10)
    write_bytes(site.directory / "data" / "a.root", 20)
    write_bytes(site.directory / "data" / ".hidden", 1)
    (site.directory / "data" / "sub").mkdir()
    listing = tc.operation_ls(site.id, path="/data")
    assert listing["DATA_TYPE"] == "file_list"
    assert listing["path"] == "/data/"
    assert [(f["name"], f["type"]) for f in listing] == [
        (".hidden", "file"),
        ("a.root", "file"),
        ("b.root", "file"),
        ("sub", "dir"),
    ]
    assert {f["name"]: f["size"] for f in listing}["a.root"] == 20
    assert [f["name"] for f in tc.operation_ls(site.id, path="/data", show_hidden=False)] == ["a.root", "b.root", "sub"]
    page = tc.operation_ls(site.id, path="/data", show_hidden=False, limit=1, offset=1)
    assert [f["name"] for f in page] == ["b.root"]
    assert page["total"] == 3
    assert [f["name"] for f in tc.operation_ls(site.id, path="/data", filter="type:dir")] == ["sub"]
    assert [f["name"] for f in tc.operation_ls(site.id, path="/~/")] == ["data"]


def test_ls_errors_are_the_services(globus: LocalGlobus, tc: globus_sdk.TransferClient) -> None:
    site = globus.endpoints["SITE1"]
    write_bytes(site.directory / "file", 1)
    with pytest.raises(globus_sdk.TransferAPIError) as missing:
        tc.operation_ls(site.id, path="/nowhere")
    assert (missing.value.http_status, missing.value.code) == (404, "ClientError.NotFound")
    with pytest.raises(globus_sdk.TransferAPIError) as not_dir:
        tc.operation_ls(site.id, path="/file")
    assert (not_dir.value.http_status, not_dir.value.code) == (502, "ExternalError.DirListingFailed.NotDirectory")
    with pytest.raises(globus_sdk.TransferAPIError) as escape:
        tc.operation_ls(site.id, path="/../../..")
    assert escape.value.http_status == 403


def test_mkdir_and_rename(globus: LocalGlobus, tc: globus_sdk.TransferClient) -> None:
    site = globus.endpoints["SITE1"]
    made = tc.operation_mkdir(site.id, "/results")
    assert (made["DATA_TYPE"], made["code"]) == ("mkdir_result", "DirectoryCreated")
    assert (site.directory / "results").is_dir()
    with pytest.raises(globus_sdk.TransferAPIError) as exists:
        tc.operation_mkdir(site.id, "/results")
    assert (exists.value.http_status, exists.value.code) == (502, "ExternalError.MkdirFailed.Exists")
    data = write_bytes(site.directory / "results" / "out.tmp", 100)
    renamed = tc.operation_rename(site.id, "/results/out.tmp", "/results/out.root")
    assert renamed["code"] == "FileRenamed"
    assert (site.directory / "results" / "out.root").read_bytes() == data
    assert not (site.directory / "results" / "out.tmp").exists()
    with pytest.raises(globus_sdk.TransferAPIError) as missing:
        tc.operation_rename(site.id, "/results/out.tmp", "/results/again")
    assert missing.value.http_status == 404


def test_injected_permission_denied_applies_to_file_operations(
    globus: LocalGlobus, tc: globus_sdk.TransferClient
) -> None:
    site = globus.endpoints["SITE1"]
    (site.directory / "locked").mkdir()
    globus.emulator.deny_permission("/locked*", endpoint="SITE1")
    with pytest.raises(globus_sdk.TransferAPIError) as refused:
        tc.operation_ls(site.id, path="/locked")
    assert (refused.value.http_status, refused.value.code) == (403, "EndpointPermissionDenied")
    with pytest.raises(globus_sdk.TransferAPIError):
        tc.operation_mkdir(site.id, "/locked/sub")


def test_an_offline_endpoint_refuses_file_operations(globus: LocalGlobus, tc: globus_sdk.TransferClient) -> None:
    site = globus.endpoints["SITE1"]
    outage = globus.emulator.take_offline("SITE1")
    with pytest.raises(globus_sdk.TransferAPIError) as refused:
        tc.operation_ls(site.id, path="/")
    assert (refused.value.http_status, refused.value.code) == (502, "ExternalError.DirListingFailed.ConnectFailed")
    globus.emulator.remove_fault(outage)
    assert list(tc.operation_ls(site.id, path="/")) == []
