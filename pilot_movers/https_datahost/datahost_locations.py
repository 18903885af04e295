"""``datahost://HOST[:PORT]/USER/NAME``: a file on a PanDA DataHost, as job parameters and queue
config name it.

A DataHost keeps one flat directory per user, so the path has exactly two parts: the account
(``USER``, the DataHost user the job's proxy maps to; the mover checks that it does) and the file
name. Job parameters give the directory, ``dir-in=datahost://dh.example.org:8443/alice/``, or a
queue names the host, ``se = datahost://dh.example.org:8443/`` with ``dir-in=alice``. The port
defaults to 443. The server itself is reached over HTTPS: the scheme only picks the protocol.
"""

from __future__ import annotations

from dataclasses import dataclass

from pilot_movers.errors import BadJobParameters
from pilot_movers.https_datahost.protocol import FILE_NAME_RULE, is_file_name
from pilot_movers.values import Location

SCHEME = "datahost"


@dataclass(frozen=True)
class DataHostFile:
    """One file on one DataHost: ``address`` (``host:port``), ``user``, ``name``."""

    address: str
    user: str
    name: str


def datahost_file(location: Location) -> DataHostFile:
    """The DataHost file a ``datahost://`` location names; BadJobParameters (naming the URL and
    the form expected) for anything else."""
    parts = [part for part in location.path.split("/") if part]
    if location.scheme != SCHEME or not location.netloc or len(parts) != 2:
        raise BadJobParameters(
            f"{location.url} is not a DataHost file: write datahost://HOST[:PORT]/USER/NAME "
            "(one flat directory per user)"
        )
    user, name = parts
    if not is_file_name(name):
        raise BadJobParameters(f"{location.url}: a DataHost file name has {FILE_NAME_RULE}")
    return DataHostFile(_address(location), user, name)


def datahost_user_dir(location: Location) -> DataHostFile:
    """The user's directory a ``datahost://HOST[:PORT]/USER/`` location names (``name`` empty)."""
    parts = [part for part in location.path.split("/") if part]
    if location.scheme != SCHEME or not location.netloc or len(parts) != 1:
        raise BadJobParameters(f"{location.url} is not a DataHost user's directory: write datahost://HOST[:PORT]/USER/")
    return DataHostFile(_address(location), parts[0], "")


def _address(location: Location) -> str:
    host = location.netloc.rpartition("@")[2]
    return host if ":" in host.rsplit("]", 1)[-1] else f"{host}:443"
