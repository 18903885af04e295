"""The page people use: their files, quotas, upload and upload-from-URL forms, the state of
their pulls (with a message when one has ended), and the bandwidth of recent transfers."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from datahost_server import quotas, transfer_log
from datahost_server.models import Transfer
from datahost_server.views.files import file_rows


@never_cache
@login_required
def index(request: HttpRequest) -> HttpResponse:
    transfer_log.ingest()
    user = request.user
    ended = Transfer.objects.filter(
        user=user, kind=Transfer.PULL, state__in=[Transfer.DONE, Transfer.FAILED], notified=False
    )
    for transfer in ended:
        if transfer.state == Transfer.DONE:
            messages.success(request, f"Upload from URL finished: {transfer.name} ({transfer.bytes} bytes).")
        else:
            messages.error(request, f"Upload from URL of {transfer.name} failed: {transfer.error}")
    ended.update(notified=True)
    pulls = list(Transfer.objects.filter(user=user, kind=Transfer.PULL)[:20])
    context = {
        "files": file_rows(user),
        "limits": quotas.limits(user),
        "pulls": pulls,
        "active_pulls": any(p.state in (Transfer.QUEUED, Transfer.RUNNING) for p in pulls),
        "history": Transfer.objects.filter(user=user)[:30],
    }
    return render(request, "datahost/index.html", context)
