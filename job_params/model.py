"""The JobParams value and how it expands into the files to stage in and out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Optional

from job_params.errors import JobParamsError

if TYPE_CHECKING:
    from pilot_movers.values import FileSpec, Location

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
    files_out: tuple[str, ...] = ()
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

    def stage_in_specs(self, workdir: str, *, storage: Optional[str] = None) -> tuple[FileSpec, ...]:
        """The files to bring into ``workdir`` before the payload runs.

        Where each source lives (see the README's "Where files live"):
        ``in-mode=local``: ``dir-in`` is a directory on this node. ``in-mode=server`` (the
        default): ``dir-in`` is a full URL, or a path joined to ``storage`` (the queue's storage
        element URL) when given, or else a path on the Globus endpoint ``globus-endpoint-in``.
        ``--StageinGOsrc``/``--StageinGOdest`` pairs are Globus transfers as given.
        """
        from pilot_movers.values import FileSpec, Location, Role

        specs: list[FileSpec] = []
        if self.files_in:
            base = _remote_base(self.in_mode, self.dir_in, storage, self.endpoint_in, "in")
            here = Location.local(workdir)
            for name in self.files_in:
                specs.append(FileSpec(name, base.join(name), here.join(name), Role.INPUT))
        for source, destination in pair_sources(
            self.stagein_sources, self.stagein_destinations, "--StageinGOsrc", "--StageinGOdest"
        ):
            src = _globus(source, "--StageinGOsrc")
            specs.append(FileSpec(src.name, src, _target(destination, src.name, "--StageinGOdest")))
        return _unique(specs, lambda spec: spec.destination.url)

    def stage_out_specs(self, workdir: str, *, storage: Optional[str] = None) -> tuple[FileSpec, ...]:
        """The files to send from ``workdir`` after the payload ran (rules as for stage-in,
        with ``out-mode``, ``dir-out``, ``globus-endpoint-out``; ``--Data`` files go to
        ``--OutputGO`` directories; ``--StageoutGOsrc``/``--StageoutGOdest`` pairs as given)."""
        from pilot_movers.values import FileSpec, Location, Role

        here = Location.local(workdir)
        specs: list[FileSpec] = []
        if self.files_out:
            base = _remote_base(self.out_mode, self.dir_out, storage, self.endpoint_out, "out")
            for name in self.files_out:
                specs.append(FileSpec(name, here.join(name), base.join(name), Role.OUTPUT))
        for name, destination in pair_sources(self.data, self.output_destinations, "--Data", "--OutputGO"):
            dest = _globus(destination, "--OutputGO").join(name)
            specs.append(FileSpec(name, here.join(name), dest, Role.OUTPUT))
        for source, destination in pair_sources(
            self.stageout_sources, self.stageout_destinations, "--StageoutGOsrc", "--StageoutGOdest"
        ):
            src = _globus(source, "--StageoutGOsrc")
            dest = _target(destination, src.name, "--StageoutGOdest")
            specs.append(FileSpec(src.name, src, dest, Role.OUTPUT))
        return _unique(specs, lambda spec: spec.destination.url)


def check_file_name(name: str, token: str) -> None:
    """A file name must stay inside the work dir: no empty name, no ``/``, not ``.`` or ``..``."""
    if not name.strip():
        raise JobParamsError(token, "empty file name in the comma list")
    if "/" in name or name in (".", "..") or "\0" in name:
        raise JobParamsError(token, f"file name {name!r} would escape the work dir (no '/', '.' or '..')")


def _remote_base(
    mode: Optional[str], directory: Optional[str], storage: Optional[str], endpoint: Optional[str], side: str
) -> Location:
    from pilot_movers.values import Location

    key = f"dir-{side}"
    if not directory:
        raise JobParamsError(f"files-{side}", f"files-{side} is given but {key} is not")
    try:
        if (mode or "server") == "local":
            if directory.startswith("file://"):
                return Location.parse(directory)
            if not directory.startswith("/"):
                raise JobParamsError(f"{key}={directory}", f"{side}-mode=local needs an absolute local path")
            return Location.local(directory)
        if "://" in directory:
            return Location.parse(directory)
        if storage:
            return Location.parse(storage.rstrip("/") + "/" + directory.lstrip("/"))
        if endpoint:
            return Location("globus", endpoint, directory if directory.startswith("/") else "/" + directory)
    except ValueError as exc:
        raise JobParamsError(f"{key}={directory}", str(exc)) from None
    raise JobParamsError(
        f"{key}={directory}",
        f"a plain path needs a storage element URL (queue config 'se') or globus-endpoint-{side}",
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


def _globus(text: str, flag: str) -> Location:
    from pilot_movers.values import Location

    try:
        location = Location.parse(text)
    except ValueError as exc:
        raise JobParamsError(f"{flag}={text}", str(exc)) from None
    if not location.is_globus:
        raise JobParamsError(f"{flag}={text}", "expected a Globus ENDPOINT:/path")
    return location


def _target(text: str, name: str, flag: str) -> Location:
    """A destination ending in ``/`` is a directory that receives ``name``."""
    location = _globus(text, flag)
    return location.join(name) if text.endswith("/") else location


def _unique(specs: list[FileSpec], key: Callable[[FileSpec], str]) -> tuple[FileSpec, ...]:
    seen: dict[str, FileSpec] = {}
    for spec in specs:
        k = key(spec)
        if k in seen:
            raise JobParamsError(spec.name, f"two files would be written to {k}")
        seen[k] = spec
    return tuple(specs)
