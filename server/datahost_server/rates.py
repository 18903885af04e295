"""What the page plots and predicts, read from the database: the user's finished transfers as
points, and the basis of expectation.py's heuristic (recent transfers with how many others ran
alongside each, the transfers running now)."""

from __future__ import annotations

import datetime
from typing import Any, Optional

from django.db.models import Q

from datahost_server.expectation import MIN_BYTES, RECENT, STALE, WINDOW, Expectation, Sample, expect
from datahost_server.models import Transfer

#: At most this many points in the plot (the newest).
PLOT_POINTS = 1000
PLOT_WINDOW = datetime.timedelta(days=30)

#: Each predicted direction and the kinds of transfer that share its side of the link.
DIRECTIONS: dict[str, tuple[str, ...]] = {
    Transfer.UPLOAD: (Transfer.UPLOAD, Transfer.PULL),
    Transfer.DOWNLOAD: (Transfer.DOWNLOAD,),
}


def expectations(user: Any, now: Optional[datetime.datetime] = None) -> list[Expectation]:
    """The expectation for uploads and for downloads, from the database."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return [
        expect(direction, _samples(user, kinds, now), _running(kinds, now)) for direction, kinds in DIRECTIONS.items()
    ]


def _finished(transfer: Transfer) -> datetime.datetime:
    """When the bytes stopped moving (a download's record is closed later, from Apache's log)."""
    if transfer.started is not None and transfer.seconds is not None:
        return transfer.started + datetime.timedelta(seconds=transfer.seconds)
    return transfer.finished or transfer.created


def _samples(user: Any, kinds: tuple[str, ...], now: datetime.datetime) -> list[Sample]:
    direction = kinds[0]
    recent = list(
        Transfer.objects.filter(
            user=user,
            kind=direction,
            state=Transfer.DONE,
            bytes__gte=MIN_BYTES,
            seconds__gt=0,
            started__isnull=False,
            created__gte=now - WINDOW,
        ).order_by("-created", "-id")[:RECENT]
    )
    if not recent:
        return []
    # Every transfer in this direction that may overlap one of them, read once.
    first = min(t.started for t in recent if t.started is not None)
    last = max(_finished(t) for t in recent)
    others = list(
        Transfer.objects.filter(kind__in=kinds, started__gte=first - STALE, started__lt=last)
        .filter(Q(finished__gt=first) | Q(finished__isnull=True))
        .exclude(state=Transfer.QUEUED)
        .only("id", "started", "finished", "seconds", "created", "state")
    )
    samples = []
    for transfer in recent:
        start, end, rate = transfer.started, _finished(transfer), transfer.mb_per_s
        if start is None or transfer.bytes is None or rate is None:  # excluded by the query
            continue
        alongside = sum(
            1
            for other in others
            if other.pk != transfer.pk
            and other.started is not None
            and other.started < end
            and (other.state == Transfer.RUNNING or _finished(other) > start)
        )
        samples.append(Sample(transfer.name, end, transfer.bytes, rate, alongside))
    return samples


def _running(kinds: tuple[str, ...], now: datetime.datetime) -> int:
    return Transfer.objects.filter(kind__in=kinds, state=Transfer.RUNNING, started__gte=now - STALE).count()


def plot_points(user: Any, now: Optional[datetime.datetime] = None) -> dict[str, list[list[Any]]]:
    """The user's finished transfers for the plot: per kind, ``[unix seconds, MB/s, name]``,
    oldest first, at most ``PLOT_POINTS`` of the past ``PLOT_WINDOW``."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    transfers = list(
        Transfer.objects.filter(
            user=user, state=Transfer.DONE, bytes__gt=0, seconds__gt=0, created__gte=now - PLOT_WINDOW
        ).order_by("-created", "-id")[:PLOT_POINTS]
    )
    points: dict[str, list[list[Any]]] = {kind: [] for kind, _ in Transfer.KINDS}
    for transfer in reversed(transfers):
        rate = transfer.mb_per_s
        if rate is not None:
            points[transfer.kind].append([round(_finished(transfer).timestamp(), 3), round(rate, 4), transfer.name])
    return points
