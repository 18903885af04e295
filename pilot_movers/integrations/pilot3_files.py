"""Pilot 3's ``FileSpec`` objects (``pilot/info/filespec.py``) as this library's ``FileSpec``s, and
back: the outcome written into them the way Pilot 3's copytools write it.

Read from a Pilot 3 FileSpec: ``lfn``, ``turl`` (where the file is, for stage-in; where it goes,
for stage-out), ``replicas`` (for stage-in, Pilot 3's resolved list ``[{"pfn": ..., "ddmendpoint":
..., "domain": ...}]`` in its order of preference: those besides the ``turl`` are the file's
alternative sources, tried when the ``turl``'s fails in a way another replica can cure), ``surl``
(the local file, for stage-out, as ``StageOutClient`` sets it), ``workdir`` (else the call's
``workdir``), ``filesize`` and ``checksum`` (the catalogue's, every mover verifies them: a dict
``{"adler32": "..."}``, as Pilot 3 holds it, or ``ad:...``/``md5:...`` text), ``scope``, ``guid``,
``dataset``, ``ddmendpoint`` (into the report's metadata).
Written back: ``status`` (``transferred`` / ``failed``), ``status_code``, the ``turl`` of the
replica that served when it was not the first, and for outputs the checksum and size found when
Pilot 3 had none.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Mapping, Optional

from job_params import JobParamsError
from job_params.model import check_file_name
from pilot_movers.checksums import Checksum
from pilot_movers.errors import BadJobParameters, MoverError, Phase
from pilot_movers.values import FileReport, FileSpec, Location, Role

log = logging.getLogger(__name__)


#: A catalogue checksum that says there is none: Pilot 3 turns an empty or NULL ``checksum`` of a
#: job description into ``{"adler32": ""}`` / ``{"adler32": "NULL"}``; the CLI reads the same
#: values of ``checksum`` as "no checksum".
NO_CHECKSUM = ("", "null", "none")


def expected_checksum(raw: Any) -> Optional[Checksum]:
    """A Pilot 3 checksum (``{"adler32": v}``, or ``ad:v`` text; empty or NULL: none) as a
    Checksum. A dict with adler32 and md5 gives adler32, the one Pilot 3 verifies."""
    if isinstance(raw, Mapping):
        raw = {key: value for key, value in raw.items() if str(value or "").strip().lower() not in NO_CHECKSUM}
    elif raw is not None and str(raw).strip().lower() in NO_CHECKSUM:
        raw = None
    if not raw:
        return None
    try:
        if isinstance(raw, Mapping):
            algorithm = "adler32" if raw.get("adler32") else next(k for k, v in raw.items() if v)
            return Checksum(str(algorithm), str(raw[algorithm]))
        text = str(raw)
        return Checksum.parse(text) if ":" in text else Checksum("adler32", text)
    except (ValueError, StopIteration, MoverError) as exc:
        raise BadJobParameters(f"checksum {raw!r}: {getattr(exc, 'message', None) or exc}") from None


def to_spec(fspec: Any, phase: Phase, workdir: str) -> FileSpec:
    """The transfer one Pilot 3 FileSpec asks for; BadJobParameters says what is missing or wrong."""
    lfn = str(getattr(fspec, "lfn", "") or "")
    directory = os.path.abspath(getattr(fspec, "workdir", None) or workdir or ".")
    try:
        check_file_name(lfn, lfn or "lfn")
    except JobParamsError as exc:
        raise BadJobParameters(f"lfn {lfn!r}: {exc.reason}", phase=phase) from None
    turl = str(getattr(fspec, "turl", "") or "")
    if not turl:
        where = "no replica was resolved" if phase is Phase.STAGE_IN else "no destination was resolved"
        raise BadJobParameters(f"{lfn}: the file has no turl ({where})", phase=phase, file=lfn)
    try:
        remote = Location.parse(turl)
        if phase is Phase.STAGE_IN:
            source, destination, role = remote, Location.local(os.path.join(directory, lfn)), Role.INPUT
        else:
            surl = str(getattr(fspec, "surl", "") or "")
            local = surl if surl.startswith(("/", "file://")) else os.path.join(directory, lfn)
            source, destination, role = Location.parse(local), remote, Role.OUTPUT
    except ValueError as exc:
        raise BadJobParameters(f"{lfn}: {exc}", phase=phase, file=lfn) from None
    size = getattr(fspec, "filesize", None)
    expected_size = int(size) if isinstance(size, int) and size > 0 else None
    checksum = expected_checksum(getattr(fspec, "checksum", None))
    others = other_replicas(fspec, remote) if phase is Phase.STAGE_IN else ()
    return FileSpec(lfn, source, destination, role, expected_size, checksum, metadata(fspec), others)


def other_replicas(fspec: Any, turl: Location) -> tuple[Location, ...]:
    """The replicas Pilot 3 resolved for an input besides its ``turl``, in Pilot 3's order (LAN
    before WAN, then Rucio's priority); a replica that does not parse is left out, in the log."""
    found: list[Location] = []
    for replica in getattr(fspec, "replicas", None) or ():
        pfn = replica.get("pfn") if isinstance(replica, Mapping) else replica
        if not pfn:
            continue
        try:
            location = Location.parse(str(pfn))
        except ValueError as exc:
            log.info("%s: replica %s left out: %s", getattr(fspec, "lfn", "?"), pfn, exc)
            continue
        if location != turl and location not in found:
            found.append(location)
    return tuple(found)


def metadata(fspec: Any) -> dict[str, str]:
    """What the report carries of a Pilot 3 FileSpec: scope, GUID, dataset, storage endpoint."""
    values = {name: getattr(fspec, name, None) for name in ("scope", "guid", "dataset", "ddmendpoint")}
    return {key: str(value) for key, value in values.items() if value}


def record_outcome(fspec: Any, report: FileReport, code: int) -> None:
    """Write a file's outcome into its Pilot 3 FileSpec, as Pilot 3's copytools do."""
    if report.ok:
        fspec.status, fspec.status_code = "transferred", 0
        if report.failed_over and report.spec.role is Role.INPUT:  # another replica served
            fspec.turl = report.spec.source.url
        if report.spec.role is Role.OUTPUT:
            if not fspec.filesize:
                fspec.filesize = report.bytes
            if report.checksum is not None:
                checksums = fspec.checksum if isinstance(fspec.checksum, dict) else {}
                checksums.setdefault(report.checksum.algorithm, report.checksum.value)
                fspec.checksum = checksums
    else:
        fspec.status, fspec.status_code = "failed", code
