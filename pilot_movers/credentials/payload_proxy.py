"""The payload's proxy: X509_USER_PROXY points at it only while the job runs, and it is deleted
at cleanup. The pilot's own proxy file is never written (the 2012 dataPilot overwrote it)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from types import TracebackType
from typing import Optional

log = logging.getLogger(__name__)


class PayloadProxy:
    """``with PayloadProxy(path):`` sets X509_USER_PROXY to ``path`` for the movers and the
    payload; leaving restores the previous value (or its absence) and removes the file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._previous: Optional[str] = None
        self._entered = False

    def __enter__(self) -> PayloadProxy:
        self._previous = os.environ.get("X509_USER_PROXY")
        os.environ["X509_USER_PROXY"] = str(self.path)
        self._entered = True
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if self._entered:
            if self._previous is None:
                os.environ.pop("X509_USER_PROXY", None)
            else:
                os.environ["X509_USER_PROXY"] = self._previous
            self._entered = False
        try:
            self.path.unlink()
            log.info("payload proxy %s removed", self.path)
        except FileNotFoundError:
            pass
