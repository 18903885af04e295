"""The JobParams value and the checks that need more than one token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from job_params.errors import JobParamsError
from pilot_movers.checksums import Checksum
from pilot_movers.reserved import MARK, REPORT_NAME, is_reserved
from pilot_movers.values import Location

MODES = ("server", "local")


@dataclass(frozen=True)
class JobParams:
    """A job's data parameters, from either syntax.

    Key=value syntax: ``globus-user``, ``globus-endpoint-in/-local/-out``, ``in-mode``/``out-mode``
    (``server`` or ``local``), ``dir-in``/``dir-out``, ``files-in``/``files-out``,
    ``myproxy-server`` (HOST[:PORT]).
    sendJob syntax: ``--StageinGOsrc``/``--StageinGOdest``, ``--StageoutGOsrc``/``--StageoutGOdest``,
    ``--OutputGO``, ``--WorkingendpointGO``, ``--Data``.
    Tokens this library does not know are kept, in order, in ``passthrough``.
    Which files move where is ``pilot_movers.planner.plan``'s business, with the queue's config.
    """

    globus_user: Optional[str] = None
    endpoint_in: Optional[str] = None
    endpoint_local: Optional[str] = None
    endpoint_out: Optional[str] = None
    in_mode: Optional[str] = None
    out_mode: Optional[str] = None
    dir_in: Optional[str] = None
    dir_out: Optional[str] = None
    files_in: tuple[str, ...] = ()
    checksums_in: tuple[Checksum, ...] = ()
    """``checksums-in=ad:0a1b2c3d,md5:...``: the expected checksum of each ``files-in`` file, in order."""
    sizes_in: tuple[int, ...] = ()
    """``sizes-in=1024,0``: the expected size in bytes of each ``files-in`` file, in order."""
    files_out: tuple[str, ...] = ()
    files_log: tuple[str, ...] = ()
    """``files-log=job.log.tgz``: the job's log files, sent to ``dir-out`` like ``files-out`` and
    staged out in every outcome where that is possible (a failed stage-in or payload too); a
    missing tarball log (``.tgz``, ``.tar.gz``) is made of the work dir by the library."""
    myproxy_server: Optional[str] = None
    """``myproxy-server=HOST[:PORT]``: fetch the user's proxy from this MyProxy server."""
    stagein_sources: tuple[str, ...] = ()
    stagein_destinations: tuple[str, ...] = ()
    stageout_sources: tuple[str, ...] = ()
    stageout_destinations: tuple[str, ...] = ()
    output_destinations: tuple[str, ...] = ()
    working_endpoint: Optional[str] = None
    data: tuple[str, ...] = ()
    passthrough: tuple[str, ...] = ()


#: The longest file name a POSIX file system takes, in bytes.
MAX_NAME_BYTES = 255


def check_file_name(name: str, token: str) -> None:
    """A file name must stay inside the work dir and be safe to log: not empty, no ``/``, not
    ``.`` or ``..``, no control character, no white space around it, at most 255 bytes, and not
    one of the library's own names (``.pilot-movers-...``, the report)."""
    if not name.strip():
        raise JobParamsError(token, "empty file name in the comma list")
    if "/" in name or name in (".", "..") or "\0" in name:
        raise JobParamsError(token, f"file name {name!r} would escape the work dir (no '/', '.' or '..')")
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or c in "\u2028\u2029" for c in name):
        raise JobParamsError(token, f"file name {name!r} holds a control character")
    if name != name.strip():
        raise JobParamsError(token, f"file name {name!r} has white space around it")
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        raise JobParamsError(token, f"file name {name[:40]!r}... is longer than {MAX_NAME_BYTES} bytes")
    if is_reserved(name):
        raise JobParamsError(
            token,
            f"file name {name!r} is one of pilot-movers' own (its temporary copies, proxies and report "
            f"carry {MARK!r} or are named {REPORT_NAME!r}): a job may not name them",
        )


def pair_sources(
    sources: tuple[str, ...], destinations: tuple[str, ...], src_flag: str, dst_flag: str
) -> list[tuple[str, str]]:
    """Pair sources with destinations: one destination for all, or one per source."""
    if not sources:
        if destinations:
            raise JobParamsError(dst_flag, f"{dst_flag} is given without {src_flag}")
        return []
    if len(destinations) == 1:
        return [(s, destinations[0]) for s in sources]
    if len(destinations) != len(sources):
        raise JobParamsError(
            dst_flag,
            f"{len(destinations)} destination(s) for {len(sources)} {src_flag} source(s): "
            "give one destination, or one per source",
        )
    return list(zip(sources, destinations))


def check_consistency(params: JobParams) -> None:
    """What needs more than one token: a file list needs its directory, a local mode an absolute
    path, a URL a scheme and a host (and no query); expected checksums and sizes one per input."""
    for key, values in (("checksums-in", params.checksums_in), ("sizes-in", params.sizes_in)):
        if values and len(values) != len(params.files_in):
            raise JobParamsError(
                f"{key}={','.join(map(str, values))}",
                f"{len(values)} value(s) for {len(params.files_in)} files-in file(s): give one per file, in order",
            )
    for side, mode, directory, files in (
        ("in", params.in_mode, params.dir_in, params.files_in),
        ("out", params.out_mode, params.dir_out, params.files_out + params.files_log),
    ):
        key = f"dir-{side}"
        if files and not directory:
            given = "files-in" if side == "in" else "files-out" if params.files_out else "files-log"
            raise JobParamsError(f"{given}={','.join(files)}", f"{given} is given but {key} is not")
        if not directory:
            continue
        token = f"{key}={directory}"
        if "://" in directory:
            try:
                location = Location.parse(directory)
            except ValueError as exc:
                raise JobParamsError(token, str(exc)) from None
            if (mode or "server") == "local" and not location.is_local:
                raise JobParamsError(token, f"{side}-mode=local needs a local directory, not a {location.scheme} URL")
        elif (mode or "server") == "local" and not directory.startswith("/"):
            raise JobParamsError(token, f"{side}-mode=local needs an absolute local path")
