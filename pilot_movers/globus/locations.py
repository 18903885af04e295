"""How Globus locations are written: ``ENDPOINT:/path``, ENDPOINT a Globus name
(``mxp#MXP_BNL_TEST``) or UUID, with no scheme (sendJob's ``--StageinGOsrc=EP:/path``). Declared
as the ``globus`` entry point of ``pilot_movers.locations``; imports nothing of globus-sdk."""

from __future__ import annotations

import re
from typing import Optional

from pilot_movers.values import GLOBUS, Location, LocationForm

_ENDPOINT_PATH = re.compile(r"^(?P<endpoint>[^:/\s]+):(?P<path>/.*)$")


class EndpointPath(LocationForm):
    def parse_bare(self, text: str) -> Optional[Location]:
        match = _ENDPOINT_PATH.match(text)
        if match is None:
            return None
        return Location(GLOBUS, match.group("endpoint"), match.group("path"))

    def url(self, location: Location) -> str:
        return f"{location.netloc}:{location.path}"

    def server(self, location: Location) -> str:
        return location.netloc


ENDPOINT_PATH = EndpointPath()
