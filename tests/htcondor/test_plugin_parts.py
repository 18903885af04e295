"""The plugin's parts with no server: an input ad's URL (credential prefix, checksum suffix), a
token from $_CONDOR_CREDS, our errors as TransferErrorData, the pre-allocated output file."""

from __future__ import annotations

import json

import classad2
import pytest

from pilot_movers.checksums import Checksum
from pilot_movers.credentials.bundle import Credentials
from pilot_movers.errors import (
    AuthenticationFailed,
    BadJobParameters,
    ChecksumMismatch,
    CredentialError,
    Phase,
    ServiceUnavailable,
    SourceNotFound,
    TransferStalled,
)
from pilot_movers.integrations.htcondor.classads import write_ads
from pilot_movers.integrations.htcondor.condor_creds import with_service_token
from pilot_movers.integrations.htcondor.error_data import error_data
from pilot_movers.integrations.htcondor.file_requests import file_request
from pilot_movers.integrations.htcondor.job_ad import parse_checksums
from pilot_movers.values import Role


def test_a_credential_prefix_and_a_checksum_suffix_are_taken_off_the_url():
    # attribute names are case-insensitive in a ClassAd: "url" is HTCondor's "Url"
    ad = classad2.ClassAd(
        {"url": "scitokens+davs://se.example.org:2880/data/f.root#adler32=a1b2c3d", "LocalFileName": "/sb/f.root"}
    )
    request = file_request(ad, Phase.STAGE_IN)
    assert request.error is None and request.credential == "scitokens" and request.scheme == "davs"
    assert request.spec.source.url == "davs://se.example.org:2880/data/f.root"
    assert request.spec.checksum == Checksum("adler32", "0a1b2c3d") and request.spec.role is Role.INPUT
    up = file_request({"Url": "gsiftp://se/out/h.root", "LocalFileName": "/sb/h.root"}, Phase.STAGE_OUT)
    assert up.credential is None and up.spec.destination.url == "gsiftp://se/out/h.root"


def test_a_job_ad_checksum_applies_by_name_and_the_suffix_wins():
    checksums = parse_checksums("f.root=adler32:00000001, g.root=md5:" + "0" * 32)
    by_name = file_request({"Url": "root://se//d/f.root", "LocalFileName": "/sb/f.root"}, Phase.STAGE_IN, checksums)
    assert by_name.spec.checksum == Checksum("adler32", "00000001")
    suffix = file_request(
        {"Url": "root://se//d/f.root#adler32=2", "LocalFileName": "/sb/f.root"}, Phase.STAGE_IN, checksums
    )
    assert suffix.spec.checksum == Checksum("adler32", "00000002")
    with pytest.raises(BadJobParameters, match="PilotMoversChecksums"):
        parse_checksums("f.root=crc99:1")


def test_a_bad_suffix_is_the_files_own_parameter_error():
    request = file_request({"Url": "root://se//d/f#sha1=00", "LocalFileName": "/sb/f"}, Phase.STAGE_IN)
    assert request.spec is None and isinstance(request.error, BadJobParameters)
    assert "#sha1=00" in request.error.message
    assert error_data(request.error)["ErrorType"] == "Parameter"


def test_a_condor_creds_token_plain_or_json(tmp_path):
    (tmp_path / "scitokens.use").write_text("plain-token\n")
    (tmp_path / "my_analysis.use").write_text(json.dumps({"access_token": "json-token", "expires_in": 60}))
    (tmp_path / "pretty.use").write_text(json.dumps({"expires_in": 60, "access_token": "pretty-token"}, indent=2))
    env = {"_CONDOR_CREDS": str(tmp_path)}
    assert with_service_token(Credentials(), "pretty", env).bearer_token == "pretty-token"  # over several lines
    assert with_service_token(Credentials(), "scitokens", env).bearer_token == "plain-token"
    assert with_service_token(Credentials(), "my.analysis", env).bearer_token == "json-token"
    with pytest.raises(CredentialError, match=r"nothing\.use") as missing:
        with_service_token(Credentials(), "nothing", env)
    assert "token" not in missing.value.message.split("nothing.use")[1]
    with pytest.raises(CredentialError, match=r"\$_CONDOR_CREDS is not set"):
        with_service_token(Credentials(), "scitokens", {})


@pytest.mark.parametrize(
    ("error", "kind", "retryable", "extra"),
    [
        (SourceNotFound("gone", endpoint="root://se", phase=Phase.STAGE_IN), "Specification", -1, {"FailedServer"}),
        (ServiceUnavailable("refused", endpoint="https://se"), "Contact", 0, {"FailedServer"}),
        (AuthenticationFailed("no", endpoint="gsiftp://se"), "Authorization", -1, {"FailureType", "ShouldRefresh"}),
        (ChecksumMismatch("differs", endpoint="gsiftp://se"), "Transfer", -1, {"FailedServer"}),
        (TransferStalled("no bytes", endpoint="gsiftp://se"), "Transfer", 0, {"FailureType"}),
        (BadJobParameters("bad"), "Parameter", -1, {"PluginVersion", "PluginLaunched"}),
    ],
)
def test_errors_become_transfer_error_data(error, kind, retryable, extra):
    entry = error_data(error)
    assert entry["ErrorType"] == kind and entry["Retryable"] == retryable
    assert entry["ErrorCode"] == error.code and error.message in entry["ErrorString"]
    assert extra <= set(entry), entry
    if isinstance(error, TransferStalled):
        assert entry["FailureType"] == "TooSlow"
    parsed = classad2.parseOne(str(classad2.ClassAd({"TransferErrorData": [classad2.ClassAd(entry)]})))
    assert parsed["TransferErrorData"][0]["ErrorType"] == kind


def test_results_overwrite_the_preallocated_file_without_truncating_it(tmp_path):
    out = tmp_path / "out"
    out.write_text(" " * 4096)
    write_ads(str(out), [{"TransferSuccess": True, "TransferUrl": "root://se//a"}, {"TransferSuccess": False}])
    assert out.stat().st_size == 4096
    ads = list(classad2.parseAds(out.read_text(), classad2.ParserType.New))
    assert [ad["TransferSuccess"] for ad in ads] == [True, False]


def test_an_input_file_the_plugin_cannot_read_is_one_sentence_and_an_empty_result(tmp_path):
    """Review: a missing -infile was a traceback and no -outfile at all."""
    import subprocess

    from tests.htcondor.starter import plugin_program

    out = tmp_path / "out"
    done = subprocess.run(
        [plugin_program(), "-infile", str(tmp_path / "missing.in"), "-outfile", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "cannot read the input ClassAds" in done.stderr and out.exists()
