"""Which files a phase moves, from where to where, and through which mover.

``plan(params, queue, workdir, phase)`` is a pure function of the job's parameters, the queue's
config and the movers installed (asked through a ``MoverCatalog``): the Job, ``--dry-run`` and a
submission tool's checks all see the same plan. Where each file lives:

* ``in-mode=local``: ``dir-in`` is a directory on this node (``file://`` or an absolute path);
* a URL ``dir-in`` is used as it is;
* a plain path is joined to the queue's storage element (``se`` after ``copyprefix``), or else
  to the Globus endpoint ``globus-endpoint-in`` (the endpoint wins when the phase's mover serves
  Globus locations);
* ``--StageinGOsrc``/``--StageinGOdest`` (and the stage-out pairs) are Globus locations as given;
  without ``--StageinGOdest`` the inputs land in the work dir (the Globus mover reaches it through
  the worker's endpoint); ``--Data`` files go to the ``--OutputGO`` directories.

The same holds for stage-out with ``out-mode``, ``dir-out``, ``globus-endpoint-out``. Inputs
land in the work dir, outputs are read from it.

Files a job's description lists (``files``: ``ListedFile``, PanDA's getJob) come after those of
the parameters: each at its own replica URL, or on a storage endpoint the queue's ``storages``
rule knows, with its expected size, checksum and metadata.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Optional, Protocol, Sequence

from job_params import JobParams, JobParamsError
from job_params.model import pair_sources
from pilot_movers import registry
from pilot_movers.copyprefix import apply_copyprefix
from pilot_movers.errors import ConfigurationError, MoverUnavailable, NoMoverForScheme, Phase, UnknownMover
from pilot_movers.listed_files import ListedFile
from pilot_movers.queue_config import QueueConfig
from pilot_movers.registry import ResolvedMover
from pilot_movers.values import GLOBUS, FileSpec, Location, Role

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlannedFile:
    """One file of a phase and the mover that will move it; ``fallbacks``: the mover for each of
    the file's alternative remote ends (``spec.alternatives``), in the same order. Movers are
    resolved (their class with their name): the plan's users open them, never look them up."""

    mover: ResolvedMover
    spec: FileSpec
    fallbacks: tuple[ResolvedMover, ...] = ()

    def __post_init__(self) -> None:
        if len(self.fallbacks) != len(self.spec.alternatives):
            raise ValueError(f"{self.spec.name}: one fallback mover per alternative end")

    @property
    def movers(self) -> tuple[ResolvedMover, ...]:
        """Every mover this file may need: its own, then its fallbacks'."""
        return (self.mover, *self.fallbacks)

    def failed_over(self) -> PlannedFile:
        """The file at its next alternative end, on that end's mover."""
        return PlannedFile(self.fallbacks[0], self.spec.next_alternative(), self.fallbacks[1:])


class MoverCatalog(Protocol):
    """What the planner needs to know of the installed movers: each resolved, once."""

    def default_for(self, scheme: str) -> ResolvedMover:
        """The mover serving ``scheme`` when queue config names none."""

    def resolve(self, name: str) -> ResolvedMover:
        """The mover named ``name`` (queue config's copytool list, a Pilot 3 copytool's movers)."""


class InstalledMovers:
    """The movers installed here, through the registry (entry points)."""

    def default_for(self, scheme: str) -> ResolvedMover:
        return registry.resolve_mover(registry.mover_for_scheme(scheme))

    def resolve(self, name: str) -> ResolvedMover:
        return registry.resolve_mover(name)


def plan(
    params: JobParams,
    queue: QueueConfig,
    workdir: str,
    phase: Phase,
    *,
    catalog: Optional[MoverCatalog] = None,
    files: Sequence[ListedFile] = (),
) -> tuple[PlannedFile, ...]:
    """The files of ``phase`` (stage-in or stage-out), each with its mover: those of the job
    parameters, then those of ``files`` (a job description's list) in their role.

    Raises JobParamsError (naming the token) for parameters the queue cannot resolve, and
    ConfigurationError when the queue's mover cannot handle a file's URL.
    """
    catalog = catalog or InstalledMovers()
    if phase is Phase.STAGE_IN:
        specs = _stage_in(params, queue, workdir, catalog)
    elif phase is Phase.STAGE_OUT:
        specs = _stage_out(params, queue, workdir, catalog)
    else:
        raise ValueError(f"only stage-in and stage-out move files, not {phase.value}")
    role = Role.INPUT if phase is Phase.STAGE_IN else Role.OUTPUT
    specs += [_listed(item, queue, workdir) for item in files if item.role is role]
    _check_unique(specs)
    return tuple(planned_file(spec, phase, queue.mover_names(phase), catalog, queue.mover_key(phase)) for spec in specs)


def planned_file(
    spec: FileSpec,
    phase: Phase,
    named: Sequence[str] = (),
    catalog: Optional[MoverCatalog] = None,
    rule: str = "copytool",
) -> PlannedFile:
    """``spec`` with its mover (``choose_mover`` under ``named``, the queue's copytool list or a
    Pilot 3 copytool's movers) and a mover for each alternative end, each resolved. Ends no mover
    named here handles, and alternative ends whose mover is not installed or cannot run here, are
    dropped, in the log, when another end is reachable: the first reachable one is tried first.
    The file's own end's mover that cannot run here is its error (MoverUnavailable, UnknownMover);
    ConfigurationError when no end is reachable."""
    catalog = catalog or InstalledMovers()
    if spec.source.is_local and spec.destination.is_local:
        return PlannedFile(catalog.default_for("file"), replace(spec, alternatives=()))
    reachable: list[tuple[Location, ResolvedMover]] = []
    refused: list[tuple[Location, ConfigurationError]] = []
    own = spec.remote(phase)
    for end in (own, *spec.alternatives):
        try:
            reachable.append((end, choose_mover(end.scheme, named, catalog)))
        except NoMoverForScheme as exc:
            refused.append((end, exc))
        except (UnknownMover, MoverUnavailable) as exc:
            if end == own:
                raise
            refused.append((end, exc))
    if not reachable:
        unusable = [why for _, why in refused if not isinstance(why, NoMoverForScheme)]
        if unusable:
            raise unusable[0]
        where, why = refused[0]
        raise ConfigurationError(
            f"{rule} = {', '.join(named)}, but {spec.name} is at {where.url} "
            f"({why.message.partition('(')[2].rstrip(')')})",
            phase=phase,
            file=spec.name,
        ) from None
    for where, why in refused:
        log.info("%s: %s left out (%s)", spec.name, where.url, why.message)
    (first, mover), others = reachable[0], reachable[1:]
    if first != own:
        spec = replace(spec, source=first) if spec.role is Role.INPUT else replace(spec, destination=first)
    spec = replace(spec, alternatives=tuple(end for end, _ in others))
    return PlannedFile(mover, spec, tuple(chosen for _, chosen in others))


def _stage_in(params: JobParams, queue: QueueConfig, workdir: str, catalog: MoverCatalog) -> list[FileSpec]:
    here = Location.local(workdir)
    specs: list[FileSpec] = []
    if params.files_in:
        base = _remote_base(params, Phase.STAGE_IN, queue, catalog)
        sizes = params.sizes_in or (None,) * len(params.files_in)
        checksums = params.checksums_in or (None,) * len(params.files_in)
        specs += [
            FileSpec(name, base.join(name), here.join(name), Role.INPUT, size, checksum)
            for name, size, checksum in zip(params.files_in, sizes, checksums)
        ]
    if params.stagein_sources and not params.stagein_destinations:  # into the work dir
        for source in params.stagein_sources:
            src = _globus(source, "--StageinGOsrc")
            specs.append(FileSpec(src.name, src, here.join(src.name), Role.INPUT))
        return specs
    for source, destination in pair_sources(
        params.stagein_sources, params.stagein_destinations, "--StageinGOsrc", "--StageinGOdest"
    ):
        src = _globus(source, "--StageinGOsrc")
        specs.append(FileSpec(src.name, src, _target(destination, src.name, "--StageinGOdest"), Role.INPUT))
    return specs


def _stage_out(params: JobParams, queue: QueueConfig, workdir: str, catalog: MoverCatalog) -> list[FileSpec]:
    here = Location.local(workdir)
    specs: list[FileSpec] = []
    if params.files_out or params.files_log:
        base = _remote_base(params, Phase.STAGE_OUT, queue, catalog)
        specs += [FileSpec(name, here.join(name), base.join(name), Role.OUTPUT) for name in params.files_out]
        specs += [
            FileSpec(name, here.join(name), base.join(name), Role.OUTPUT, metadata={"kind": "log"})
            for name in params.files_log
        ]
    for name, destination in pair_sources(params.data, params.output_destinations, "--Data", "--OutputGO"):
        specs.append(FileSpec(name, here.join(name), _globus(destination, "--OutputGO").join(name), Role.OUTPUT))
    for source, destination in pair_sources(
        params.stageout_sources, params.stageout_destinations, "--StageoutGOsrc", "--StageoutGOdest"
    ):
        src = _globus(source, "--StageoutGOsrc")
        specs.append(FileSpec(src.name, src, _target(destination, src.name, "--StageoutGOdest"), Role.OUTPUT))
    return specs


def _remote_base(params: JobParams, phase: Phase, queue: QueueConfig, catalog: MoverCatalog) -> Location:
    """Where the files of ``files-in`` (stage-in) or ``files-out`` (stage-out) live."""
    if phase is Phase.STAGE_IN:
        side, mode, directory, endpoint = "in", params.in_mode, params.dir_in, params.endpoint_in
    else:
        side, mode, directory, endpoint = "out", params.out_mode, params.dir_out, params.endpoint_out
    key = f"dir-{side}"
    if not directory:
        given = f"files-{side}" if side == "in" or params.files_out else "files-log"
        raise JobParamsError(given, f"{given} is given but {key} is not")
    token = f"{key}={directory}"
    try:
        if (mode or "server") == "local":
            if directory.startswith("file://"):
                return Location.parse(directory)
            if not directory.startswith("/"):
                raise JobParamsError(token, f"{side}-mode=local needs an absolute local path")
            return Location.local(directory)
        if "://" in directory:
            return Location.parse(directory)
        path = directory if directory.startswith("/") else "/" + directory
        configured = queue.mover_name(phase)
        globus_first = configured is not None and GLOBUS in catalog.resolve(configured).schemes
        if endpoint and (globus_first or not queue.se):
            return Location(GLOBUS, endpoint, path)
        if queue.se:
            prefix = queue.copyprefix_for(phase)
            base = apply_copyprefix(queue.se, prefix, queue.source) if prefix else queue.se
            return Location.parse(base.rstrip("/") + "/" + path.lstrip("/"))
    except ValueError as exc:
        raise JobParamsError(token, str(exc)) from None
    raise JobParamsError(
        token, f"a plain path needs a storage element URL (queue config 'se') or globus-endpoint-{side}"
    )


#: Where a job description names each file's storage endpoint (PanDA's fields).
_STORAGE_FIELD = {Role.INPUT: "ddmEndPointIn", Role.OUTPUT: "ddmEndPointOut"}


def _listed(item: ListedFile, queue: QueueConfig, workdir: str) -> FileSpec:
    """A listed file between the work dir and its replica (its own URL, or its storage's)."""
    alternatives: tuple[Location, ...] = ()
    if not item.replicas and not item.storage:
        raise JobParamsError(
            item.name,
            f"no storage endpoint for it in the job description ({_STORAGE_FIELD[item.role]} is empty for "
            "this file) and no replica given (--replicas)",
        )
    phase = Phase.STAGE_IN if item.role is Role.INPUT else Phase.STAGE_OUT
    try:
        if item.replicas:
            remote, *others = [Location.parse(url) for url in item.replicas]
        else:
            prefixes = list(queue.storage_urls(item.storage or "", phase))
            if item.role is Role.OUTPUT:  # the queue's other output storages, after the file's own
                for name in queue.panda.output_storages:
                    if name.casefold() != (item.storage or "").casefold():
                        prefixes += queue.storage_urls(name, phase, key="[panda] output_storages")
            remote, *others = [Location.parse(prefix).join(item.relative_path) for prefix in dict.fromkeys(prefixes)]
        alternatives = tuple(others)
    except ValueError as exc:
        raise JobParamsError(f"{item.name}: {', '.join(item.replicas) or item.storage}", str(exc)) from None
    local = Location.local(workdir).join(item.name)
    source, destination = (remote, local) if item.role is Role.INPUT else (local, remote)
    return FileSpec(item.name, source, destination, item.role, item.size, item.checksum, item.metadata, alternatives)


def choose_mover(scheme: str, named: Sequence[str] = (), catalog: Optional[MoverCatalog] = None) -> ResolvedMover:
    """The one rule, wherever a mover is chosen for a URL: the first of ``named`` (queue config's
    ``copytool`` list, a Pilot 3 copytool's movers) that handles ``scheme``; with none named, the
    scheme's default; resolved. NoMoverForScheme when movers are named and none handles it."""
    catalog = catalog or InstalledMovers()
    if not named:
        return catalog.default_for(scheme)
    for name in named:
        mover = catalog.resolve(name)
        if scheme in mover.schemes:
            return mover
    movers = [catalog.resolve(name) for name in named]
    handled = "; ".join(f"{m.name!r} handles {', '.join(m.schemes) or 'local files only'}" for m in movers)
    raise NoMoverForScheme(f"none of {', '.join(named)} handles {scheme}:// ({handled})")


def _globus(text: str, flag: str) -> Location:
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


def _check_unique(specs: list[FileSpec]) -> None:
    seen: set[str] = set()
    for spec in specs:
        key = spec.destination.url
        if key in seen:
            raise JobParamsError(spec.name, f"two files would be written to {key}")
        seen.add(key)
