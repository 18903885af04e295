"""What the job ad (``$_CONDOR_JOB_AD``, written by the starter) says to the plugin:

``PilotMoversQueueConfig``: the queue config (movers, ``[transfer]`` retries and clocks, mover
options) for this job, a path on the node; else ``$PILOT_MOVERS_QUEUE_CONFIG``; else the
defaults. ``PilotMoversChecksums``: expected checksums by file name,
``"calib.dat=adler32:0a1b2c3d f.root=md5:..."`` (spaces or commas between entries).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Mapping, Optional

from pilot_movers.checksums import Checksum
from pilot_movers.errors import BadJobParameters, ConfigurationError, MoverError
from pilot_movers.integrations.htcondor.classads import classad_module

QUEUE_CONFIG_ATTRIBUTE = "PilotMoversQueueConfig"
CHECKSUMS_ATTRIBUTE = "PilotMoversChecksums"
QUEUE_CONFIG_VARIABLE = "PILOT_MOVERS_QUEUE_CONFIG"


@dataclass(frozen=True)
class JobAdSettings:
    queue_config: Optional[str] = None
    checksums: Mapping[str, Checksum] = field(default_factory=dict)


def job_ad_settings(environ: Mapping[str, str]) -> JobAdSettings:
    """The plugin's settings from the job ad and the environment (none: the defaults)."""
    path = environ.get("_CONDOR_JOB_AD")
    attributes: Mapping[str, object] = {}
    if path and os.path.isfile(path):
        classad = classad_module()
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
        try:
            attributes = classad.parseOne(text, classad.ParserType.Old)
        except (ValueError, RuntimeError) as exc:  # what the binding raises for bad text
            raise ConfigurationError(f"{path}: the job ad cannot be parsed ({exc})") from None
    queue = attributes.get(QUEUE_CONFIG_ATTRIBUTE) or environ.get(QUEUE_CONFIG_VARIABLE) or None
    if queue is not None and not isinstance(queue, str):
        raise ConfigurationError(f"the job ad's {QUEUE_CONFIG_ATTRIBUTE} must be a string (a path)")
    listed = attributes.get(CHECKSUMS_ATTRIBUTE)
    if listed is not None and not isinstance(listed, str):
        raise BadJobParameters(f"the job ad's {CHECKSUMS_ATTRIBUTE} must be a string: NAME=ALGORITHM:VALUE ...")
    return JobAdSettings(queue, parse_checksums(listed or ""))


def parse_checksums(text: str) -> dict[str, Checksum]:
    """``"a.dat=adler32:0a1b2c3d, b.dat=md5:..."`` -> {name: Checksum}."""
    found = {}
    for entry in re.split(r"[\s,]+", text.strip()):
        if not entry:
            continue
        name, sep, value = entry.partition("=")
        try:
            if not sep or not name:
                raise ValueError("write NAME=ALGORITHM:VALUE")
            found[name] = Checksum.parse(value)
        except (ValueError, MoverError) as exc:
            raise BadJobParameters(f"{CHECKSUMS_ATTRIBUTE}: {entry!r}: {exc}") from None
    return found
