"""Bookmarks: a user's named endpoint paths (``globus bookmark create/list/rename/delete``)."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from typing import Any, Optional


@dataclass
class Bookmark:
    id: str
    owner_id: str
    name: str
    endpoint_id: str
    path: str
    pinned: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The ``bookmark`` document (globus-cli's bookmark fixtures)."""
        return {
            "DATA_TYPE": "bookmark",
            "id": self.id,
            "name": self.name,
            "endpoint_id": self.endpoint_id,
            "path": self.path,
            "pinned": self.pinned,
        }


class BookmarkTable:
    """Every user's bookmarks, by id; a user sees only their own."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bookmarks: dict[str, Bookmark] = {}

    def add(self, owner_id: str, name: str, endpoint_id: str, path: str, *, pinned: bool = False) -> Bookmark:
        bookmark = Bookmark(str(uuid.uuid4()), owner_id, name, endpoint_id, path, pinned)
        with self._lock:
            self._bookmarks[bookmark.id] = bookmark
        return bookmark

    def get(self, bookmark_id: str, owner_id: str) -> Optional[Bookmark]:
        with self._lock:
            bookmark = self._bookmarks.get(bookmark_id)
        return bookmark if bookmark is not None and bookmark.owner_id == owner_id else None

    def remove(self, bookmark_id: str) -> None:
        with self._lock:
            self._bookmarks.pop(bookmark_id, None)

    def of(self, owner_id: str) -> list[Bookmark]:
        with self._lock:
            return [b for b in self._bookmarks.values() if b.owner_id == owner_id]
