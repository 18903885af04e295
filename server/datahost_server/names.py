"""A storable name for a file whose own name the DataHost refuses (accents, spaces, other
scripts): shown with the refusal, so the person can upload under it or type another."""

from __future__ import annotations

import re
import unicodedata

from pilot_movers.https_datahost.protocol import FILE_NAME

_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9._+=,@%-]+")
FALLBACK = "file"


def suggest_name(name: str) -> str:
    """``données été.txt`` -> ``donnees_ete.txt``: accents dropped, every run of other
    characters one ``_``, no leading dot, at most 255 characters; a name already storable is kept.
    page.js does the same in the browser."""
    if FILE_NAME.match(name):
        return name
    decomposed = unicodedata.normalize("NFKD", name)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    candidate = _NOT_ALLOWED.sub("_", plain).lstrip(".")[:255]
    return candidate if FILE_NAME.match(candidate) else FALLBACK
