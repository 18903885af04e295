"""What the DataHost keeps in its database: quotas, certificate DNs mapped to users, the
checksums of stored files, every transfer with its bandwidth, and the read position of Apache's
transfer log. The files themselves live on disk, one directory per user (storage.py).
"""

from __future__ import annotations

import uuid
from typing import Any, Optional

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models


class StorageAccount(models.Model):
    """A user's DataHost settings: the quota (empty: the instance's default quota)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="datahost")
    quota_bytes = models.BigIntegerField(
        null=True, blank=True, help_text="Bytes this user may store; empty: the instance's default quota."
    )

    def __str__(self) -> str:
        return f"storage of {self.user}"


class GroupQuota(models.Model):
    """A quota on the sum of what the members of a group store."""

    group = models.OneToOneField(Group, on_delete=models.CASCADE, related_name="datahost_quota")
    quota_bytes = models.BigIntegerField(help_text="Bytes all members of this group may store together.")

    def __str__(self) -> str:
        return f"quota of group {self.group}"


class CertificateDN(models.Model):
    """An X.509 identity (the user certificate's DN, proxy CNs stripped) that acts as a user."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="certificate_dns")
    dn = models.CharField(
        "DN",
        max_length=512,
        unique=True,
        help_text="As grid tools print it, e.g. /C=XX/O=GridLab/OU=Users/CN=Test User (no proxy CNs).",
    )

    class Meta:
        verbose_name = "certificate DN"

    def __str__(self) -> str:
        return self.dn


class StoredFile(models.Model):
    """The checksum of a stored file, valid while its size and modification time are unchanged."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="datahost_files")
    name = models.CharField(max_length=255)
    size = models.BigIntegerField()
    mtime_ns = models.BigIntegerField()
    adler32 = models.CharField(max_length=8)
    stored = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "name"], name="one_record_per_user_file")]

    def __str__(self) -> str:
        return f"{self.user}/{self.name}"


class Transfer(models.Model):
    """One upload, download or pull ("upload from URL"), with the bandwidth it got.

    A download is served by Apache (X-Sendfile), so its bytes and duration arrive later from
    Apache's transfer log, matched by ``token``.
    """

    UPLOAD, DOWNLOAD, PULL = "upload", "download", "pull"
    KINDS = [(UPLOAD, "upload"), (DOWNLOAD, "download"), (PULL, "upload from URL")]
    QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
    STATES = [(QUEUED, "queued"), (RUNNING, "running"), (DONE, "done"), (FAILED, "failed")]

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="datahost_transfers")
    kind = models.CharField(max_length=8, choices=KINDS)
    name = models.CharField(max_length=255)
    url = models.URLField(max_length=2048, blank=True, help_text="The source of a pull.")
    state = models.CharField(max_length=8, choices=STATES, default=RUNNING)
    bytes = models.BigIntegerField(null=True, blank=True)
    total_bytes = models.BigIntegerField(null=True, blank=True, help_text="Expected size, when known.")
    seconds = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)
    auth = models.CharField(max_length=12, blank=True, help_text="session or certificate")
    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    token = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    worker = models.CharField(max_length=64, blank=True, help_text="host:pid of the process running a pull.")
    overwrite = models.BooleanField(default=False, help_text="A pull may replace an existing file.")
    notified = models.BooleanField(default=False, help_text="The user was told that this pull ended.")

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["user", "-created"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.name} ({self.state})"

    @property
    def mb_per_s(self) -> Optional[float]:
        """Megabytes (10^6 bytes) per second, when the transfer moved bytes in measurable time."""
        if not self.bytes or not self.seconds or self.seconds <= 0:
            return None
        return self.bytes / self.seconds / 1e6

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.pk,
            "kind": self.kind,
            "name": self.name,
            "url": self.url or None,
            "state": self.state,
            "bytes": self.bytes,
            "total_bytes": self.total_bytes,
            "seconds": None if self.seconds is None else round(self.seconds, 6),
            "mb_per_s": None if self.mb_per_s is None else round(self.mb_per_s, 3),
            "error": self.error or None,
            "auth": self.auth or None,
            "created": self.created.isoformat() if self.created else None,
            "started": self.started.isoformat() if self.started else None,
            "finished": self.finished.isoformat() if self.finished else None,
        }


class LogCursor(models.Model):
    """How far Apache's transfer log has been read (the file's inode and a byte offset)."""

    path = models.CharField(max_length=1024, unique=True)
    inode = models.BigIntegerField(default=0)
    offset = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.path}@{self.offset}"


class LoginFailure(models.Model):
    """One wrong password, kept for the throttle's window (throttle.py)."""

    username = models.CharField(max_length=150, db_index=True)
    address = models.GenericIPAddressField(db_index=True)
    at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.username} from {self.address} at {self.at}"
