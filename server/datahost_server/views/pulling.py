"""Upload from URL: ``POST /datahost/pull/`` (``url``, optional ``name`` and ``overwrite``)
answers 202 at once with the pull's record; ``GET /datahost/pulls/`` and ``/datahost/pulls/<id>``
show its state (queued, running, done, failed), bytes so far and, when done, the bandwidth.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from datahost_server import placement, pulls, storage
from datahost_server.access import identify
from datahost_server.answers import ProtocolError, done_answer, json_answer
from datahost_server.models import Transfer
from datahost_server.views.endpoint import endpoint, flag


@endpoint("POST", back="/datahost/")
def pull(request: HttpRequest) -> HttpResponse:
    caller = identify(request, write=True)
    url = (request.POST.get("url") or "").strip()
    pulls.check_url(url)
    try:
        name = (
            storage.check_name(request.POST.get("name") or "") if request.POST.get("name") else pulls.default_name(url)
        )
    except storage.BadName as exc:
        raise ProtocolError("bad_name", str(exc)) from None
    overwrite = flag(request.POST.get("overwrite"))
    placement.precheck(caller.user, name, 0, overwrite=overwrite)
    transfer = Transfer.objects.create(
        user=caller.user,
        kind=Transfer.PULL,
        name=name,
        url=url,
        state=Transfer.QUEUED,
        auth=caller.auth,
        overwrite=overwrite,
        worker=pulls.worker_id(),
    )
    pulls.submit(transfer)
    answer = {"pull": transfer.to_dict(), "status_url": f"/datahost/pulls/{transfer.pk}"}
    return done_answer(request, answer, f"Fetching {url} into {name}: its state is shown below.", status=202)


@endpoint("GET")
def pull_list(request: HttpRequest) -> HttpResponse:
    caller = identify(request)
    found = Transfer.objects.filter(user=caller.user, kind=Transfer.PULL)[:100]
    return json_answer({"pulls": [t.to_dict() for t in found]})


@endpoint("GET")
def pull_status(request: HttpRequest, pull_id: int) -> HttpResponse:
    caller = identify(request)
    transfer = Transfer.objects.filter(user=caller.user, kind=Transfer.PULL, pk=pull_id).first()
    if transfer is None:
        raise ProtocolError("not_found", f"you have no pull {pull_id}")
    if transfer.state in (Transfer.DONE, Transfer.FAILED) and not transfer.notified:
        Transfer.objects.filter(pk=transfer.pk).update(notified=True)  # the user has been told
    return json_answer({"pull": transfer.to_dict()})
