"""Job parameter text -> JobParams."""

from __future__ import annotations

import difflib
import re
import shlex
from typing import Any

from job_params.errors import JobParamsError
from job_params.model import MODES, JobParams, check_consistency, check_file_name, pair_sources
from job_params.syntax import FLAGS, KEYS, LIST_KINDS, Field
from pilot_movers.checksums import Checksum
from pilot_movers.errors import MoverError

#: sendJob flags whose sources and destinations must pair up: one destination, or one per source.
PAIRED = (
    ("--StageinGOsrc", "--StageinGOdest"),
    ("--StageoutGOsrc", "--StageoutGOdest"),
    ("--Data", "--OutputGO"),
)
#: Sources whose destination may be omitted: the inputs then land in the job's work dir.
DESTINATION_OPTIONAL = ("--StageinGOsrc",)
_ENDPOINT = re.compile(r"[^\s:/]+")  # fullmatch: "$" would let a trailing newline through
_GLOBUS = re.compile(r"[^\s:/]+:/.*", re.DOTALL)  # control characters are refused before this
#: Characters that could break a log line (C0 and C1 controls, Unicode line separators).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_SIZE = re.compile(r"[0-9]+")


def parse(text: str) -> JobParams:
    """Parse job parameters; tokens may be separated by any whitespace, shell quoting is honoured.

    Raises JobParamsError naming the offending token and why.
    """
    try:
        tokens = shlex.split(text, comments=False, posix=True)
    except ValueError as exc:
        raise JobParamsError(text.strip()[-40:], f"cannot split into tokens: {exc}") from None

    values: dict[str, Any] = {}
    passthrough: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        name, sep, value = token.partition("=")
        if name in KEYS:
            if not sep:
                raise JobParamsError(token, f"{name} has no value: write {name}=VALUE")
            field = KEYS[name]
            if field.attribute in values:
                raise JobParamsError(token, f"duplicate key {name}")
            values[field.attribute] = _convert(field, value, token)
        elif name in FLAGS:
            if not sep:
                if i >= len(tokens):
                    raise JobParamsError(token, f"{name} has no value")
                value, token = tokens[i], f"{name}={tokens[i]}"
                i += 1
            field = FLAGS[name]
            converted = _convert(field, value, token)
            if field.kind in LIST_KINDS:
                values[field.attribute] = values.get(field.attribute, ()) + converted
            elif values.get(field.attribute, converted) != converted:
                raise JobParamsError(token, f"{name} given twice with different values")
            else:
                values[field.attribute] = converted
        else:
            _refuse_near_miss(token, name)
            passthrough.append(token)
    for attribute in ("files_in", "files_out", "data"):
        _check_unique(values.get(attribute, ()), attribute)
    _check_unique(values.get("files_out", ()) + values.get("files_log", ()), "files_log")
    for sources, destinations in PAIRED:
        if sources in DESTINATION_OPTIONAL and not values.get(FLAGS[destinations].attribute):
            continue
        pair_sources(
            values.get(FLAGS[sources].attribute, ()),
            values.get(FLAGS[destinations].attribute, ()),
            sources,
            destinations,
        )
    params = JobParams(**values, passthrough=tuple(passthrough))
    check_consistency(params)
    return params


def _convert(field: Field, value: str, token: str) -> Any:
    if value == "" or value.isspace():
        raise JobParamsError(token, "empty value")
    control = _CONTROL.search(value)
    if control:
        raise JobParamsError(token, f"control character {control.group()!r} in the value")
    kind = field.kind
    if kind == "text":
        return value
    if kind == "mode":
        if value not in MODES:
            raise JobParamsError(token, f"unknown mode {value!r}: use 'server' or 'local'")
        return value
    if kind == "endpoint":
        if not _ENDPOINT.fullmatch(value):
            raise JobParamsError(token, f"{value!r} is not a Globus endpoint name or id")
        return value
    items = tuple(value.split(","))
    if kind == "files":
        for item in items:
            check_file_name(item, token)
        return items
    if kind == "checksums":
        return tuple(_checksum(item, token) for item in items)
    if kind == "sizes":
        if not all(_SIZE.fullmatch(item) for item in items):
            raise JobParamsError(token, "sizes must be whole numbers of bytes")
        return tuple(int(item) for item in items)
    for item in items:
        if not _GLOBUS.fullmatch(item):
            raise JobParamsError(token, f"{item!r} is not a Globus ENDPOINT:/path")
        if kind == "globus-file":
            if item.endswith("/"):
                raise JobParamsError(token, f"{item!r} names a directory: a source must name a file")
            check_file_name(item.rsplit("/", 1)[-1], token)
    return items


def _checksum(text: str, token: str) -> Checksum:
    try:
        return Checksum.parse(text)
    except (ValueError, MoverError) as exc:
        raise JobParamsError(token, getattr(exc, "message", None) or str(exc)) from None


#: How alike a token's name must be to a known key's to be taken for a typo of it (difflib's ratio):
#: ``file-in`` for ``files-in`` is 0.93; sendJob's own ``--maxEvents`` is far from every flag.
NEAR_MISS = 0.85


def _refuse_near_miss(token: str, name: str) -> None:
    """A token kept for the payload whose name is a near miss of a known key (a small edit, a
    singular for a plural, ``_`` for ``-``, another case) is a typo that would make the job move
    nothing: JobParamsError naming the key it resembles. Genuine payload arguments pass."""
    if not name or "/" in name or " " in name:
        return
    known = list(FLAGS) if name.startswith("-") else list(KEYS)
    folded = {key.casefold().replace("_", "-"): key for key in known}
    exact = folded.get(name.casefold().replace("_", "-"))
    close = exact or next(iter(difflib.get_close_matches(name, known, n=1, cutoff=NEAR_MISS)), None)
    stems = [key for key in known if not name.startswith("-") and key.startswith(name.casefold() + "-")]
    if close is None and len(stems) > 1:  # files= for files-in/-out, dir= for dir-in/-out
        raise JobParamsError(
            token,
            f"unknown key {name!r}: did you mean {' or '.join(stems)}? (a token that is no job parameter goes "
            "to the payload, and this one would have moved nothing)",
        )
    if close is not None:
        usage = f"{close}=VALUE" if close in KEYS else f"{close}=VALUE (or {close} VALUE)"
        raise JobParamsError(
            token,
            f"unknown {'flag' if name.startswith('-') else 'key'} {name!r}: did you mean {close}? ({usage}; "
            "a token that is no job parameter goes to the payload, and this one would have moved nothing)",
        )


def _check_unique(names: tuple[str, ...], attribute: str) -> None:
    seen = set()
    for name in names:
        if name in seen:
            key = {"files_in": "files-in", "files_out": "files-out", "files_log": "files-log", "data": "--Data"}[
                attribute
            ]
            raise JobParamsError(f"{key}={','.join(names)}", f"file {name!r} is listed twice")
        seen.add(name)
