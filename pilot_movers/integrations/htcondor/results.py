"""One result ad per file ad, as HTCondor's starter reads them: ``TransferSuccess``,
``TransferError``, ``TransferUrl`` and ``TransferFileName`` (the input ad's own), bytes, start and
end times (seconds since the epoch), ``TransferProtocol``, ``TransferType`` and, for a failure,
``TransferErrorData``: one entry per failed attempt (the last is the one that ended the file)."""

from __future__ import annotations

import time
from typing import Any, Optional

from pilot_movers.errors import MoverError, Phase
from pilot_movers.integrations.htcondor.error_data import error_data
from pilot_movers.integrations.htcondor.file_requests import FileRequest
from pilot_movers.values import FileReport


def _common(request: FileRequest, phase: Phase, started: float, ended: float) -> dict[str, Any]:
    return {
        "TransferUrl": request.url,
        "TransferFileName": request.local,
        "TransferProtocol": request.scheme,
        "TransferType": "upload" if phase is Phase.STAGE_OUT else "download",
        "TransferStartTime": int(started),
        "TransferEndTime": int(ended),
    }


def reported(request: FileRequest, phase: Phase, report: FileReport) -> dict[str, Any]:
    """The result ad of a file the engine moved (or tried to)."""
    attempts = report.attempts
    started = attempts[0].started if attempts else time.time() - report.seconds
    ended = attempts[-1].ended if attempts else time.time()
    ad = _common(request, phase, started, ended)
    refreshable = request.credential is not None
    developer: dict[str, Any] = {
        "Mover": report.mover,
        "Attempts": len(attempts),
        "Status": report.status.value,
        "Verified": report.verified,
    }
    if report.checksum is not None:
        developer["Checksum"] = str(report.checksum)
    ad.update(TransferTotalBytes=report.bytes, TransferFileBytes=report.bytes, DeveloperData=developer)
    if report.ok:
        ad.update(TransferSuccess=True)
        return ad
    error = report.error or MoverError(f"not moved ({report.status.value})", phase=phase)
    entries = [
        error_data(attempt.error, refreshable=refreshable, attempt=attempt.number)
        for attempt in attempts
        if attempt.error is not None and attempt.error is not error
    ]
    entries.append(error_data(error, refreshable=refreshable, attempt=len(attempts) or None))
    ad.update(TransferSuccess=False, TransferError=str(error), TransferErrorData=entries)
    return ad


def failed(request: FileRequest, phase: Phase, error: MoverError, started: Optional[float] = None) -> dict[str, Any]:
    """The result ad of a file that never reached the engine (its mover could not be opened, the
    call was stopped first, its ad was unusable)."""
    now = time.time()
    ad = _common(request, phase, started or now, now)
    ad.update(
        TransferSuccess=False,
        TransferError=str(error),
        TransferTotalBytes=0,
        TransferErrorData=[error_data(error, refreshable=request.credential is not None)],
    )
    return ad
