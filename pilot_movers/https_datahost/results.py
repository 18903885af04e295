"""What the DataHost client returns: files, listings, transfer outcomes, pulls (frozen values)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from pilot_movers.checksums import Checksum


@dataclass(frozen=True)
class RemoteFile:
    name: str
    size: int
    modified: Optional[str] = None
    """ISO 8601, UTC."""
    adler32: Optional[str] = None
    """Recorded by the server when the file was stored (None if unknown)."""

    @classmethod
    def from_answer(cls, row: dict[str, Any]) -> RemoteFile:
        return cls(str(row["name"]), int(row["size"]), row.get("modified"), row.get("adler32"))


@dataclass(frozen=True)
class Listing:
    user: str
    auth: str
    files: list[RemoteFile]
    usage_bytes: int
    quotas: list[dict[str, Any]] = field(default_factory=list)
    """One entry per quota that applies: scope, quota_bytes, usage_bytes, available_bytes."""


@dataclass(frozen=True)
class UploadResult:
    name: str
    size: int
    adler32: str
    """Computed by the client while sending and confirmed by the server."""
    seconds: float
    """Wall time the client spent on the upload (request included)."""
    server_seconds: float
    mb_per_s: float
    """Megabytes (10^6) per second as the server measured them."""
    checksums: tuple[Checksum, ...] = ()
    """Every checksum computed while sending (adler32 first)."""

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "checksums": [str(c) for c in self.checksums]}


@dataclass(frozen=True)
class DownloadResult:
    name: str
    path: str
    size: int
    adler32: str
    """Computed by the client while receiving; equal to the server's when it sent one."""
    verified: bool
    """The server sent the file's checksum and it matched."""
    seconds: float
    resumed: int
    """How many times the download resumed after a broken connection (Range)."""
    checksums: tuple[Checksum, ...] = ()
    """Every checksum computed while receiving (adler32 first)."""

    @property
    def mb_per_s(self) -> float:
        return self.size / self.seconds / 1e6 if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "checksums": [str(c) for c in self.checksums], "mb_per_s": round(self.mb_per_s, 3)}


@dataclass(frozen=True)
class TransferRecord:
    """One entry of the server's history: an upload, download or pull with its bandwidth."""

    id: int
    kind: str
    name: str
    state: str
    bytes: Optional[int]
    seconds: Optional[float]
    mb_per_s: Optional[float]
    url: Optional[str] = None
    error: Optional[str] = None
    total_bytes: Optional[int] = None
    created: Optional[str] = None
    finished: Optional[str] = None

    @property
    def finished_state(self) -> bool:
        return self.state in ("done", "failed")

    @classmethod
    def from_answer(cls, row: dict[str, Any]) -> TransferRecord:
        return cls(
            id=int(row["id"]),
            kind=str(row["kind"]),
            name=str(row["name"]),
            state=str(row["state"]),
            bytes=row.get("bytes"),
            seconds=row.get("seconds"),
            mb_per_s=row.get("mb_per_s"),
            url=row.get("url"),
            error=row.get("error"),
            total_bytes=row.get("total_bytes"),
            created=row.get("created"),
            finished=row.get("finished"),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
