"""PanDA's description of a job (the dispatcher's getJob response), read the way Pilot 3 reads it
(``pilot/info/jobdata.py``), into a ``PandaJob``.

* ``PandaID``; ``jobPars``, the payload's command line, kept as it came: its job parameter tokens
  move data only where the queue says so (``PandaJob.params_for``, queue config ``[panda]``);
* inputs: ``inFiles`` with, per file, ``fsize``, ``checksum`` (``ad:``/``md5:``; a bare value is
  adler32, as Pilot 3 reads it), ``scopeIn``, ``GUID``, ``realDatasetsIn``, ``ddmEndPointIn``;
* outputs: ``outFiles`` with ``realDatasets``, ``ddmEndPointOut`` and ``scopeOut``; the log
  (``logFile``, ``logGUID``, ``scopeLog``) is the ``outFiles`` entry of that name, and
  ``scopeOut`` holds one scope per output besides it (PanDA's shape);
* ``destinationSE``.

Lists are comma-separated strings (or JSON lists) and must agree in length: a list that does not
is refused, naming the field and both lengths (``PandaJobError``: BADJOBPARAMETERS, 9001, never
retried). ``NULL`` is no value; ``inFiles`` entries that are empty or ``NULL`` are skipped, as
Pilot 3 skips them.

Where Pilot 3 is lenient, so is this reader, and each thing it assumed is said
(``PandaJob.assumed``, in the log and the report's setup notes):

* one value of ``scopeIn``, ``realDatasetsIn``, ``ddmEndPointIn``, ``realDatasets`` or
  ``ddmEndPointOut`` for several files holds for all of them (Pilot 3's own ``get_fake_job()``
  gives one ``realDatasets`` for outputs and log); one ``GUID`` is the first file's;
* ``scopeOut`` with one value per ``outFiles`` entry, the log's included, is read by position;
* ``fsize`` as ``"100000.0"`` is 100000 bytes;
* a ``zip://`` name is the file's name without it (Pilot 3 marks the file as a zip of files);
* a file listed twice is the first listing (Pilot 3 skips later ones, whatever they say).

The file may be the job itself, the dispatcher's answer holding one job (``{"jobs": [...]}``), or
one job keyed by its id.
"""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence, Union

import job_params
from job_params import JobParams, JobParamsError
from job_params.model import check_file_name
from job_params.syntax import FLAGS, KEYS
from pilot_movers.checksums import Checksum
from pilot_movers.errors import BadJobParameters, MoverError
from pilot_movers.listed_files import ListedFile
from pilot_movers.panda.rucio_paths import rucio_path
from pilot_movers.panda.trust import PandaOptions
from pilot_movers.values import Role

INPUT_LISTS = ("fsize", "checksum", "scopeIn", "GUID", "realDatasetsIn", "ddmEndPointIn")
OUTPUT_LISTS = ("realDatasets", "ddmEndPointOut")
_NULL = ("", "NULL")


class PandaJobError(BadJobParameters):
    """A job description that cannot be used: names the field and why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"PanDA job description: {field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class PandaFile:
    """One file of a PanDA job, with what the catalogue says of it."""

    lfn: str
    kind: str
    """``input``, ``output`` or ``log``."""
    scope: Optional[str] = None
    guid: Optional[str] = None
    dataset: Optional[str] = None
    ddmendpoint: Optional[str] = None
    size: Optional[int] = None
    checksum: Optional[Checksum] = None

    def metadata(self) -> dict[str, str]:
        """What the report carries of it: kind, scope, GUID, dataset, storage endpoint."""
        values = {
            "kind": self.kind,
            "scope": self.scope,
            "guid": self.guid,
            "dataset": self.dataset,
            "ddmendpoint": self.ddmendpoint,
        }
        return {key: value for key, value in values.items() if value}

    def listed(self, replicas: Sequence[str] = ()) -> ListedFile:
        """This file as a planning input: at ``replicas`` (best first) when given, else on its
        storage endpoint at the path Rucio gives it there."""
        return ListedFile(
            self.lfn,
            Role.INPUT if self.kind == "input" else Role.OUTPUT,
            self.size,
            self.checksum,
            replicas=tuple(replicas),
            storage=None if replicas else self.ddmendpoint,
            path=rucio_path(self.scope, self.lfn) if self.scope else None,
            metadata=self.metadata(),
        )


@dataclass(frozen=True)
class Steering:
    """What moves a PanDA job's data besides its file fields: job parameters, whether they are the
    user's own (``jobPars``: then only a user's proxy from MyProxy may move them), and the
    ``jobPars`` tokens left unheeded (the log names them)."""

    params: JobParams
    from_user: bool
    ignored: tuple[str, ...] = ()

    @property
    def note(self) -> Optional[str]:
        if not self.ignored:
            return None
        shown = " ".join(self.ignored[:4]) + (" ..." if len(self.ignored) > 4 else "")
        return (
            f"jobPars holds {len(self.ignored)} job parameter token(s) ({shown}): not honoured, this queue "
            "lets jobPars steer no data movement ([panda] data_in_jobpars)"
        )


@dataclass(frozen=True)
class PandaJob:
    panda_id: int
    jobpars: str
    """The payload's command line (``jobPars``), as the description gives it."""
    inputs: tuple[PandaFile, ...] = ()
    outputs: tuple[PandaFile, ...] = ()
    """The outputs besides the log."""
    log: Optional[PandaFile] = None
    destination_se: Optional[str] = None
    assumed: tuple[str, ...] = ()
    """What was read leniently, as Pilot 3 reads it (one value for several files...)."""

    @classmethod
    def load(cls, path: Union[str, os.PathLike[str]]) -> PandaJob:
        """Read a job description from a JSON file."""
        where = os.fspath(path)
        try:
            with open(where, encoding="utf-8") as handle:
                data = json.load(handle)
        except UnicodeDecodeError as exc:
            raise PandaJobError(where, f"not UTF-8 text (byte {exc.start})") from None
        except json.JSONDecodeError as exc:
            raise PandaJobError(where, f"not valid JSON: {exc}") from None
        except OSError as exc:
            raise PandaJobError(where, f"cannot read it: {exc.strerror}") from None
        if not isinstance(data, Mapping):
            raise PandaJobError(where, "the top level must be an object")
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PandaJob:
        job = _the_job(data)
        panda_id = _panda_id(job.get("PandaID"))
        jobpars = _text(job.get("jobPars"), "jobPars") or ""
        assumed: list[str] = []
        inputs = _inputs(job, assumed)
        outputs, log = _outputs(job, assumed)
        destination = _text(job.get("destinationSE"), "destinationSE")
        destination = None if destination in _NULL else destination
        return cls(panda_id, jobpars, inputs, outputs, log, destination, tuple(dict.fromkeys(assumed)))

    def steering(self, options: PandaOptions) -> Steering:
        """The job parameters that steer this job's data movement: none from ``jobPars`` (a
        user's own text) unless ``options.data_in_jobpars``; then ``jobPars`` parsed, a bad token
        named (PandaJobError)."""
        tokens = self.data_tokens()
        if not options.data_in_jobpars:
            return Steering(JobParams(), from_user=False, ignored=tokens)
        try:
            params = job_params.parse(self.jobpars)
        except JobParamsError as exc:
            raise PandaJobError("jobPars", exc.message) from None
        return Steering(params, from_user=bool(tokens))

    def data_tokens(self) -> tuple[str, ...]:
        """The job parameter tokens in ``jobPars`` (``dir-in=...``, ``--Data``...): what the
        queue would honour with ``[panda] data_in_jobpars``, named in the log when it does not."""
        try:
            tokens = shlex.split(self.jobpars)
        except ValueError:
            tokens = self.jobpars.split()
        return tuple(token for token in tokens if token.partition("=")[0] in KEYS or token.partition("=")[0] in FLAGS)

    @property
    def files(self) -> tuple[PandaFile, ...]:
        return self.inputs + self.outputs + ((self.log,) if self.log else ())

    def listed_files(
        self, replicas: Optional[Mapping[str, Union[str, Sequence[str]]]] = None
    ) -> tuple[ListedFile, ...]:
        """Every file as a planning input; ``replicas``: per file name where one is known, a URL
        or several (best first, as ``panda.replicas.parse_replicas`` reads them)."""
        replicas = {name: (urls,) if isinstance(urls, str) else tuple(urls) for name, urls in (replicas or {}).items()}
        names = {item.lfn for item in self.files}
        unknown = sorted(set(replicas) - names)
        if unknown:
            raise PandaJobError("replicas", f"{', '.join(unknown)}: not a file of job {self.panda_id}")
        return tuple(item.listed(replicas.get(item.lfn, ())) for item in self.files)

    def metadata(self) -> dict[str, Any]:
        """What the report says of the job: its PanDA id and destination."""
        values = {"source": "panda", "panda_id": self.panda_id, "destination_se": self.destination_se}
        return {key: value for key, value in values.items() if value is not None}


def _the_job(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """The job in a description file: the job itself, ``{"jobs": [job]}``, or ``{id: job}``."""
    if "PandaID" in data:
        return data
    jobs = data.get("jobs")
    if isinstance(jobs, list):
        if len(jobs) != 1 or not isinstance(jobs[0], Mapping):
            raise PandaJobError("jobs", f"holds {len(jobs)} job(s): give one")
        return _the_job(jobs[0])
    if len(data) == 1:
        (value,) = data.values()
        if isinstance(value, Mapping) and "PandaID" in value:
            return value
    status = data.get("StatusCode")
    if status not in (None, 0, "0"):
        raise PandaJobError("StatusCode", f"the dispatcher answered {status!r}: it sent no job")
    raise PandaJobError("PandaID", "missing: this is not a PanDA job description")


def _panda_id(raw: Any) -> int:
    if isinstance(raw, bool) or not (isinstance(raw, int) or (isinstance(raw, str) and raw.strip().isdigit())):
        raise PandaJobError("PandaID", f"{raw!r} is not a job id (a whole number)")
    return int(raw)


def _text(raw: Any, field: str) -> Optional[str]:
    if raw is None:
        return None
    if not isinstance(raw, (str, int)) or isinstance(raw, bool):
        raise PandaJobError(field, f"expected text, not {type(raw).__name__}")
    return str(raw)


def _items(job: Mapping[str, Any], field: str) -> list[Optional[str]]:
    """A comma list (a string, or a JSON list) as items; ``NULL`` and empty items are None."""
    raw = job.get(field)
    if raw is None or raw == "":
        return []
    items: list[Optional[str]]
    if isinstance(raw, (list, tuple)):
        items = [_text(item, field) for item in raw]
    else:
        items = list((_text(raw, field) or "").split(","))
    return [None if item is None or item.strip() in _NULL else item.strip() for item in items]


#: Lists whose one value, given for several files, holds for all of them (as a task's files share
#: a scope, a dataset, a storage endpoint).
SHARED_LISTS = ("scopeIn", "realDatasetsIn", "ddmEndPointIn", "realDatasets", "ddmEndPointOut")
#: Lists whose one value, given for several files, is the first file's (a GUID names one file).
FIRST_ONLY_LISTS = ("GUID",)


def _aligned(
    job: Mapping[str, Any], fields: Sequence[str], anchor: str, count: int, assumed: list[str]
) -> dict[str, list[Optional[str]]]:
    """Each of ``fields`` as a list of ``count`` items (all None when the field is absent)."""
    found = {}
    for field in fields:
        items = _items(job, field)
        if len(items) == 1 and count > 1 and field in SHARED_LISTS:
            assumed.append(f"{field}: one value for {count} files in {anchor}: taken for each")
            items = items * count
        elif len(items) == 1 and count > 1 and field in FIRST_ONLY_LISTS:
            assumed.append(f"{field}: one value for {count} files in {anchor}: the first file's, the others have none")
            items = items + [None] * (count - 1)
        if items and len(items) != count:
            raise PandaJobError(field, f"{len(items)} value(s), but {anchor} lists {count} file(s): give one per file")
        found[field] = items or [None] * count
    return found


def _lfn(raw: str, field: str, assumed: list[str]) -> str:
    """A file name as Pilot 3 cleans it: ``zip://NAME`` is NAME (a zip of files)."""
    if raw.startswith("zip://"):
        assumed.append(f"{field}: {raw}: the file {raw[len('zip://') :]} (a zip of files, as Pilot 3 reads it)")
        raw = raw[len("zip://") :]
    _check_name(raw, field)
    return raw


def _inputs(job: Mapping[str, Any], assumed: list[str]) -> tuple[PandaFile, ...]:
    names = _items(job, "inFiles")
    lists = _aligned(job, INPUT_LISTS, "inFiles", len(names), assumed)
    files: dict[str, PandaFile] = {}
    for index, lfn in enumerate(names):
        if lfn is None:
            continue
        lfn = _lfn(lfn, "inFiles", assumed)
        item = PandaFile(
            lfn,
            "input",
            scope=lists["scopeIn"][index],
            guid=lists["GUID"][index],
            dataset=lists["realDatasetsIn"][index],
            ddmendpoint=lists["ddmEndPointIn"][index],
            size=_size(lists["fsize"][index], assumed),
            checksum=_checksum(lists["checksum"][index]),
        )
        _add_once(files, item, "inFiles", assumed)
    return tuple(files.values())


def _outputs(job: Mapping[str, Any], assumed: list[str]) -> tuple[tuple[PandaFile, ...], Optional[PandaFile]]:
    names = _items(job, "outFiles")
    lists = _aligned(job, OUTPUT_LISTS, "outFiles", len(names), assumed)
    log_name = _text(job.get("logFile"), "logFile")
    log_name = None if log_name is None or log_name.strip() in _NULL else log_name.strip()
    if log_name is not None and log_name not in names:
        raise PandaJobError("logFile", f"{log_name} is not among outFiles (PanDA lists the log with the outputs)")
    others = sum(1 for name in names if name != log_name)
    scopes = _items(job, "scopeOut")
    by_position = log_name is not None and len(scopes) == len(names) and len(names) > others
    if by_position:
        assumed.append("scopeOut: one value per outFiles entry, the log's included: read by position")
    elif len(scopes) == 1 and others > 1:
        assumed.append(f"scopeOut: one value for {others} outputs: taken for each")
        scopes = scopes * others
    elif scopes and len(scopes) != others:
        raise PandaJobError(
            "scopeOut",
            f"{len(scopes)} value(s), but outFiles lists {others} file(s) besides the log: give one per file",
        )
    scopes = scopes or [None] * others
    scope_log = _text(job.get("scopeLog"), "scopeLog")
    files: dict[str, PandaFile] = {}
    log = None
    for index, lfn in enumerate(names):
        if by_position:
            scope = scopes[index] if lfn != log_name or scope_log in (None, *_NULL) else scope_log
        else:
            scope = scope_log if lfn == log_name else scopes.pop(0)
        if lfn is None:
            continue
        is_log = lfn == log_name
        lfn = _lfn(lfn, "outFiles", assumed)
        item = PandaFile(
            lfn,
            "log" if is_log else "output",
            scope=None if scope in _NULL else scope,
            guid=_text(job.get("logGUID"), "logGUID") if is_log else None,
            dataset=lists["realDatasets"][index],
            ddmendpoint=lists["ddmEndPointOut"][index],
        )
        if is_log:
            log = item
        else:
            _add_once(files, item, "outFiles", assumed)
    return tuple(files.values()), log


def _check_name(lfn: str, field: str) -> None:
    try:
        check_file_name(lfn, lfn)
    except JobParamsError as exc:
        raise PandaJobError(field, exc.reason) from None


def _add_once(files: dict[str, PandaFile], item: PandaFile, field: str, assumed: list[str]) -> None:
    """A file listed twice is its first listing, as Pilot 3 reads it (said when they differ)."""
    earlier = files.get(item.lfn)
    if earlier is not None and earlier != item:
        differ = [
            name
            for name in ("scope", "guid", "dataset", "ddmendpoint", "size", "checksum")
            if getattr(earlier, name) != getattr(item, name)
        ]
        assumed.append(f"{field}: {item.lfn} is listed twice ({', '.join(differ)} differ): the first listing is used")
    files.setdefault(item.lfn, item)


def _size(text: Optional[str], assumed: list[str]) -> Optional[int]:
    if text is None:
        return None
    if text.isdigit():
        return int(text)
    whole, dot, fraction = text.partition(".")
    if dot and whole.isdigit() and fraction.strip("0") == "":
        assumed.append(f"fsize: {text!r} read as {int(whole)} bytes")
        return int(whole)
    raise PandaJobError("fsize", f"{text!r} is not a size in bytes")


def _checksum(text: Optional[str]) -> Optional[Checksum]:
    if text is None:
        return None
    try:
        return Checksum.parse(text) if ":" in text else Checksum("adler32", text)
    except (ValueError, MoverError) as exc:
        raise PandaJobError("checksum", getattr(exc, "message", None) or str(exc)) from None
