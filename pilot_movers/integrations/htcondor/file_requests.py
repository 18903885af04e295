"""What one input ad asks for: a URL (with HTCondor's credential prefix and our checksum
suffix) and a local file, turned into a ``FileSpec`` for the engine.

    scitokens+https://se.example.org/data/f.root#adler32=0a1b2c3d
    ^^^^^^^^^ the token $_CONDOR_CREDS/scitokens.use      ^^^^^^^^^^^^^^^^ the expected checksum

The suffix is a URL fragment (never sent to a server): ``#adler32=HEX``, ``#md5=HEX``, or both
joined by ``&``. The URL in the result ad is the one of the input ad, suffix and prefix included.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from pilot_movers.checksums import Checksum, normalise_algorithm
from pilot_movers.errors import BadJobParameters, MoverError, Phase
from pilot_movers.values import FileSpec, Location, Role


@dataclass(frozen=True)
class FileRequest:
    """One file ad: ``url`` and ``local`` as HTCondor wrote them; ``spec`` what the engine moves
    (None when the ad cannot be moved: then ``error`` says why); ``credential``: the
    ``$_CONDOR_CREDS`` service named by the URL's scheme prefix."""

    url: str
    local: str
    spec: Optional[FileSpec] = None
    credential: Optional[str] = None
    error: Optional[MoverError] = None

    @property
    def remote(self) -> Optional[Location]:
        if self.spec is None:
            return None
        return self.spec.destination if self.spec.role is Role.OUTPUT else self.spec.source

    @property
    def scheme(self) -> str:
        """The URL's base scheme (``https`` for ``scitokens+https://``), as HTCondor names it."""
        head = self.url.partition("://")[0]
        return head.rpartition("+")[2].lower()


def is_file_ad(ad: Mapping[str, Any]) -> bool:
    """A file ad has ``Url`` and ``LocalFileName``; protocol 4's other ads have neither."""
    return ad.get("Url") is not None and ad.get("LocalFileName") is not None


def file_request(
    ad: Mapping[str, Any], phase: Phase, checksums: Optional[Mapping[str, Checksum]] = None
) -> FileRequest:
    """The request of one file ad; an unusable one carries its error instead of a spec."""
    url, local = str(ad.get("Url")), str(ad.get("LocalFileName"))
    try:
        return _parsed(url, local, phase, checksums or {})
    except MoverError as exc:
        return FileRequest(url, local, error=exc.bind(phase=phase, file=os.path.basename(local)))


def _parsed(url: str, local: str, phase: Phase, checksums: Mapping[str, Checksum]) -> FileRequest:
    if "://" not in url:
        raise BadJobParameters(f"{url!r} is not a URL")
    head, _, rest = url.partition("://")
    service, plus, scheme = head.rpartition("+")
    rest, _, fragment = rest.partition("#")
    try:
        remote = Location.parse(f"{scheme.lower()}://{rest}")
    except ValueError as exc:
        raise BadJobParameters(str(exc)) from None
    if not local:
        raise BadJobParameters(f"{url}: the ad gives no LocalFileName")
    here = Location.local(os.path.abspath(local))
    checksum = _fragment_checksum(url, fragment) or checksums.get(remote.name) or checksums.get(here.name)
    name = here.name
    if phase is Phase.STAGE_OUT:
        spec = FileSpec(name=name, source=here, destination=remote, role=Role.OUTPUT, checksum=checksum)
    else:
        spec = FileSpec(name=name, source=remote, destination=here, role=Role.INPUT, checksum=checksum)
    return FileRequest(url, local, spec, service if plus else None)


def _fragment_checksum(url: str, fragment: str) -> Optional[Checksum]:
    """The checksum a ``#adler32=HEX`` suffix gives (adler32 first when both are there)."""
    if not fragment:
        return None
    found = {}
    for item in fragment.split("&"):
        key, sep, value = item.partition("=")
        try:
            if not sep:
                raise ValueError("write #adler32=HEX or #md5=HEX")
            algorithm = normalise_algorithm(key)
            found[algorithm] = Checksum(algorithm, value)
        except (ValueError, MoverError) as exc:
            message = exc.message if isinstance(exc, MoverError) else str(exc)
            raise BadJobParameters(f"{url}: the checksum suffix #{item}: {message}") from None
    return found.get("adler32") or found.get("md5")
