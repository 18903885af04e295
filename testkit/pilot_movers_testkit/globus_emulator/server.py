"""Serving the emulator over HTTP with werkzeug's threaded server, in a background thread (tests)
or in the foreground (``python -m pilot_movers_testkit.globus_emulator``). Binds 127.0.0.1 by default.
"""

from __future__ import annotations

import logging
import threading
from typing import Optional

from werkzeug.serving import BaseWSGIServer, make_server

from pilot_movers_testkit.globus_emulator.app import create_app
from pilot_movers_testkit.globus_emulator.service import Emulator

DEFAULT_HOST = "127.0.0.1"


class EmulatorServer:
    """``start()`` serves ``emulator`` on ``host:port`` (port 0: a free one) until ``stop()``."""

    def __init__(
        self, emulator: Optional[Emulator] = None, host: str = DEFAULT_HOST, port: int = 0, *, quiet: bool = True
    ) -> None:
        self.emulator = emulator or Emulator()
        self.host = host
        self._requested_port = port
        self._server: Optional[BaseWSGIServer] = None
        self._thread: Optional[threading.Thread] = None
        if quiet:  # werkzeug logs each request line at INFO; tests do not need them
            logging.getLogger("werkzeug").setLevel(logging.WARNING)

    def _make(self) -> BaseWSGIServer:
        server = make_server(self.host, self._requested_port, create_app(self.emulator), threaded=True)
        self._server = server
        return server

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the emulator is not started")
        return int(self._server.server_port)

    @property
    def url(self) -> str:
        """The root URL, as ``GLOBUS_SDK_SERVICE_URL_TRANSFER`` and ``..._AUTH`` want it."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def sdk_env(self) -> dict[str, str]:
        """The environment that points an unmodified globus-sdk (and the stand-in GCP) here."""
        return {
            "GLOBUS_SDK_SERVICE_URL_TRANSFER": self.url,
            "GLOBUS_SDK_SERVICE_URL_AUTH": self.url,
            "GLOBUS_EMULATOR_URL": self.url,
        }

    def start(self) -> EmulatorServer:
        server = self._make()
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="globus-emulator", daemon=True
        )
        self._thread.start()
        return self

    def bind(self) -> EmulatorServer:
        """Listen (so ``url`` is known) without serving yet; ``serve_forever`` serves."""
        self._make()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted."""
        server = self._server or self._make()
        try:
            server.serve_forever()
        finally:
            server.server_close()

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
            self._server.server_close()
        self._thread = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
