"""What a DataHost client and the DataHost server agree on, in one place: the server
(``datahost_server``, a distribution of its own) imports it from here.

The protocol is the 2010 design's: multipart uploads to ``transmit/`` (field ``file2xmit``),
downloads from ``receive/NAME``, JSON answers; pilots authenticate with X.509 proxies, people
with a password. docs/datahost.md describes it.
"""

from __future__ import annotations

import re

#: Every endpoint lives under this path.
ROOT = "/datahost/"
LOGIN = ROOT + "login/"
LOGOUT = ROOT + "logout/"
WHOAMI = ROOT + "whoami/"
LIST = ROOT + "list/"
TRANSMIT = ROOT + "transmit/"
RECEIVE = ROOT + "receive/"
DELETE = ROOT + "delete/"
RENAME = ROOT + "rename/"
HISTORY = ROOT + "history/"
PULL = ROOT + "pull/"
PULLS = ROOT + "pulls/"

#: The upload's form field (the 2010 clients' name).
FILE_FIELD = "file2xmit"
#: A client names itself with this header; certificate-authenticated writes must carry it.
CLIENT_HEADER = "X-DataHost-Client"
#: An upload's size, announced before its body (or ``?size=``).
SIZE_HEADER = "X-DataHost-Size"
#: An upload's declared checksum, ``adler32:<8 hex digits>``: the server refuses a body that is not it.
CHECKSUM_HEADER = "X-DataHost-Checksum"
#: Set on every download and upload answer; Apache logs it beside the bytes it sent.
TRANSFER_HEADER = "X-DataHost-Transfer"

#: A file name users may store: letters, digits and ``._+=,@%-``, not starting with ``.``
#: (no hidden files, no path), at most 255 characters.
FILE_NAME = re.compile(r"^[A-Za-z0-9_+=,@%-][A-Za-z0-9._+=,@%-]{0,254}$")
FILE_NAME_RULE = "letters, digits and ._+=,@%- only, at most 255 characters, not starting with '.'"


def is_file_name(name: str) -> bool:
    """Whether a DataHost stores a file under ``name``."""
    return bool(FILE_NAME.match(name or ""))


def meta_key(header: str) -> str:
    """The WSGI environ key of a request header (``X-DataHost-Size`` -> ``HTTP_X_DATAHOST_SIZE``)."""
    return "HTTP_" + header.upper().replace("-", "_")
