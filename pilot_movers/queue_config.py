"""Queue configuration: how a site moves data (job parameters say where, this says how).

JSON::

    {"copytool": "gridftp", "copytoolin": "gridftp", "se": "gsiftp://se.example.org:2811",
     "copyprefix": "^gsiftp://se.example.org^gsiftp://door.example.org",
     "transfer": {"max_attempts": 3, "concurrency": 8},
     "movers": {"local": {"mode": "symlink"}},
     "myproxy": {"server": "myproxy.example.org", "retrieve_with": "pilot-proxy"},
     "credentials": {"min_lifetime": 7200}}

INI: the same keys, top-level ones in ``[queue]``, then ``[transfer]``, ``[myproxy]``,
``[credentials]`` and one ``[mover:NAME]`` section per mover.
"""

from __future__ import annotations

import configparser
import json
import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Union

from pilot_movers.credentials.policy import CredentialPolicy
from pilot_movers.engine.settings import TransferSettings
from pilot_movers.errors import ConfigurationError, Phase

TOP_LEVEL_KEYS = ("copytool", "copytoolin", "se", "copyprefix", "copyprefixin")
SECTIONS = ("transfer", "movers", "myproxy", "credentials", "payload")


@dataclass(frozen=True)
class QueueConfig:
    """PanDA schedconfig-style keys plus a section of options per mover."""

    copytool: Optional[str] = None
    """Mover for stage-out, and for stage-in unless ``copytoolin`` is set."""
    copytoolin: Optional[str] = None
    se: Optional[str] = None
    """Storage element URL that plain ``dir-in``/``dir-out`` paths are joined to."""
    copyprefix: Optional[str] = None
    """``^from^to`` rewrite applied to the storage URL (PanDA form; comma list allowed)."""
    copyprefixin: Optional[str] = None
    transfer: TransferSettings = field(default_factory=TransferSettings)
    movers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    myproxy: Mapping[str, Any] = field(default_factory=dict)
    credentials: CredentialPolicy = field(default_factory=CredentialPolicy)
    payload: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""

    # -- loading ---------------------------------------------------------------------------

    @classmethod
    def load(cls, path: Union[str, os.PathLike[str]]) -> QueueConfig:
        """Read JSON (``.json``, or text starting with ``{``) or INI."""
        path = os.fspath(path)
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise ConfigurationError(f"cannot read queue config {path}: {exc.strerror}") from exc
        if path.endswith(".json") or text.lstrip().startswith("{"):
            return cls.from_json(text, source=path)
        return cls.from_ini(text, source=path)

    @classmethod
    def from_json(cls, text: str, *, source: str = "<json>") -> QueueConfig:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"{source}: not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigurationError(f"{source}: the top level must be an object")
        return cls.from_dict(data, source=source)

    @classmethod
    def from_ini(cls, text: str, *, source: str = "<ini>") -> QueueConfig:
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(text, source=source)
        except configparser.Error as exc:
            raise ConfigurationError(f"{source}: not valid INI: {exc}") from exc
        data: dict[str, Any] = {"movers": {}}
        for section in parser.sections():
            values = dict(parser.items(section))
            if section == "queue":
                data.update(values)
            elif section.startswith("mover:"):
                data["movers"][section[len("mover:") :].strip()] = values
            elif section in SECTIONS:
                data[section] = values
            else:
                raise ConfigurationError(
                    f"{source}: unknown section [{section}] (use [queue], [transfer], [myproxy], "
                    "[credentials], [payload] or [mover:NAME])"
                )
        return cls.from_dict(data, source=source)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "<dict>") -> QueueConfig:
        unknown = set(data) - set(TOP_LEVEL_KEYS) - set(SECTIONS)
        if unknown:
            raise ConfigurationError(
                f"{source}: unknown key(s) {', '.join(sorted(unknown))} (known: {', '.join(TOP_LEVEL_KEYS + SECTIONS)})"
            )
        values: dict[str, Any] = {}
        for key in TOP_LEVEL_KEYS:
            value = data.get(key)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ConfigurationError(f"{source}: {key} must be a non-empty string, got {value!r}")
            values[key] = value.strip() if isinstance(value, str) else None
        for key in ("myproxy", "payload"):
            values[key] = _section(data, key, source)
        movers = _section(data, "movers", source)
        for name, options in movers.items():
            if not isinstance(options, Mapping):
                raise ConfigurationError(f"{source}: movers.{name} must be a section of options")
        values["movers"] = {name: dict(options) for name, options in movers.items()}
        values["transfer"] = TransferSettings.from_options(
            _section(data, "transfer", source), where=f"{source} [transfer]"
        )
        values["credentials"] = CredentialPolicy.from_options(
            _section(data, "credentials", source), where=f"{source} [credentials]"
        )
        config = cls(**values, source=source)
        for copyprefix in (config.copyprefix, config.copyprefixin):
            if copyprefix:
                _parse_copyprefix(copyprefix, source)
        return config

    # -- decisions -------------------------------------------------------------------------

    def mover_name(self, phase: Phase) -> Optional[str]:
        """The mover queue config names for a phase, if any."""
        if phase is Phase.STAGE_IN:
            return self.copytoolin or self.copytool
        return self.copytool

    def mover_options(self, name: str) -> dict[str, Any]:
        return dict(self.movers.get(name, {}))

    def storage_base(self, phase: Phase) -> Optional[str]:
        """The URL a plain ``dir-in``/``dir-out`` path is joined to: ``se`` after the
        ``copyprefix`` (``copyprefixin`` for stage-in) rewrite."""
        if not self.se:
            return None
        prefix = self.copyprefixin if phase is Phase.STAGE_IN and self.copyprefixin else self.copyprefix
        return apply_copyprefix(self.se, prefix, self.source) if prefix else self.se


def apply_copyprefix(url: str, copyprefix: str, source: str = "") -> str:
    """PanDA's ``^from1,from2^to1,to2``: the first ``from`` prefix that starts ``url`` is replaced
    by its ``to``. Prefixes are literal text (``?`` and ``.`` in SRM URLs mean themselves)."""
    for prefix, replacement in _parse_copyprefix(copyprefix, source):
        if url.startswith(prefix):
            return replacement + url[len(prefix) :]
    return url


def _parse_copyprefix(copyprefix: str, source: str) -> list[tuple[str, str]]:
    parts = copyprefix.split("^")
    if len(parts) != 3 or parts[0]:
        raise ConfigurationError(f"{source}: copyprefix {copyprefix!r} is not of the form ^from^to")
    froms, tos = parts[1].split(","), parts[2].split(",")
    if len(froms) != len(tos):
        raise ConfigurationError(f"{source}: copyprefix {copyprefix!r} has {len(froms)} 'from' and {len(tos)} 'to'")
    return list(zip(froms, tos))


def _section(data: Mapping[str, Any], key: str, source: str) -> dict[str, Any]:
    value = data.get(key) or {}
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"{source}: {key} must be a section (object) of options")
    return dict(value)
