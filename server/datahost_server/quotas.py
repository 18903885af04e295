"""Quotas: a user's own (or the instance default) and one per group the user belongs to.

A quota limits the bytes on disk in the user's directory: complete files and the temporary files
of transfers in progress alike; a write that would pass any of them is refused. ``check`` is
called twice per upload: before the body is read, with the declared size, and under the commit
lock, with the real size (less the upload's own temporary file, which is counted already).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser

from datahost_server import storage
from datahost_server.models import GroupQuota, StorageAccount


@dataclass(frozen=True)
class Limit:
    """One quota that applies to a user: whose, how large, how much is used."""

    scope: str
    """``user`` or ``group:<name>``."""
    quota_bytes: int
    usage_bytes: int

    @property
    def available_bytes(self) -> int:
        return max(0, self.quota_bytes - self.usage_bytes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "quota_bytes": self.quota_bytes,
            "usage_bytes": self.usage_bytes,
            "available_bytes": self.available_bytes,
        }


class QuotaExceeded(Exception):
    """Storing the file would exceed a quota; the message says which, and by how much."""

    def __init__(self, limit: Limit, size: int) -> None:
        self.limit = limit
        self.size = size
        who = "your quota" if limit.scope == "user" else f"the quota of group {limit.scope.split(':', 1)[1]}"
        super().__init__(
            f"storing {size} bytes would exceed {who} ({limit.usage_bytes} of {limit.quota_bytes} bytes used, "
            f"{limit.available_bytes} available)"
        )


def user_quota(user: AbstractBaseUser) -> Optional[int]:
    account = StorageAccount.objects.filter(user=user).first()
    if account is not None and account.quota_bytes is not None:
        return int(account.quota_bytes)
    default = settings.DATAHOST_DEFAULT_QUOTA
    return None if default is None else int(default)


def limits(user: Any) -> list[Limit]:
    """Every quota that applies to ``user``, with current usage."""
    found = []
    own = user_quota(user)
    if own is not None:
        found.append(Limit("user", own, storage.usage(user.pk)))
    for quota in GroupQuota.objects.filter(group__user=user).select_related("group"):
        members = quota.group.user_set.values_list("pk", flat=True)
        used = sum(storage.usage(pk) for pk in members)
        found.append(Limit(f"group:{quota.group.name}", int(quota.quota_bytes), used))
    return found


def check(user: Any, size: int, *, replacing: int = 0, reported: Optional[int] = None) -> None:
    """Raise QuotaExceeded if adding ``size`` bytes (in place of ``replacing`` bytes of an
    existing file that is overwritten) would pass any quota of ``user``; ``reported``: the file's
    size to name in the message, when ``size`` is only the part not on disk yet."""
    for limit in limits(user):
        if limit.usage_bytes - replacing + size > limit.quota_bytes:
            raise QuotaExceeded(limit, size if reported is None else reported)
