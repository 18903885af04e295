"""How XRootD URLs are written: ``root://host:port//path``, the path after a second slash (a
single slash makes the path relative to the server's export root on some servers). Declared as
entry points (``pilot_movers.locations``) for ``root``, ``xroot`` and ``roots``; imports nothing
of the XRootD client."""

from __future__ import annotations

from pilot_movers.values import Location, LocationForm


class RootUrl(LocationForm):
    def path_from_url(self, path: str) -> str:
        return path[1:] if path.startswith("//") else path

    def url(self, location: Location) -> str:
        return f"{location.scheme}://{location.netloc}/{location.path}"


ROOT_URL = RootUrl()
