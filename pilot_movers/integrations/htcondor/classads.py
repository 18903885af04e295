"""The plugin's ClassAds, read and written with the ``classad2`` module of the ``htcondor``
wheel (``pip install 'pilot-movers[htcondor]'``), which parses the whole ClassAd language, as
HTCondor asks of a plugin.

The output file is pre-allocated by the starter (spaces, so that a plugin on a full disk can
still say so): it is overwritten from its start, never truncated first.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any, Iterable, Mapping

from pilot_movers.errors import ConfigurationError

INSTALL = "pip install 'pilot-movers[htcondor]'"


def classad_module() -> ModuleType:
    """``classad2``; a ConfigurationError saying what to install when it is missing."""
    try:
        import classad2
    except ImportError:
        raise ConfigurationError(
            f"the HTCondor plugin reads and writes ClassAds with the htcondor package's classad2 module, "
            f"which is not installed: {INSTALL}"
        ) from None
    return classad2


def read_ads(path: str) -> list[Mapping[str, Any]]:
    """Every ClassAd in the file at ``path``, in order (attribute names case-insensitive)."""
    classad = classad_module()
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:  # the starter's input file: missing, unreadable
        raise ConfigurationError(
            f"cannot read the input ClassAds {path}: {getattr(exc, 'strerror', None) or exc}"
        ) from None
    try:
        return list(classad.parseAds(text, classad.ParserType.New))
    except (ValueError, RuntimeError) as exc:  # what the binding raises for bad text
        raise ConfigurationError(f"{path}: not a file of ClassAds ({exc})") from None


def ad_text(values: Mapping[str, Any]) -> str:
    """One ClassAd, new format; nested mappings and lists of mappings become ClassAds."""
    classad = classad_module()
    return str(classad.ClassAd({key: _value(classad, value) for key, value in values.items()}))


def long_form(values: Mapping[str, Any]) -> str:
    """One ClassAd, in the "long" (line-oriented) form ``-classad`` must print."""
    classad = classad_module()
    return str(classad.ClassAd({key: _value(classad, value) for key, value in values.items()}).printOld())


def write_ads(path: str, ads: Iterable[Mapping[str, Any]]) -> None:
    """Write ``ads`` to ``path`` from its start without truncating it (the starter pre-allocates
    it with spaces, which the parser skips); a longer text extends it."""
    data = "".join(ad_text(ad) + "\n" for ad in ads).encode("utf-8")
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        size = os.fstat(descriptor).st_size
        view = memoryview(data + b" " * max(0, size - len(data)))  # a shorter text leaves no old bytes
        while view:
            view = view[os.write(descriptor, view) :]
    finally:
        os.close(descriptor)


def _value(classad: ModuleType, value: Any) -> Any:
    if isinstance(value, Mapping):
        return classad.ClassAd({key: _value(classad, item) for key, item in value.items()})
    if isinstance(value, (list, tuple)):
        return [_value(classad, item) for item in value]
    return value
