"""The page people use: their files (a page at a time), quotas, the upload form (with a progress
bar, page.js) and upload from URL, the state of their pulls, a plot of their transfers' rates with
what to expect now (rates.py), their failed transfers with the reason, and recent transfers."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Page, Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from datahost_server import expectation, quotas, rates, storage, transfer_log
from datahost_server.models import Transfer
from datahost_server.views.files import file_rows
from pilot_movers.https_datahost.protocol import FILE_NAME, FILE_NAME_RULE

#: Files per page: 20,000 files must not make a page of megabytes.
PAGE_SIZE = 100
FAILED_SHOWN = 20
HISTORY_SHOWN = 30


@never_cache
@login_required
def index(request: HttpRequest) -> HttpResponse:
    transfer_log.ingest()
    user = request.user
    _announce_ended_pulls(request, user)
    pulls = list(Transfer.objects.filter(user=user, kind=Transfer.PULL)[:20])
    entries = storage.list_files(user.pk)
    query = (request.GET.get("q") or "").strip()
    shown = [e for e in entries if query.lower() in e.name.lower()] if query else entries
    page = _page(shown, request.GET.get("page"))
    context = {
        "files": file_rows(user, page.object_list),
        "page": page,
        "query": query,
        "file_count": len(entries),
        "usage_bytes": sum(e.size for e in entries),
        "limits": quotas.limits(user),
        "pulls": pulls,
        "active_pulls": any(p.state in (Transfer.QUEUED, Transfer.RUNNING) for p in pulls),
        "history": Transfer.objects.filter(user=user)[:HISTORY_SHOWN],
        "failed": Transfer.objects.filter(user=user, state=Transfer.FAILED)[:FAILED_SHOWN],
        "expectations": rates.expectations(user),
        "plot_points": rates.plot_points(user),
        "basis": {"recent": expectation.RECENT, "min_bytes": expectation.MIN_BYTES, "days": expectation.WINDOW.days},
        "name_pattern": FILE_NAME.pattern,
        "name_rule": FILE_NAME_RULE,
    }
    return render(request, "datahost/index.html", context)


def _announce_ended_pulls(request: HttpRequest, user: Any) -> None:
    ended = Transfer.objects.filter(
        user=user, kind=Transfer.PULL, state__in=[Transfer.DONE, Transfer.FAILED], notified=False
    )
    for transfer in ended:
        if transfer.state == Transfer.DONE:
            messages.success(request, f"Upload from URL finished: {transfer.name} ({transfer.bytes} bytes).")
        else:
            messages.error(request, f"Upload from URL of {transfer.name} failed: {transfer.error}")
    ended.update(notified=True)


def _page(entries: list[storage.FileEntry], number: Any) -> Page:
    """One page of ``entries``; a page number out of range or not a number gives the nearest."""
    return Paginator(entries, PAGE_SIZE).get_page(number)
