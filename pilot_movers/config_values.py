"""One converter for every section of queue config: strings (INI) or JSON values -> typed fields.

A settings class is a frozen dataclass; each field's type says how its value is read, and its
metadata says what it may hold::

    @dataclass(frozen=True)
    class PayloadSettings:
        timeout: Optional[float] = option(None, DURATION, between(1, 30 * DAY))

``parse_options(PayloadSettings, {"timeout": "2h"}, where="[payload]")`` gives
``PayloadSettings(timeout=7200.0)``; an unknown key, a value of the wrong type, NaN, or a value out
of range is a ConfigurationError naming the section, the key, the value and the allowed range.
``check_fields`` runs the same range checks on a value built in code (call it from
``__post_init__``). Every number a queue config sets has both bounds (``between``): an absurd
value (``1e-300`` seconds, ``1e23`` workers) is refused when the file is loaded, not met later.
"""

from __future__ import annotations

import dataclasses
import math
import re
import typing
from typing import Any, Literal, Mapping, TypeVar, Union

from pilot_movers.errors import ConfigurationError, MoverError

T = TypeVar("T")

#: Seconds and bytes, for writing ranges.
MINUTE = 60
HOUR = 3600
DAY = 86400
KIB = 1 << 10
MIB = 1 << 20
GIB = 1 << 30
TIB = 1 << 40
PIB = 1 << 50

#: Field metadata: the value is a number of seconds, also written ``90s``, ``5m``, ``2h``, ``1d``.
DURATION: Mapping[str, Any] = {"duration": True}
#: ... a whole number of seconds (written as a number only; shown with its unit in messages).
SECONDS: Mapping[str, Any] = {"unit": "seconds"}
#: ... a number of hours.
HOURS: Mapping[str, Any] = {"unit": "hours"}
#: ... a number of bytes (messages show 1 MiB beside 1048576).
BYTES: Mapping[str, Any] = {"unit": "bytes"}
#: ... must be greater than zero.
POSITIVE: Mapping[str, Any] = {"minimum": 0, "exclusive": True}
#: ... must be zero or more.
NOT_NEGATIVE: Mapping[str, Any] = {"minimum": 0, "exclusive": False}
#: ... must be at least one.
AT_LEAST_ONE: Mapping[str, Any] = {"minimum": 1, "exclusive": False}
#: ... must be in (0, 1].
FRACTION: Mapping[str, Any] = {"minimum": 0, "exclusive": True, "maximum": 1}


def between(low: float, high: float) -> Mapping[str, Any]:
    """Field metadata: the value must be from ``low`` to ``high``, both allowed
    (``option(30.0, DURATION, between(1, HOUR))``)."""
    if not low <= high:
        raise ValueError(f"between({low}, {high}): the low end is above the high end")
    return {"minimum": low, "exclusive": False, "maximum": high}


#: ... the value is given to this function, which returns it in canonical form or raises;
#: ``allowed`` says what it takes, for the docs.
def normalised_by(function: Any, allowed: str = "") -> Mapping[str, Any]:
    return {"normalise": function, "allowed": allowed} if allowed else {"normalise": function}


#: ... a TCP port.
PORT: Mapping[str, Any] = between(1, 65535)
#: ... a number of tries of something (retries or attempts): at most 100.
ATTEMPTS: Mapping[str, Any] = between(1, 100)
RETRIES: Mapping[str, Any] = between(0, 100)
#: ... a number of things in flight at once (files, connections, copy jobs): at most 1000.
WORKERS: Mapping[str, Any] = between(1, 1000)

TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")
_NO_METADATA: Mapping[str, Any] = {}
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(?P<number>\d+(?:\.\d*)?|\.\d+)\s*(?P<unit>[smhd]?)\s*$")


class BadValue(ValueError):
    """A value that cannot be read as its field's type; the message says what was expected."""


def parse_options(cls: type[T], options: Mapping[str, Any], *, where: str) -> T:
    """Build ``cls`` (a dataclass) from ``options``; keys may use ``-`` for ``_``."""
    if not isinstance(options, Mapping):
        raise ConfigurationError(f"{where}: must be a section of options, not {_show(options)}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for key, raw in options.items():
        name = str(key).strip().replace("-", "_")
        field = fields.get(name)
        if field is None:
            known = ", ".join(sorted(fields)) or "none"
            raise ConfigurationError(f"{where}: unknown setting {_show(key)} (known: {known})")
        if name in values:
            raise ConfigurationError(f"{where}: {shorten(str(key))} is given twice")
        try:
            values[name] = convert(raw, hints[name], field.metadata)
        except BadValue as exc:
            raise ConfigurationError(f"{where}: {shorten(str(key))} = {_show(raw)}: {exc}") from None
    missing = [
        name
        for name, field in fields.items()
        if name not in values and field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigurationError(f"{where}: missing setting(s) {', '.join(missing)}")
    return cls(**values)


def check_fields(value: Any, *, where: str) -> None:
    """Range checks and normalisers of every field of a (frozen) dataclass value, for values built
    in code; call from ``__post_init__``. NaN and infinity are never allowed."""
    problems = []
    for field in dataclasses.fields(value):
        current = getattr(value, field.name)
        try:
            _check_range(current, field.metadata)
            normalised = _normalise(current, field.metadata)
        except BadValue as exc:
            problems.append(f"{field.name} = {_show(current)}: {exc}")
            continue
        if normalised is not current:
            object.__setattr__(value, field.name, normalised)
    if problems:
        raise ConfigurationError(f"{where}: " + "; ".join(problems))


def _normalise(value: Any, metadata: Mapping[str, Any]) -> Any:
    normaliser = metadata.get("normalise")
    if normaliser is None or value is None:
        return value
    try:
        return normaliser(value)
    except (MoverError, ValueError) as exc:
        raise BadValue(getattr(exc, "message", None) or str(exc)) from None


def convert(raw: Any, kind: Any, metadata: Mapping[str, Any] = _NO_METADATA) -> Any:
    """``raw`` read as ``kind`` (bool, int, float, str, Optional[...], Literal[...],
    tuple[str, ...]), then range-checked by ``metadata``."""
    origin = typing.get_origin(kind)
    if origin is Union:
        arguments = [a for a in typing.get_args(kind) if a is not type(None)]
        if len(arguments) != 1:
            raise TypeError(f"unsupported field type {kind!r}")
        if raw is None or (isinstance(raw, str) and raw.strip().lower() in ("", "none")):
            return None
        return convert(raw, arguments[0], metadata)
    if raw is None:
        raise BadValue("a value is required")
    if origin is Literal:
        choices = typing.get_args(kind)
        text = _text(raw)
        if text not in choices:
            raise BadValue(f"use one of {', '.join(map(str, choices))}")
        return text
    if origin is tuple:
        if isinstance(raw, (list, tuple)):
            items = [_text(item) for item in raw]
        else:
            items = [item.strip() for item in _text(raw).split(",") if item.strip()]
        return tuple(items)
    if kind is bool:
        return _boolean(raw)
    if kind is int:
        value: Any = _integer(raw)
    elif kind is float:
        value = _number(raw, metadata.get("duration", False))
    elif kind is str:
        value = _text(raw)
        if not value:
            raise BadValue("must not be empty")
    else:
        raise TypeError(f"unsupported field type {kind!r}")
    _check_range(value, metadata)
    return _normalise(value, metadata)


def _boolean(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, (int, float)):  # JSON's 1 or 0.0 where true or false belongs
        raise BadValue("not a boolean (in JSON use true or false)")
    text = _text(raw).lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise BadValue(f"not a boolean (use one of {', '.join(TRUE_WORDS + FALSE_WORDS)})")


def _integer(raw: Any) -> int:
    if isinstance(raw, bool):
        raise BadValue("not a whole number")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        if raw.is_integer():
            return int(raw)
        raise BadValue("not a whole number")
    try:
        return int(_text(raw))
    except ValueError:
        raise BadValue("not a whole number") from None


def _number(raw: Any, duration: bool) -> float:
    if isinstance(raw, bool):
        raise BadValue("not a number")
    if isinstance(raw, (int, float)):
        try:
            value = float(raw)
        except OverflowError:  # a JSON integer of 400 digits
            raise BadValue("must be a finite number") from None
    else:
        text = _text(raw)
        match = _DURATION.match(text) if duration else None
        if match:
            value = float(match.group("number")) * _UNITS[match.group("unit")]
        else:
            try:
                value = float(text)
            except ValueError:
                what = "a number of seconds (or 90s, 5m, 2h, 1d)" if duration else "a number"
                raise BadValue(f"not {what}") from None
    if not math.isfinite(value):
        raise BadValue("must be a finite number")
    return value


def _text(raw: Any) -> str:
    if isinstance(raw, (dict, list, tuple, set)) or raw is None:
        raise BadValue(f"expected a single value, not {type(raw).__name__}")
    return str(raw).strip()


def _check_range(value: Any, metadata: Mapping[str, Any]) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise BadValue("must be a finite number")
    minimum, maximum = metadata.get("minimum"), metadata.get("maximum")
    too_low = minimum is not None and (value <= minimum if metadata.get("exclusive") else value < minimum)
    too_high = maximum is not None and value > maximum
    if too_low or too_high:
        raise BadValue(f"must be {describe_range(metadata)}")


def describe_range(metadata: Mapping[str, Any]) -> str:
    """The values a field's metadata allows, as messages and docs say it: ``from 1 to 100``,
    ``from 0.1s to 1d``, ``greater than 0, at most 1``; empty when it sets no bound."""
    minimum, maximum = metadata.get("minimum"), metadata.get("maximum")
    low = None if minimum is None else _amount(minimum, metadata)
    high = None if maximum is None else _amount(maximum, metadata)
    if low is not None and metadata.get("exclusive"):
        text = f"greater than {low}" + ("" if high is None else f", at most {high}")
    elif low is not None:
        text = f"at least {low}" if high is None else f"from {low} to {high}"
    elif high is not None:
        text = f"at most {high}"
    else:
        return ""
    unit = metadata.get("unit")
    return f"{text} {unit}" if unit in ("seconds", "hours") else text


def describe_value(value: Any, metadata: Mapping[str, Any] = _NO_METADATA) -> str:
    """A field's value as queue config writes it: ``2m``, ``4194304 (4 MiB)``, ``true``, ``a, b``;
    ``unset`` for None."""
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return _amount(value, metadata)
    if isinstance(value, tuple):
        return ", ".join(map(str, value)) or "none"
    return str(value)


def _amount(value: float, metadata: Mapping[str, Any]) -> str:
    """A bound as a reader (and the config file) writes it: ``90s``, ``1d``, ``1048576 (1 MiB)``."""
    number = str(int(value)) if float(value).is_integer() else f"{value:g}"
    if metadata.get("duration") and value:
        for unit, seconds in (("d", DAY), ("h", HOUR), ("m", MINUTE)):
            if value >= seconds and float(value / seconds).is_integer():
                return f"{int(value // seconds)}{unit}"
        return f"{number}s"
    if metadata.get("unit") == "bytes" and value >= KIB:
        for unit, size in (("PiB", PIB), ("TiB", TIB), ("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
            if value >= size and float(value / size).is_integer():
                return f"{number} ({int(value // size)} {unit})"
    return number


def shorten(text: str, limit: int = 60) -> str:
    """``text`` cut to ``limit`` characters (ending ``...``): a name from a file, in a message."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _show(raw: Any) -> str:
    text = repr(raw)
    return text if len(text) <= 80 else text[:77] + "..."


def option(default: Any, *metadata: Mapping[str, Any]) -> Any:
    """``dataclasses.field(default=...)`` with the metadata constants above merged."""
    merged: dict[str, Any] = {}
    for part in metadata:
        merged.update(part)
    return dataclasses.field(default=default, metadata=merged)
