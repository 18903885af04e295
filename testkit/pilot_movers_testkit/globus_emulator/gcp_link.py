"""How the stand-in ``globusconnectpersonal`` talks to the emulator (the real one talks to Globus's
relay): redeem a setup key, send heartbeats, say goodbye. Plain ``urllib``, so the stand-in needs
neither Flask nor requests.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any, Mapping, Optional

EMULATOR_URL_ENV = "GLOBUS_EMULATOR_URL"
"""Where the stand-in finds the emulator; ``GLOBUS_SDK_SERVICE_URL_TRANSFER`` is the fallback."""
FALLBACK_URL_ENV = "GLOBUS_SDK_SERVICE_URL_TRANSFER"


class LinkError(Exception):
    """The emulator could not be reached, or refused (``status`` is its HTTP status, 0 if none)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def emulator_url(environ: Mapping[str, str] = os.environ, saved: Optional[str] = None) -> Optional[str]:
    """The emulator's root URL from the environment, else the one saved at setup."""
    url = environ.get(EMULATOR_URL_ENV) or environ.get(FALLBACK_URL_ENV) or saved
    return url.rstrip("/") + "/" if url else None


class EmulatorLink:
    """Calls to the emulator's ``/_emulator/gcp/...`` routes."""

    def __init__(self, base_url: str, timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.timeout = timeout

    def _post(self, route: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{self.base_url}_emulator/gcp/{route}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                reply: dict[str, Any] = json.loads(response.read() or b"{}")
                return reply
        except urllib.error.HTTPError as error:
            try:
                message = json.loads(error.read()).get("message", error.reason)
            except ValueError:
                message = error.reason
            raise LinkError(str(message), error.code) from None
        except (urllib.error.URLError, OSError) as error:
            raise LinkError(f"cannot reach the Globus emulator at {self.base_url}: {error}") from None

    def setup(self, setup_key: str) -> dict[str, Any]:
        return self._post("setup", {"setup_key": setup_key})

    def heartbeat(
        self, endpoint_id: str, credential: str, *, home: str, restrict_paths: list[tuple[str, bool]]
    ) -> dict[str, Any]:
        body = {"endpoint_id": endpoint_id, "credential": credential, "home": home, "restrict_paths": restrict_paths}
        return self._post("heartbeat", body)

    def disconnect(self, endpoint_id: str, credential: str) -> None:
        self._post("disconnect", {"endpoint_id": endpoint_id, "credential": credential})
