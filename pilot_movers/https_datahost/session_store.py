"""Where ``datahost login`` keeps session cookies: one file in one per-user directory
(``~/.datahost/sessions.json``, directory 0700, file 0600), so a session works from any working
directory. Sessions are keyed ``USER@HOST:PORT``; the last login is the current one. Cookie
values are never printed or logged.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional


@dataclass(frozen=True)
class SavedSession:
    address: str
    user: str
    cookies: dict[str, str]

    @property
    def key(self) -> str:
        return f"{self.user}@{self.address}"


class SessionStore:
    """The sessions file of the user running the command."""

    def __init__(self, directory: Optional[Path] = None) -> None:
        self.directory = Path(directory) if directory else Path.home() / ".datahost"
        self.path = self.directory / "sessions.json"

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"current": None, "sessions": {}}
        except (OSError, ValueError):
            return {"current": None, "sessions": {}}  # unreadable: start afresh
        if not isinstance(data, dict) or not isinstance(data.get("sessions"), dict):
            return {"current": None, "sessions": {}}
        return data

    def _write(self, data: dict[str, Any]) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        temporary = self.directory / f".sessions.{secrets.token_hex(4)}.tmp"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=1, sort_keys=True)
            os.replace(temporary, self.path)
        finally:
            if temporary.exists():
                temporary.unlink()
        os.chmod(self.path, 0o600)

    def get(self, address: Optional[str] = None, user: Optional[str] = None) -> Optional[SavedSession]:
        """The session for ``user`` at ``address``; missing parts are taken from the current one."""
        data = self._read()
        sessions = data["sessions"]
        current = sessions.get(data.get("current") or "")
        if address is None and current is not None:
            address = current["address"]
        if user is None and current is not None and current["address"] == address:
            user = current["user"]
        if user is None:  # the only session at that address
            matches = [s for s in sessions.values() if s.get("address") == address]
            if len(matches) == 1:
                user = matches[0]["user"]
        entry = sessions.get(f"{user}@{address}")
        if entry is None:
            return None
        return SavedSession(entry["address"], entry["user"], dict(entry.get("cookies") or {}))

    def save(self, session: SavedSession, *, make_current: bool = True) -> None:
        data = self._read()
        data["sessions"][session.key] = {"address": session.address, "user": session.user, "cookies": session.cookies}
        if make_current:
            data["current"] = session.key
        self._write(data)

    def remove(self, session: SavedSession) -> None:
        data = self._read()
        data["sessions"].pop(session.key, None)
        if data.get("current") == session.key:
            data["current"] = None
        self._write(data)
