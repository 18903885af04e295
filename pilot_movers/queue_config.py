"""Queue configuration: how a site moves data (job parameters say where, this says how).

JSON::

    {"copytool": "gridftp", "copytoolin": "gridftp", "se": "gsiftp://se.example.org:2811",
     "copyprefix": "^gsiftp://se.example.org^gsiftp://door.example.org",
     "transfer": {"max_attempts": 3, "concurrency": 8},
     "movers": {"local": {"mode": "symlink"}},
     "myproxy": {"server": "myproxy.example.org", "retrieve_with": "pilot-proxy"},
     "credentials": {"min_lifetime": 7200},
     "payload": {"timeout": "12h"}}

INI: the same keys, top-level ones in ``[queue]``, then ``[transfer]``, ``[myproxy]``,
``[credentials]``, ``[payload]``, ``[storages]`` and one ``[mover:NAME]`` section per mover. A
mover's section may also be named after the mover alone (``[globus]``, or a top-level ``"globus"``
object in JSON).

``copytool``/``copytoolin`` may name several movers (``xrootd, gridftp``): each file goes to the
first that handles its URL. ``storages`` maps storage endpoint names (a job's description names
where its files are, PanDA's ``ddmEndPointIn``) to URL prefixes.

A PanDA queuedata JSON (what a site maintains in CRIC: ``copytools``, ``acopytools``...) is
recognised and read as well (``pilot_movers.panda.queuedata``).

``load`` reads every section into typed values and checks them, and checks that the movers it
names are installed and their options valid: a bad queue config is refused before a job starts,
with the file, section, key and value named.
"""

from __future__ import annotations

import configparser
import dataclasses
import json
import os
import re
import stat
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Optional, Union

from pilot_movers.config_values import describe_range, describe_value, parse_options, shorten
from pilot_movers.copyprefix import apply_copyprefix, parse_copyprefix
from pilot_movers.credentials.myproxy import MyProxyOptions
from pilot_movers.credentials.policy import CredentialPolicy
from pilot_movers.engine.settings import TransferSettings
from pilot_movers.errors import ConfigurationError, MoverError, Phase
from pilot_movers.panda.ddmendpoints import ACTIVITIES, StorageEndpoint, read_ddmendpoints
from pilot_movers.panda.queuedata import is_queuedata, queuedata_to_config
from pilot_movers.panda.trust import PandaOptions
from pilot_movers.payload import PayloadSettings
from pilot_movers.registry import get_mover_class, mover_names
from pilot_movers.values import Location

#: The most bytes a queue config file may have: a queue config is a few KiB; a larger file is
#: not one (``/dev/zero``, a log file given by mistake) and is refused without being read.
MAX_SIZE = 128 << 20  # a queue config is a few KiB; CRIC's dump of every queue, tens of MiB
#: The deepest JSON a queue config may nest (its sections nest 4 levels; PanDA queuedata a few more).
MAX_NESTING = 32
TOP_LEVEL_KEYS = ("copytool", "copytoolin", "se", "copyprefix", "copyprefixin")
SECTIONS = ("transfer", "movers", "myproxy", "credentials", "payload", "storages", "panda")


@dataclass(frozen=True)
class QueueConfig:
    """PanDA schedconfig-style keys plus typed sections, one of options per mover."""

    copytool: Optional[str] = None
    """Mover for stage-out, and for stage-in unless ``copytoolin`` is set."""
    copytoolin: Optional[str] = None
    se: Optional[str] = None
    """Storage element URL that plain ``dir-in``/``dir-out`` paths are joined to."""
    copyprefix: Optional[str] = None
    """``^from^to`` rewrite applied to the storage URL (PanDA form; comma list allowed)."""
    copyprefixin: Optional[str] = None
    transfer: TransferSettings = field(default_factory=TransferSettings)
    movers: Mapping[str, Any] = field(default_factory=dict)
    """Mover name -> its parsed ``Options`` (only movers the config has a section for)."""
    myproxy: MyProxyOptions = field(default_factory=MyProxyOptions)
    credentials: CredentialPolicy = field(default_factory=CredentialPolicy)
    payload: PayloadSettings = field(default_factory=PayloadSettings)
    panda: PandaOptions = field(default_factory=PandaOptions)
    """What a PanDA job description may steer: ``jobPars`` moves no data unless this says so."""
    storages: Mapping[str, str] = field(default_factory=dict)
    """Storage endpoint name (case-insensitive) -> URL prefix: where a job description's files
    on that storage are."""
    storage_others: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Storage endpoint name -> further URL prefixes (a list given in ``storages``): the same
    storage through other doors, tried in order when the first fails in a way another can cure."""
    storage_endpoints: Mapping[str, StorageEndpoint] = field(default_factory=dict, compare=False, repr=False)
    """CRIC's endpoints, read from ``[panda] ddmendpoints`` when given."""
    source: str = ""
    notes: tuple[str, ...] = ()
    """What loading found worth saying (a queuedata copytool no mover stands for...)."""

    # -- loading ---------------------------------------------------------------------------

    @classmethod
    def load(cls, path: Union[str, os.PathLike[str]], *, queue: Optional[str] = None) -> QueueConfig:
        """Read JSON (``.json``, or text starting with ``{``) or INI from a regular file of at
        most ``MAX_SIZE`` bytes; anything else (a FIFO, a device, a directory) is refused unread.
        ``queue``: the PanDA queue to take from a queuedata file of several (default:
        ``$PANDA_QUEUE``)."""
        path = os.fspath(path)
        data = _read_small_file(path)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigurationError(f"{path}: not UTF-8 text (byte {exc.start})") from None
        if path.endswith(".json") or text.lstrip().startswith("{"):
            return cls.from_json(text, source=path, queue=queue)
        return cls.from_ini(text, source=path)

    @classmethod
    def from_json(cls, text: str, *, source: str = "<json>", queue: Optional[str] = None) -> QueueConfig:
        if _json_nesting_exceeds(text, MAX_NESTING):
            raise ConfigurationError(f"{source}: not a queue config: JSON nested more than {MAX_NESTING} levels deep")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"{source}: not valid JSON: {exc}") from exc
        except ValueError:  # an integer of more digits than Python converts (4300)
            raise ConfigurationError(f"{source}: not valid JSON: a number has too many digits") from None
        if not isinstance(data, dict):
            raise ConfigurationError(f"{source}: the top level must be an object")
        return cls.from_dict(data, source=source, queue=queue)

    @classmethod
    def from_ini(cls, text: str, *, source: str = "<ini>") -> QueueConfig:
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(text, source=source)
        except configparser.Error as exc:
            raise ConfigurationError(_ini_error(exc, text, source)) from None
        data: dict[str, Any] = {"movers": {}}
        for section in parser.sections():
            values = dict(parser.items(section))
            if section == "queue":
                data.update(values)
            elif section.startswith("mover:"):
                data["movers"][section[len("mover:") :].strip()] = values
            elif section in SECTIONS or section in mover_names():
                data[section] = values
            else:
                raise ConfigurationError(
                    f"{source}: unknown section [{shorten(section)}] (use [queue], [transfer], [myproxy], "
                    "[credentials], [payload], [panda], [mover:NAME] or [NAME] for an installed mover)"
                )
        return cls.from_dict(data, source=source)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "<dict>", queue: Optional[str] = None) -> QueueConfig:
        notes: tuple[str, ...] = ()
        if is_queuedata(data):
            data, notes = queuedata_to_config(data, source=source, queue=queue)
        data, aliased = _movers_by_name(data, source)
        unknown = set(data) - set(TOP_LEVEL_KEYS) - set(SECTIONS)
        if unknown:
            raise ConfigurationError(
                f"{source}: unknown key(s) {_listed(unknown)} (known: "
                f"{', '.join(TOP_LEVEL_KEYS + SECTIONS)}, or an installed mover's name)"
            )
        values: dict[str, Any] = {}
        for key in TOP_LEVEL_KEYS:
            value = data.get(key)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ConfigurationError(f"{source}: {key} must be a non-empty string, got {value!r}")
            values[key] = value.strip() if isinstance(value, str) else None
        values["transfer"] = TransferSettings.from_options(_section(data, "transfer"), where=f"{source} [transfer]")
        values["credentials"] = CredentialPolicy.from_options(
            _section(data, "credentials"), where=f"{source} [credentials]"
        )
        values["myproxy"] = MyProxyOptions.from_options(_section(data, "myproxy"), where=f"{source} [myproxy]")
        values["payload"] = parse_options(PayloadSettings, _section(data, "payload"), where=f"{source} [payload]")
        values["panda"] = PandaOptions.from_options(_section(data, "panda"), where=f"{source} [panda]")
        movers = _section(data, "movers")
        if not isinstance(movers, Mapping):
            raise ConfigurationError(f"{source}: movers must be a section of one section per mover")
        sections = {name: f"[{name}]" if name in aliased else f"[mover:{name}]" for name in movers}
        values["movers"] = {
            str(name): _mover_class(str(name), source, sections[name]).parse_options(
                options, where=f"{source} {sections[name]}"
            )
            for name, options in movers.items()
        }
        values["storages"], values["storage_others"] = _storages(_section(data, "storages"), source)
        ddm = values["panda"].ddmendpoints
        if ddm:
            values["storage_endpoints"] = _ddmendpoints(ddm, source)
        config = cls(**values, source=source, notes=notes)
        config._check_movers_and_storage()
        return config

    def _check_movers_and_storage(self) -> None:
        """The movers named are installed (with valid options), the storage URLs parse and the
        alternative output storages are known."""
        for name in self.panda.output_storages:
            self.storage_urls(name, Phase.STAGE_OUT, key="[panda] output_storages")
        for key in ("copytool", "copytoolin"):
            for name in _names(getattr(self, key)):
                if name not in self.movers:
                    _mover_class(name, self.source, key).parse_options({}, where=f"{self.source} [mover:{name}]")
        for phase in (Phase.STAGE_IN, Phase.STAGE_OUT):
            prefix = self.copyprefix_for(phase)
            if prefix:
                parse_copyprefix(prefix, self.source)
            if self.se:
                base = apply_copyprefix(self.se, prefix, self.source) if prefix else self.se
                try:
                    Location.parse(base)
                except ValueError as exc:
                    raise ConfigurationError(f"{self.source}: se {self.se!r} ({phase.value}): {exc}") from None

    # -- decisions -------------------------------------------------------------------------

    def mover_name(self, phase: Phase) -> Optional[str]:
        """The (first) mover queue config names for a phase, if any."""
        names = self.mover_names(phase)
        return names[0] if names else None

    def mover_names(self, phase: Phase) -> tuple[str, ...]:
        """The movers queue config names for a phase, in order of preference (none: the scheme's)."""
        if phase is Phase.STAGE_IN:
            return _names(self.copytoolin or self.copytool)
        return _names(self.copytool)

    def mover_key(self, phase: Phase) -> str:
        """The key that named the phase's mover, for messages."""
        return "copytoolin" if phase is Phase.STAGE_IN and self.copytoolin else "copytool"

    def mover_options(self, name: str) -> Optional[Any]:
        """The parsed options of mover ``name`` (None: it has no section; its defaults apply)."""
        return self.movers.get(name)

    def copyprefix_for(self, phase: Phase) -> Optional[str]:
        """The rewrite for a phase's storage URLs: ``copyprefixin`` for stage-in, if set."""
        return self.copyprefixin if phase is Phase.STAGE_IN and self.copyprefixin else self.copyprefix

    def storage_url(self, name: str) -> str:
        """The (first) URL prefix of storage endpoint ``name``; a ConfigurationError names the known ones."""
        return self.storage_urls(name, Phase.STAGE_IN)[0]

    def storage_urls(self, name: str, phase: Phase, *, key: str = "storages") -> tuple[str, ...]:
        """The URL prefixes of storage endpoint ``name`` for ``phase``, best first: the
        ``storages`` rule's, else CRIC's protocols for the phase's activity (``[panda]
        ddmendpoints``). A ConfigurationError names the known ones."""
        folded = name.casefold()
        url = self.storages.get(folded)
        if url is not None:
            return (url, *self.storage_others.get(folded, ()))
        endpoint = self.storage_endpoints.get(folded)
        if endpoint is not None:
            prefixes = endpoint.prefixes(phase)
            if not prefixes:
                raise ConfigurationError(
                    f"{self.panda.ddmendpoints}: {endpoint.name} has no protocol for {phase.value} "
                    f"(activities {', '.join(ACTIVITIES[phase])})"
                )
            if not endpoint.deterministic:
                raise ConfigurationError(
                    f"{self.panda.ddmendpoints}: {endpoint.name} is not deterministic: where a file is on it "
                    "takes Rucio, which pilot-movers does not ask; give the file's replica (--replicas)"
                )
            return prefixes
        known = ", ".join(sorted(self.storages)) or "none"
        also = f"; nor in {self.panda.ddmendpoints}" if self.panda.ddmendpoints else ""
        raise ConfigurationError(
            f"{self.source}: {key}: no storage named {name!r} in the queue's storages (known: {known}){also}"
        )


def knob_sections() -> list[tuple[str, type]]:
    """Each section of typed knobs and the settings class it is read into: ``transfer``,
    ``myproxy``, ``credentials``, ``payload``, then ``mover:NAME`` for each installed mover that
    takes options. Every number among their fields has a declared range (``config_values.between``)."""
    sections: list[tuple[str, type]] = [
        ("transfer", TransferSettings),
        ("myproxy", MyProxyOptions),
        ("credentials", CredentialPolicy),
        ("payload", PayloadSettings),
        ("panda", PandaOptions),
    ]
    for name in mover_names():
        options = get_mover_class(name).Options
        if dataclasses.fields(options):
            sections.append((f"mover:{name}", options))
    return sections


def knobs_table() -> str:
    """The Markdown table of docs/operators.md: each knob of each section (the movers this
    distribution ships), its default and what it may be."""
    rows = ["| section | key | default | allowed |", "|---|---|---|---|"]
    for section, cls in knob_sections():
        if not cls.__module__.startswith("pilot_movers."):
            continue
        hints = typing.get_type_hints(cls)
        for knob in dataclasses.fields(cls):
            default = describe_value(knob.default, knob.metadata)
            rows.append(f"| `[{section}]` | `{knob.name}` | {default} | {_allowed(hints[knob.name], knob.metadata)} |")
    return "\n".join(rows) + "\n"


def _allowed(kind: Any, metadata: Mapping[str, Any]) -> str:
    arguments = [a for a in typing.get_args(kind) if a is not type(None)]
    optional = typing.get_origin(kind) is Union
    if optional:
        kind = arguments[0]
    origin = typing.get_origin(kind)
    if origin is Literal:
        text = "one of " + ", ".join(f"`{choice}`" for choice in typing.get_args(kind))
    elif origin is tuple:
        text = "a comma-separated list"
    elif kind is bool:
        text = "true or false"
    elif kind is str:
        text = metadata.get("allowed") or "text"
    else:
        what = "a whole number" if kind is int else "a number"
        if metadata.get("duration"):
            what = "a duration"
        elif metadata.get("unit") == "bytes":
            what = "a number of bytes"
        text = f"{what}, {describe_range(metadata)}"
    return text + (", or unset" if optional else "")


def _read_small_file(path: str) -> bytes:
    """The bytes of the regular file ``path``, at most ``MAX_SIZE``. What is not a regular file is
    refused before it is opened (a FIFO would block, a device may never end or act on open), and
    again after (opened without blocking), in case the path was replaced in between."""
    try:
        _refuse_unless_regular(path, os.stat(path))
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as exc:
        raise ConfigurationError(f"cannot read queue config {path}: {exc.strerror}") from exc
    except ValueError:  # a NUL in the path
        raise ConfigurationError(f"cannot read queue config {path!r}: not a valid path") from None
    with os.fdopen(fd, "rb") as handle:
        status = os.fstat(fd)
        _refuse_unless_regular(path, status)
        if status.st_size > MAX_SIZE:
            raise ConfigurationError(
                f"cannot read queue config {path}: it has {status.st_size} bytes, more than the "
                f"{MAX_SIZE >> 20} MiB a queue config may have"
            )
        try:
            data = handle.read(MAX_SIZE + 1)  # a file that says it is small may still grow (/proc)
        except OSError as exc:
            raise ConfigurationError(f"cannot read queue config {path}: {exc.strerror}") from exc
    if len(data) > MAX_SIZE:
        raise ConfigurationError(
            f"cannot read queue config {path}: it has more than the {MAX_SIZE >> 20} MiB a queue config may have"
        )
    return data


_JSON_SYNTAX = re.compile(r'["\\\[\]{}]')


def _json_nesting_exceeds(text: str, limit: int) -> bool:
    """Whether JSON ``text`` opens more than ``limit`` arrays and objects inside one another (the
    parser recurses per level: 100,000 levels are a RecursionError). Looks only at brackets,
    quotes and backslashes; text that is not JSON is left to the parser to refuse."""
    depth = 0
    in_string = False
    escaped = -1  # the position of a character a backslash escapes
    for match in _JSON_SYNTAX.finditer(text):
        char, at = match.group(), match.start()
        if in_string:
            if at == escaped:
                continue
            if char == "\\":
                escaped = at + 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def _ini_error(exc: configparser.Error, text: str, source: str) -> str:
    """One line for configparser's error: the file, the line number and what is wrong there."""
    lines = text.split("\n")  # as configparser counts them

    def shown(lineno: int) -> str:
        line = lines[lineno - 1].strip() if 0 < lineno <= len(lines) else ""
        return repr(line if len(line) <= 60 else line[:57] + "...")

    if isinstance(exc, configparser.DuplicateSectionError):
        return f"{source} line {exc.lineno}: not valid INI: section [{shorten(exc.section)}] is given twice"
    if isinstance(exc, configparser.DuplicateOptionError):
        section, option = shorten(exc.section), shorten(exc.option)
        return f"{source} line {exc.lineno}: not valid INI: {option} is given twice in [{section}]"
    if isinstance(exc, configparser.MissingSectionHeaderError):
        what = "is not a [section] header" if exc.line.lstrip().startswith("[") else "comes before any [section]"
        return f"{source} line {exc.lineno}: not valid INI: {shown(exc.lineno)} {what}"
    if isinstance(exc, configparser.ParsingError) and exc.errors:
        lineno = exc.errors[0][0]
        first = lines[lineno - 1].lstrip() if 0 < lineno <= len(lines) else ""
        what = "is not a [section] header" if first.startswith("[") else "is not a [section] header or key = value"
        more = len(exc.errors) - 1
        also = f" (and {more} more bad line{'s' if more > 1 else ''} after it)" if more else ""
        return f"{source} line {lineno}: not valid INI: {shown(lineno)} {what}{also}"
    return f"{source}: not valid INI: {str(exc).splitlines()[0]}"


_FILE_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _refuse_unless_regular(path: str, status: os.stat_result) -> None:
    if stat.S_ISREG(status.st_mode):
        return
    kind = next((name for test, name in _FILE_KINDS if test(status.st_mode)), "of an unknown kind")
    raise ConfigurationError(f"cannot read queue config {path}: it is {kind}, not a regular file")


def _movers_by_name(data: Mapping[str, Any], source: str) -> tuple[Mapping[str, Any], set[str]]:
    """A section named after an installed mover (``[globus]``) is that mover's options, as
    ``[mover:globus]`` would be; giving both is an error. Also returns the names so given."""
    installed = set(mover_names())  # once: it reads every distribution's entry points
    named = {key for key in data if key not in TOP_LEVEL_KEYS and key not in SECTIONS and key in installed}
    movers = data.get("movers") or {}
    if not named or not isinstance(movers, Mapping):  # a bad "movers" is reported by from_dict
        return data, set()
    merged = dict(movers)
    for name in sorted(named):
        if name in merged:
            raise ConfigurationError(
                f"{source}: the options of mover {name!r} are given twice ([{name}] and [mover:{name}])"
            )
        merged[name] = data[name]
    return {**{k: v for k, v in data.items() if k not in named}, "movers": merged}, named


def _mover_class(name: str, source: str, where: str) -> Any:
    try:
        return get_mover_class(name)
    except MoverError as exc:
        raise exc.replace(message=f"{source}: {where}: {exc.message}") from None


def _listed(names: set[str], most: int = 5) -> str:
    """``a, b, c`` (sorted, each cut short), or the first ``most`` and how many more."""
    shown = ", ".join(shorten(str(name)) for name in sorted(names, key=str)[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def _names(value: Optional[str]) -> tuple[str, ...]:
    """``xrootd, gridftp`` -> ``("xrootd", "gridftp")``."""
    return tuple(name.strip() for name in (value or "").split(",") if name.strip())


def _storages(raw: Any, source: str) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    """The ``storages`` section: endpoint name -> URL prefix (or several: a JSON list, or in INI
    URLs separated by commas), each URL parsed now; the first prefixes, and the others."""
    if not isinstance(raw, Mapping):
        raise ConfigurationError(f"{source}: storages must be a section of NAME = URL prefix")
    storages: dict[str, str] = {}
    others: dict[str, tuple[str, ...]] = {}
    for name, given in raw.items():
        where = f"{source} [storages] {name}"
        urls = (
            given if isinstance(given, list) else [u for u in str(given).split(",")] if isinstance(given, str) else None
        )
        if not str(name).strip() or not urls or not all(isinstance(u, str) and u.strip() for u in urls):
            raise ConfigurationError(
                f"{where}: give a storage endpoint name and a URL prefix (or a list), got {given!r}"
            )
        for url in urls:
            try:
                Location.parse(url)
            except ValueError as exc:
                raise ConfigurationError(f"{where} = {url!r}: {exc}") from None
        key = str(name).strip().casefold()
        if key in storages:
            raise ConfigurationError(f"{where}: named twice (names are case-insensitive)")
        storages[key] = urls[0].strip()
        if len(urls) > 1:
            others[key] = tuple(url.strip() for url in urls[1:])
    return storages, others


def _ddmendpoints(path: str, source: str) -> dict[str, StorageEndpoint]:
    """CRIC's storage description named by ``[panda] ddmendpoints``, read now."""
    try:
        data = json.loads(_read_small_file(path).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ConfigurationError(f"{source}: [panda] ddmendpoints {path}: not JSON: {exc}") from None
    return read_ddmendpoints(data, path)


def _section(data: Mapping[str, Any], key: str) -> Any:
    value = data.get(key)
    return {} if value is None else value
