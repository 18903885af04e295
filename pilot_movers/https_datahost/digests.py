"""Instance digests (RFC 3230): what a WebDAV server or a DataHost says a file's checksum is.

``Want-Digest: adler32`` asks; ``Digest: adler32=0a1b2c3d`` answers (XrdHttp, dCache, StoRM,
EOS and the DataHost all speak it). adler32 comes as hex; md5 as base64 of the 16 bytes (the
RFC's form), though some servers send hex, which is accepted too.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Iterable, Optional

from pilot_movers.checksums import Checksum

#: RFC 3230 names of the algorithms this library verifies with.
_RFC_NAMES = {"adler32": "adler32", "md5": "md5"}
_HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")


def want_digest(algorithms: Iterable[str]) -> str:
    """The ``Want-Digest`` value asking for ``algorithms``, the first preferred."""
    names = [_RFC_NAMES[a] for a in dict.fromkeys(algorithms) if a in _RFC_NAMES]
    return ", ".join(name if i == 0 else f"{name};q=0.5" for i, name in enumerate(names))


def parse_digest(header: Optional[str]) -> dict[str, Checksum]:
    """``adler32=0a1b2c3d, md5=HUXZLQLMuI/KZ5KDcJPcOA==`` -> checksums by algorithm; values
    that are not well formed are left out."""
    found: dict[str, Checksum] = {}
    for part in (header or "").split(","):
        name, sep, value = part.strip().partition("=")
        algorithm = _RFC_NAMES.get(name.strip().lower())
        value = value.strip()
        if not sep or algorithm is None or not value:
            continue
        checksum = _checksum(algorithm, value)
        if checksum is not None:
            found[algorithm] = checksum
    return found


def _checksum(algorithm: str, value: str) -> Optional[Checksum]:
    if algorithm == "md5" and not _HEX32.match(value):
        try:
            value = base64.b64decode(value, validate=True).hex()
        except (binascii.Error, ValueError):
            return None
    try:
        return Checksum(algorithm, value)
    except ValueError:
        return None
