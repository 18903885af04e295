"""Checksums of local files computed while gfal2 writes them (downloads) or reads them (uploads).

gfal2 moves the bytes between GridFTP and the local file itself; a thread beside it reads the
same local file from the page cache as it grows, so the copy's checksum is ready when the copy
is, with no second pass over the file. Files of one bulk call are followed in order: a file is
complete once gfal2 starts the next one, or the call returns.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from pilot_movers.checksums import Checksum, StreamingDigest

_BLOCK = 4 * 1024 * 1024
_IDLE = 0.002


@dataclass(frozen=True)
class Followed:
    """What was read of one file: its bytes and their checksums (None: it could not be read)."""

    bytes: int
    checksums: tuple[Checksum, ...]


class Follower:
    """Follows ``paths`` in order on a thread of its own; ``progress(i, bytes)`` is called as
    file ``i`` grows. ``seal(n)`` says the first ``n`` files are complete; ``finish()`` seals
    them all and returns what was read of each."""

    def __init__(
        self,
        paths: Sequence[str],
        algorithms: Sequence[Sequence[str]],
        *,
        progress: Optional[Callable[[int, int], None]] = None,
        sealed: int = 0,
    ) -> None:
        self.paths = list(paths)
        self.algorithms = [tuple(a) for a in algorithms]
        self.results: list[Optional[Followed]] = [None] * len(self.paths)
        self._progress = progress
        self._sealed = sealed
        self._stop = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="pilot-movers-gridftp-follower", daemon=True)
        self._thread.start()

    def seal(self, count: int) -> None:
        with self._lock:
            self._sealed = max(self._sealed, count)

    def finish(self) -> list[Optional[Followed]]:
        self.seal(len(self.paths))
        self._thread.join()
        return self.results

    def abandon(self) -> None:
        """Stop at once (the copy failed or was cancelled); results stay as far as they got."""
        self._stop = True
        self.seal(len(self.paths))

    def _is_sealed(self, index: int) -> bool:
        with self._lock:
            return index < self._sealed

    def _run(self) -> None:
        for index, path in enumerate(self.paths):
            if self._stop:
                return
            self.results[index] = self._follow(index, path)

    def _follow(self, index: int, path: str) -> Optional[Followed]:
        descriptor = None
        while descriptor is None:
            try:
                descriptor = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                if self._is_sealed(index) or self._stop:
                    return None  # the copy never made it, or removed it
                time.sleep(_IDLE)
            except OSError:
                return None
        digest = StreamingDigest(self.algorithms[index])
        buffer = bytearray(_BLOCK)
        view = memoryview(buffer)
        try:
            while not self._stop:
                sealed = self._is_sealed(index)  # read before looking, so nothing is missed
                count = os.readv(descriptor, [buffer])
                if count:
                    digest.update(view[:count])
                    if self._progress is not None:
                        self._progress(index, digest.bytes)
                elif sealed:
                    return Followed(digest.bytes, digest.checksums())
                else:
                    time.sleep(_IDLE)
        except OSError:
            return None
        finally:
            os.close(descriptor)
        return None
