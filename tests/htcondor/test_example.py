"""examples/htcondor: the submit file's URLs are all the plugin's schemes and parse as the plugin
parses them; its +attributes are well-formed ClassAd expressions the plugin reads; the config
line names the plugin."""

from __future__ import annotations

import re
from pathlib import Path

import classad2

from pilot_movers.errors import Phase
from pilot_movers.integrations.htcondor.file_requests import file_request
from pilot_movers.integrations.htcondor.job_ad import CHECKSUMS_ATTRIBUTE, QUEUE_CONFIG_ATTRIBUTE, parse_checksums
from pilot_movers.integrations.htcondor.plugin import supported_methods

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "htcondor"


def submit_commands(path: Path) -> dict[str, str]:
    commands = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or line == "queue":
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not a submit command: {line!r}"
        commands[key.strip()] = value.strip()
    return commands


def test_the_submit_files_urls_are_the_plugins_and_its_attributes_well_formed():
    commands = submit_commands(EXAMPLES / "stage-in-datahost-out-gridftp.sub")
    methods = set(supported_methods())
    inputs = [url.strip() for url in commands["transfer_input_files"].split(",")]
    assert len(inputs) == 2
    for url in inputs:
        request = file_request(classad2.ClassAd({"Url": url, "LocalFileName": "/sandbox/x"}), Phase.STAGE_IN)
        assert request.error is None, request.error
        assert request.scheme in methods, (url, methods)
    destination = commands["output_destination"]
    upload = file_request(
        classad2.ClassAd({"Url": destination + "hist.root", "LocalFileName": "/sb/h"}), Phase.STAGE_OUT
    )
    assert upload.error is None and upload.scheme in methods
    attributes = {key[1:]: value for key, value in commands.items() if key.startswith("+")}
    assert set(attributes) == {CHECKSUMS_ATTRIBUTE, QUEUE_CONFIG_ATTRIBUTE}
    ad = classad2.ClassAd({name: classad2.ExprTree(text) for name, text in attributes.items()})
    assert parse_checksums(ad.eval(CHECKSUMS_ATTRIBUTE))  # a string of NAME=ALGORITHM:VALUE
    assert ad.eval(QUEUE_CONFIG_ATTRIBUTE).startswith("/")


def test_the_config_lists_the_plugin_under_a_name_htcondor_maps_to_pilot_movers():
    text = (EXAMPLES / "condor_config.pilot-movers").read_text()
    (line,) = [line for line in text.splitlines() if line.startswith("FILETRANSFER_PLUGINS")]
    assert re.fullmatch(r"FILETRANSFER_PLUGINS = \$\(FILETRANSFER_PLUGINS\), /\S+/pilot_movers_plugin", line)
