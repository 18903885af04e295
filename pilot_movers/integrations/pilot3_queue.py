"""What Pilot 3's own view of the queue says to the movers inside it.

* The ``pilot_movers`` section of the queuedata (this library's queue config: ``transfer``,
  ``movers``, ``storages``...). Pilot 3's ``QueueData`` keeps only the keys it knows, so the
  section is read from its ``params`` (the free-form object CRIC offers: ``params.pilot_movers``)
  or else from the raw queuedata its info provider returns. A copytool registered with its own
  ``queue`` keeps that one.
* Copytools listed after this one for an activity (``acopytools.pr = [pilot_movers, xrdcp]``):
  when the movers refuse a file (a corrupt input, a checksum that does not match), Pilot 3 hands
  it to the next copytool, which may land it without the check. Said once, as a warning.

Pilot 3 is imported only when asked, inside a transfer or ``register``.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping, Optional

from pilot_movers.panda.queuedata import OWN_SECTION
from pilot_movers.queue_config import QueueConfig

log = logging.getLogger(__name__)

_warned: set[tuple[str, str]] = set()


def _infosys() -> Any:
    try:
        from pilot.info import infosys
    except ImportError:  # not inside Pilot 3
        return None
    return infosys


def own_section() -> tuple[Optional[Mapping[str, Any]], str]:
    """The queuedata's ``pilot_movers`` section as Pilot 3 sees the queue, and where it was."""
    infosys = _infosys()
    queuedata = getattr(infosys, "queuedata", None) if infosys is not None else None
    if queuedata is None:
        return None, ""
    name = str(getattr(queuedata, "name", "") or getattr(infosys, "pandaqueue", "") or "")
    params = getattr(queuedata, "params", None)
    if isinstance(params, Mapping) and isinstance(params.get(OWN_SECTION), Mapping):
        return params[OWN_SECTION], f"queuedata of {name} [params.{OWN_SECTION}]"
    provider = getattr(infosys, "extinfo", None)
    resolve = getattr(provider, "resolve_queuedata", None)
    if resolve is None or not name:
        return None, ""
    try:
        raw = (resolve(name) or {}).get(name) or {}
    except Exception as exc:  # noqa: BLE001 - a provider that cannot answer leaves the defaults
        log.warning("cannot read the queuedata of %s for its %s section: %s", name, OWN_SECTION, exc)
        return None, ""
    section = raw.get(OWN_SECTION) if isinstance(raw, Mapping) else None
    return (section, f"queuedata of {name} [{OWN_SECTION}]") if isinstance(section, Mapping) else (None, "")


def queue_from_pilot3() -> Optional[QueueConfig]:
    """The queue config the queuedata's own section stands for (None: it has none). A section
    that does not load is an error naming it: a site's setting is not silently dropped."""
    section, where = own_section()
    if section is None:
        return None
    config = QueueConfig.from_dict(dict(section), source=where)
    log.info("pilot-movers settings from the %s", where)
    return config


def warn_about_followers(name: str) -> None:
    """Warn, once per activity, when another copytool follows ``name`` in ``acopytools``."""
    infosys = _infosys()
    acopytools = getattr(getattr(infosys, "queuedata", None), "acopytools", None) if infosys is not None else None
    if not isinstance(acopytools, Mapping):
        return
    for activity, names in acopytools.items():
        names = list(names or [])
        if name not in names or names.index(name) == len(names) - 1 or (activity, name) in _warned:
            continue
        _warned.add((activity, name))
        after = names[names.index(name) + 1 :]
        log.warning(
            "acopytools.%s = %s: a file the movers refuse (a corrupt input, a checksum that does not match) "
            "goes on to %s, which may land it without that check and overwrite the catalogue's checksum; "
            "list %s alone for %s to keep every file verified",
            activity,
            ", ".join(names),
            ", ".join(after),
            name,
            activity,
        )
