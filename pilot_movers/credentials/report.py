"""What a job's report says of its credentials (the JSON report's ``credentials``): where the
proxy the job used came from, and what it was when the job took it."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any, Optional

from pilot_movers.credentials.myproxy import MyProxySettings, RetrievedProxy
from pilot_movers.credentials.proxy_info import ProxyInfo

#: ``source`` of a proxy the job found in its environment (the pilot's), not fetched.
FROM_ENVIRONMENT = "X509_USER_PROXY"


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


@dataclass(frozen=True)
class CredentialsReport:
    """The proxy a job used: ``source`` (``myproxy HOST:PORT`` for the user's proxy a MyProxy
    logon fetched, with ``retrieved_with`` and the logon's ``attempts``; ``X509_USER_PROXY`` for
    the proxy the first phase checked), its facts, and ``taken``, when the job took it: the
    report's ``time_left_seconds`` is as of then."""

    source: str
    proxy: ProxyInfo
    taken: datetime.datetime
    retrieved_with: Optional[str] = None
    attempts: Optional[int] = None

    def __post_init__(self) -> None:
        if (self.retrieved_with is None) != (self.attempts is None):
            raise ValueError("retrieved_with and attempts say how a MyProxy logon went: both or neither")

    @classmethod
    def from_myproxy(
        cls, settings: MyProxySettings, retrieved: RetrievedProxy, taken: Optional[datetime.datetime] = None
    ) -> CredentialsReport:
        """The user's proxy, fetched from MyProxy as ``settings`` say."""
        return cls(
            f"myproxy {settings.address}",
            retrieved.info,
            taken or _now(),
            retrieved_with=settings.retrieve_with,
            attempts=retrieved.attempts,
        )

    @classmethod
    def from_environment(cls, proxy: ProxyInfo, taken: Optional[datetime.datetime] = None) -> CredentialsReport:
        """The proxy the job found (X509_USER_PROXY, or the credentials it was given)."""
        return cls(FROM_ENVIRONMENT, proxy, taken or _now())

    def to_dict(self) -> dict[str, Any]:
        """``source``, then ``retrieved_with`` and ``attempts`` for a MyProxy logon, then the
        proxy's facts (``ProxyInfo.to_dict``)."""
        logon = {"retrieved_with": self.retrieved_with, "attempts": self.attempts} if self.retrieved_with else {}
        return {"source": self.source, **logon, **self.proxy.to_dict(now=self.taken)}
