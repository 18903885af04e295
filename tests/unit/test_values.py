"""Locations and checksums: parsing, rendering, normalisation."""

from __future__ import annotations

import inspect
import zlib

import pytest

from pilot_movers import values
from pilot_movers.checksums import Checksum, StreamingDigest, file_checksum
from pilot_movers.errors import UnknownChecksumType
from pilot_movers.globus.locations import ENDPOINT_PATH
from pilot_movers.values import Location, LocationForm
from pilot_movers.xrootd.locations import ROOT_URL


@pytest.mark.parametrize(
    ("text", "scheme", "netloc", "path", "url"),
    [
        ("gsiftp://host:2811/data/f", "gsiftp", "host:2811", "/data/f", "gsiftp://host:2811/data/f"),
        ("root://host:1094//data/f", "root", "host:1094", "/data/f", "root://host:1094//data/f"),
        ("root://host:1094/data/f", "root", "host:1094", "/data/f", "root://host:1094//data/f"),
        ("davs://host:8443/data/f", "davs", "host:8443", "/data/f", "davs://host:8443/data/f"),
        ("file:///data/f", "file", "", "/data/f", "file:///data/f"),
        ("/data/f", "file", "", "/data/f", "file:///data/f"),
        ("mxp#MXP_BNL_TEST:/direct/f", "globus", "mxp#MXP_BNL_TEST", "/direct/f", "mxp#MXP_BNL_TEST:/direct/f"),
        (
            "ddb59aef-6d04-11e5-ba46-22000b92c6ec:/~/f",
            "globus",
            "ddb59aef-6d04-11e5-ba46-22000b92c6ec",
            "/~/f",
            "ddb59aef-6d04-11e5-ba46-22000b92c6ec:/~/f",
        ),
    ],
)
def test_locations_parse_and_render(text, scheme, netloc, path, url):
    location = Location.parse(text)
    assert (location.scheme, location.netloc, location.path) == (scheme, netloc, path)
    assert location.url == url
    assert Location.parse(location.url) == location


@pytest.mark.parametrize("text", ["relative/path", "gsiftp:///nohost", "root://h//f?x=1", "EP:relative"])
def test_bad_locations_are_refused(text):
    with pytest.raises(ValueError):
        Location.parse(text)


def test_how_a_transport_writes_its_locations_is_the_transports_not_the_cores():
    """XRootD's double slash and Globus's ``ENDPOINT:/path`` come from the entry points the
    movers' distribution declares; values.py names neither."""
    forms = values.location_forms()
    assert {scheme: forms[scheme] for scheme in ("root", "xroot", "roots", "globus")} == {
        "root": ROOT_URL,
        "xroot": ROOT_URL,
        "roots": ROOT_URL,
        "globus": ENDPOINT_PATH,
    }
    core = inspect.getsource(values)
    assert '"root"' not in core and "xroot" not in core and "[^:/" not in core


class _Teleport(LocationForm):
    """A third party's form: ``teleport://host/~path`` keeps its path after a tilde."""

    def path_from_url(self, path):
        return "/" + path[2:] if path.startswith("/~") else path

    def url(self, location):
        return f"teleport://{location.netloc}/~{location.path[1:]}"


def test_a_third_party_distribution_adds_a_form(monkeypatch):
    installed = values.location_forms()
    monkeypatch.setattr(values, "location_forms", lambda: {**installed, "teleport": _Teleport()})
    location = Location.parse("teleport://pad:7/~deck/a.dat")
    assert (location.path, location.url, location.server) == (
        "/deck/a.dat",
        "teleport://pad:7/~deck/a.dat",
        "teleport://pad:7",
    )
    assert Location.parse("root://se:1094//a").url == "root://se:1094//a"


def test_a_broken_form_leaves_every_other_location_as_it_was(monkeypatch, caplog):
    """Review: a third party's form whose module is gone made every Location raise."""
    installed = list(values.metadata.entry_points(group=values.LOCATION_FORMS_GROUP))
    broken = values.metadata.EntryPoint("tele", "no_such_module_for_pilot_movers:FORM", values.LOCATION_FORMS_GROUP)
    monkeypatch.setattr(values.metadata, "entry_points", lambda group: [broken, *installed])
    values.location_forms.cache_clear()
    try:
        assert Location.parse("/tmp/a").url == "file:///tmp/a"
        assert Location.parse("root://se:1094//a").url == "root://se:1094//a"
        assert Location.parse("tele://pad/a").url == "tele://pad/a"
        assert "location form tele = no_such_module_for_pilot_movers:FORM cannot be loaded" in caplog.text
    finally:
        monkeypatch.undo()
        values.location_forms.cache_clear()


def test_join_and_sibling():
    base = Location.parse("root://h:1//data/")
    assert base.join("f").url == "root://h:1//data/f"
    assert base.join("f").sibling("g").url == "root://h:1//data/g"
    assert base.join("f").name == "f"


@pytest.mark.parametrize(
    ("text", "algorithm", "value"),
    [
        ("adler32:9600001", "adler32", "09600001"),
        ("AD:0A1B2C3D", "adler32", "0a1b2c3d"),
        ("ad32:0x1", "adler32", "00000001"),
        ("md5:D41D8CD98F00B204E9800998ECF8427E", "md5", "d41d8cd98f00b204e9800998ecf8427e"),
    ],
)
def test_checksums_are_normalised(text, algorithm, value):
    checksum = Checksum.parse(text)
    assert (checksum.algorithm, checksum.value) == (algorithm, value)
    assert checksum == Checksum(algorithm, value)


@pytest.mark.parametrize("text", ["adler32:xyz", "adler32:123456789", "md5:abc:", "noalgorithm"])
def test_bad_checksum_values_are_refused(text):
    with pytest.raises(ValueError):
        Checksum.parse(text)


def test_unknown_algorithm_has_its_own_code():
    with pytest.raises(UnknownChecksumType) as caught:
        Checksum("sha1", "00")
    assert caught.value.code == 1314


def test_streaming_digest_matches_zlib_and_file_checksum(tmp_path):
    data = bytes(range(256)) * 4099
    path = tmp_path / "f"
    path.write_bytes(data)
    digest = StreamingDigest(["adler32", "md5"])
    for i in range(0, len(data), 1000):
        digest.update(data[i : i + 1000])
    assert digest.checksum("adler32") == Checksum.adler32_of_int(zlib.adler32(data))
    assert file_checksum(path) == digest.checksum("adler32")
    assert file_checksum(path, "md5") == digest.checksum("md5")
    assert file_checksum(path, "ad") == digest.checksum("adler32")


def test_adler32_of_empty_input_keeps_leading_zeros():
    assert StreamingDigest().checksum("adler32").value == "00000001"
