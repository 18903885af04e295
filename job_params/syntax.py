"""The two token syntaxes as data: which token fills which JobParams field, and how."""

from __future__ import annotations

from typing import NamedTuple


class Field(NamedTuple):
    attribute: str
    kind: str
    """``text``, ``mode``, ``files`` (comma list of names), ``endpoint``,
    ``globus`` (comma list of ENDPOINT:/path), ``globus-file`` (same, each naming a file),
    ``checksums`` (comma list of ALGORITHM:VALUE), ``sizes`` (comma list of byte counts)."""


#: key=value tokens, in the order ``format`` writes them.
KEYS: dict[str, Field] = {
    "globus-user": Field("globus_user", "text"),
    "globus-endpoint-in": Field("endpoint_in", "endpoint"),
    "globus-endpoint-local": Field("endpoint_local", "endpoint"),
    "globus-endpoint-out": Field("endpoint_out", "endpoint"),
    "in-mode": Field("in_mode", "mode"),
    "dir-in": Field("dir_in", "text"),
    "files-in": Field("files_in", "files"),
    "checksums-in": Field("checksums_in", "checksums"),
    "sizes-in": Field("sizes_in", "sizes"),
    "out-mode": Field("out_mode", "mode"),
    "dir-out": Field("dir_out", "text"),
    "files-out": Field("files_out", "files"),
    "files-log": Field("files_log", "files"),
    "myproxy-server": Field("myproxy_server", "text"),
}

#: sendJob flags (``--Flag=value`` or ``--Flag value``), repeatable, in ``format`` order.
FLAGS: dict[str, Field] = {
    "--StageinGOsrc": Field("stagein_sources", "globus-file"),
    "--StageinGOdest": Field("stagein_destinations", "globus"),
    "--StageoutGOsrc": Field("stageout_sources", "globus-file"),
    "--StageoutGOdest": Field("stageout_destinations", "globus"),
    "--OutputGO": Field("output_destinations", "globus"),
    "--WorkingendpointGO": Field("working_endpoint", "endpoint"),
    "--Data": Field("data", "files"),
}

LIST_KINDS = ("files", "globus", "globus-file", "checksums", "sizes")
