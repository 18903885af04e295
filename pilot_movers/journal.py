"""A record, in the work dir, of the temporary files a job has on servers right now.

A job killed by SIGKILL runs no cleanup; its temporary copies on storage servers would stay there
for good. Each one is written here (one line, appended and flushed) before the transfer that
makes it starts, and struck off once it is renamed into place or removed. The next job started in
that work dir reads what is still listed and removes it (``Job`` does, with its movers).
"""

from __future__ import annotations

import os
import threading
from typing import Optional

NAME = ".pilot-movers-journal"


class TemporaryJournal:
    """Append-only lines ``+ URL`` / ``- URL``; what is added and not struck off is pending."""

    def __init__(self, directory: str) -> None:
        self.path = os.path.join(directory, NAME)
        self._lock = threading.Lock()
        self._handle: Optional[int] = None

    def pending(self) -> list[str]:
        """URLs listed and not struck off, in the order they were added."""
        try:
            with open(self.path, encoding="utf-8", errors="replace") as handle:
                lines = handle.read().splitlines()
        except FileNotFoundError:
            return []
        listed: dict[str, None] = {}
        for line in lines:
            mark, _, url = line.partition(" ")
            if mark == "+" and url:
                listed[url] = None
            elif mark == "-":
                listed.pop(url, None)
        return list(listed)

    def add(self, url: str) -> None:
        self._write(f"+ {url}\n")

    def strike(self, url: str) -> None:
        self._write(f"- {url}\n")

    def rewrite(self, pending: list[str]) -> None:
        """Keep only ``pending`` (after a sweep); no file when nothing is pending."""
        with self._lock:
            self._close()
            if not pending:
                try:
                    os.unlink(self.path)
                except FileNotFoundError:
                    pass
                return
            temporary = self.path + ".new"
            with open(temporary, "w", encoding="utf-8") as handle:
                handle.writelines(f"+ {url}\n" for url in pending)
            os.replace(temporary, self.path)

    def close(self) -> None:
        with self._lock:
            self._close()

    def _write(self, line: str) -> None:
        with self._lock:
            if self._handle is None:
                self._handle = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
            os.write(self._handle, line.encode("utf-8"))

    def _close(self) -> None:
        if self._handle is not None:
            os.close(self._handle)
            self._handle = None
