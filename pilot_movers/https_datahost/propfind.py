"""WebDAV PROPFIND answers (207 Multi-Status) read into file sizes and kinds, without a server.

Each ``<D:response>`` names a resource (``<D:href>``, a path or a full URL, percent-encoded) and
its properties: ``getcontentlength``, and ``resourcetype`` holding ``<D:collection/>`` for a
directory (LCGDM servers and XrdHttp also send ``iscollection``). Elements are matched by their
namespace and local name, whatever prefixes the server chose.
"""

from __future__ import annotations

import posixpath
from typing import Optional
from urllib.parse import unquote, urlsplit
from xml.etree import ElementTree

from pilot_movers.engine.contract import FileStat

DAV = "{DAV:}"
#: PROPFIND body asking only for what a stat needs.
STAT_REQUEST = (
    b'<?xml version="1.0" encoding="utf-8"?>'
    b'<D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/><D:getcontentlength/></D:prop></D:propfind>'
)


class BadMultiStatus(ValueError):
    """The answer is not a Multi-Status document."""


def parse_multistatus(body: bytes) -> dict[str, Optional[FileStat]]:
    """Path (decoded, without a trailing slash) -> its FileStat, or None when the server says
    that resource is missing (a per-resource 404)."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as exc:
        raise BadMultiStatus(f"not XML: {exc}") from None
    if root.tag != f"{DAV}multistatus":
        raise BadMultiStatus(f"expected DAV:multistatus, got {root.tag}")
    found: dict[str, Optional[FileStat]] = {}
    for response in root.iter(f"{DAV}response"):
        href = response.findtext(f"{DAV}href")
        if not href:
            continue
        path = normal_path(href)
        status = response.findtext(f"{DAV}status") or ""
        ok_props = [
            propstat.find(f"{DAV}prop")
            for propstat in response.iter(f"{DAV}propstat")
            if _is_ok(propstat.findtext(f"{DAV}status") or "HTTP/1.1 200 OK")
        ]
        props = [p for p in ok_props if p is not None]
        if not props or (status and not _is_ok(status)):
            found[path] = None
            continue
        found[path] = _stat(props)
    return found


def normal_path(href: str) -> str:
    """An href (``/a/b%20c/``, ``https://host/a/b``) as a decoded path without trailing slash."""
    path = unquote(urlsplit(href).path if "://" in href else href)
    path = posixpath.normpath(path) if path else "/"
    return "/" if path in ("", ".", "//") else path


def _is_ok(status_line: str) -> bool:
    parts = status_line.split()
    return len(parts) >= 2 and parts[1].startswith("2")


def _stat(props: list[ElementTree.Element]) -> FileStat:
    size = 0
    is_dir = False
    for prop in props:
        length = prop.findtext(f"{DAV}getcontentlength")
        if length and length.strip().isdigit():
            size = int(length.strip())
        kind = prop.find(f"{DAV}resourcetype")
        if kind is not None and kind.find(f"{DAV}collection") is not None:
            is_dir = True
        if (prop.findtext(f"{DAV}iscollection") or "").strip() in ("1", "true"):
            is_dir = True
    return FileStat(size, is_dir)
