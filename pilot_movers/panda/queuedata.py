"""PanDA queuedata (the queue description sites maintain in CRIC, as Pilot 3 reads it) -> the
queue config of this library.

What is read:

* ``acopytools``: Pilot 3 copytool names per activity. Stage-in takes the first of ``pr``,
  ``read_lan``, ``default`` present, stage-out the first of ``pw``, ``w``, ``write_lan``,
  ``default`` (Pilot 3.7 asks for ``pr`` and ``pw``/``w``); with no ``acopytools`` at all, the
  keys of ``copytools`` (as Pilot 3 falls back). Each name becomes the mover that does the same
  job (``COPYTOOL_MOVERS``); names no mover stands for are skipped, and said so (``notes``); an
  activity left with none is refused (UNKNOWNCOPYTOOL), naming each copytool and why.
* ``copytools``: each copytool's ``setup`` script. The movers move data in this process and
  source no script: a non-empty ``setup`` is said in the notes.
* ``maxwdir``, ``timefloor``, ``maxinputsize``, ``maxtime``, ``corecount``, ``maxrss``: whole
  numbers (``14336.0`` is 14336), kept (``PandaQueue``); they govern the pilot's loop, not data
  movement. A value that is no number is ignored and said, as Pilot 3 falls back to its default.
* ``copytools``, ``acopytools``, ``astorages`` given as Python-literal text (``"{'pr': ['rucio']}"``)
  are read as Pilot 3 reads them (``ast.literal_eval``).
* A file of several queues (CRIC's dump, ``cric_pandaqueues.json`` on CVMFS) gives the queue named
  by ``queue`` (``--panda-queue``, else ``$PANDA_QUEUE``); a file of one queue keyed by its name
  gives that one.
* ``pilot_movers``: this library's own settings (the keys of its JSON queue config:
  ``storages``, ``transfer``, ``movers``...), which the site adds to the queuedata; a
  ``copytool``/``copytoolin`` given there replaces the mapping for its phase.

Every other queuedata key is left to the pilot.
"""

from __future__ import annotations

import ast
import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from pilot_movers.errors import ConfigurationError, MoverError, Phase, UnknownMover
from pilot_movers.registry import get_mover_class

#: Pilot 3 copytool name -> the mover doing the same job (None: none does; ``WHY_NO_MOVER`` says why).
COPYTOOL_MOVERS: Mapping[str, Optional[str]] = {
    "xrdcp": "xrootd",
    "gfal": "gridftp",
    "gfalcopy": "gridftp",
    "mv": "local",
    "lsm": None,
    "rucio": None,
    "objectstore": None,
    "s3": None,
    "gs": None,
}

#: Why no mover stands for a Pilot 3 copytool.
WHY_NO_MOVER: Mapping[str, str] = {
    "lsm": "it runs the site's own lsm-get/lsm-put scripts",
    "rucio": "it looks replicas up in Rucio and registers outputs there; pilot-movers registers nothing",
    "objectstore": "it uploads to S3 object stores through the rucio command",
    "s3": "it talks to S3 through boto3; there is no S3 mover",
    "gs": "it talks to Google Cloud Storage; there is no such mover",
}

#: The copytool name ``pilot_movers.integrations.pilot3.register()`` uses by default: these very
#: movers, each file's by its URL's scheme.
INTEGRATION_NAME = "pilot_movers"

#: Activities asked, in order, for each phase's copytools.
ACTIVITIES: Mapping[Phase, tuple[str, ...]] = {
    Phase.STAGE_IN: ("pr", "read_lan", "default"),
    Phase.STAGE_OUT: ("pw", "w", "write_lan", "default"),
}
_CONFIG_KEYS = {Phase.STAGE_IN: "copytoolin", Phase.STAGE_OUT: "copytool"}

#: Keys only a queuedata document has (this library's own JSON has none of them).
QUEUEDATA_KEYS = ("copytools", "acopytools", "nickname", "panda_resource", "astorages", "acopytools_schemas")
INTEGER_KEYS = ("maxwdir", "timefloor", "maxinputsize", "maxtime", "corecount", "maxrss")
OWN_SECTION = "pilot_movers"


@dataclass(frozen=True)
class CopytoolChoice:
    """Which movers one phase uses, and where that came from."""

    phase: Phase
    source: str
    """``acopytools.pr``, ``copytools``, or ``pilot_movers.copytoolin``."""
    listed: tuple[str, ...]
    movers: tuple[str, ...]
    """In order of preference; empty: each file's URL scheme decides."""
    skipped: tuple[tuple[str, str], ...] = ()
    """(copytool, why) for each name no usable mover stands for."""


@dataclass(frozen=True)
class PandaQueue:
    """A queuedata document as far as this library reads it."""

    name: str
    copytools: Mapping[str, Mapping[str, Any]]
    acopytools: Mapping[str, tuple[str, ...]]
    limits: Mapping[str, Optional[int]]
    """``maxwdir`` (MB), ``timefloor``, ``maxinputsize``, ... as given (None: absent)."""
    choices: Mapping[Phase, CopytoolChoice]
    own: Mapping[str, Any] = field(default_factory=dict)
    """The ``pilot_movers`` section."""
    notes: tuple[str, ...] = ()
    write_storages: tuple[str, ...] = ()
    """``astorages`` of the first stage-out activity present: where outputs may go."""

    def to_config(self) -> dict[str, Any]:
        """The queue config this queue stands for, in this library's JSON form: the
        ``astorages`` of stage-out become ``[panda] output_storages`` (those the section's
        ``storages`` or ``ddmendpoints`` can resolve) unless the section sets them."""
        config = dict(self.own)
        for phase, choice in self.choices.items():
            if choice.movers:
                config[_CONFIG_KEYS[phase]] = ", ".join(choice.movers)
        panda = dict(config.get("panda") or {}) if isinstance(config.get("panda") or {}, Mapping) else None
        if panda is not None and self.write_storages and not panda.get("output_storages"):
            panda["output_storages"] = list(self.resolvable_write_storages())
            config["panda"] = panda
        return config

    def resolvable_write_storages(self) -> tuple[str, ...]:
        """The ``astorages`` for stage-out the section can resolve: all of them with CRIC's
        ``ddmendpoints``, else those its ``storages`` names."""
        panda = self.own.get("panda") or {}
        if isinstance(panda, Mapping) and panda.get("ddmendpoints"):
            return self.write_storages
        storages = self.own.get("storages") or {}
        known = {str(name).casefold() for name in storages} if isinstance(storages, Mapping) else set()
        return tuple(name for name in self.write_storages if name.casefold() in known)


#: The environment variable naming the queue to take from a file of several (as pilots export it).
QUEUE_VARIABLE = "PANDA_QUEUE"


def is_queuedata(data: Mapping[str, Any]) -> bool:
    """A queuedata document, or a file of queues keyed by their names (one or CRIC's dump)?"""
    if any(key in data for key in QUEUEDATA_KEYS):
        return True
    queues = [value for value in data.values() if isinstance(value, Mapping)]
    return bool(queues) and len(queues) == len(data) and any(is_queuedata(value) for value in queues)


def queuedata_to_config(
    data: Mapping[str, Any], *, source: str, queue: Optional[str] = None
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The queue config dict a queuedata document stands for, and the notes worth saying."""
    read = read_queuedata(data, source=source, queue=queue)
    return read.to_config(), read.notes


def one_queue(data: Mapping[str, Any], source: str, queue: Optional[str] = None) -> tuple[Mapping[str, Any], str]:
    """The queue's own document in ``data``, and where it was found (for messages)."""
    if any(key in data for key in QUEUEDATA_KEYS):
        return data, source
    if queue is None and len(data) == 1:  # one queue: $PANDA_QUEUE need not name it
        ((name, found),) = data.items()
        return found, f"{source} [{name}]"
    wanted = queue or os.environ.get(QUEUE_VARIABLE) or None
    if wanted is None:
        raise ConfigurationError(
            f"{source} holds {len(data)} queues: name one (--panda-queue NAME, or ${QUEUE_VARIABLE})"
        )
    found = data.get(wanted)
    if not isinstance(found, Mapping):
        close = sorted(name for name in data if wanted.lower() in str(name).lower())[:5]
        hint = f" (close: {', '.join(close)})" if close else ""
        raise ConfigurationError(f"{source} holds no queue named {wanted!r} among its {len(data)}{hint}")
    return found, f"{source} [{wanted}]"


def read_queuedata(data: Mapping[str, Any], *, source: str = "<queuedata>", queue: Optional[str] = None) -> PandaQueue:
    """Read a queuedata document (``queue``: which one, in a file of several); a
    ConfigurationError names the key that cannot be used."""
    data, source = one_queue(data, source, queue)
    own = data.get(OWN_SECTION) or {}
    if not isinstance(own, Mapping):
        raise ConfigurationError(f"{source}: {OWN_SECTION} must be an object of pilot-movers queue config")
    lenient: list[str] = []
    copytools = _copytools(_literal(data.get("copytools"), "copytools", source, lenient), source)
    acopytools = _acopytools(_literal(data.get("acopytools"), "acopytools", source, lenient), source)
    limits = {key: _integer(data.get(key), key, source, lenient) for key in INTEGER_KEYS}
    notes = lenient + [
        f"copytools.{name}.setup = {spec['setup']!r} is not sourced: the movers run in this process"
        for name, spec in copytools.items()
        if str(spec.get("setup") or "").strip()
    ]
    astorages = _acopytools(_literal(data.get("astorages"), "astorages", source, lenient), source, "astorages")
    activity = next((a for a in ACTIVITIES[Phase.STAGE_OUT] if astorages.get(a)), None)
    write_storages = astorages[activity] if activity else ()
    choices = {}
    for phase in (Phase.STAGE_IN, Phase.STAGE_OUT):
        choice = _choose(phase, acopytools, copytools, own, source)
        choices[phase] = choice
        notes += [f"{choice.source}: copytool {name!r} skipped ({phase.value}): {why}" for name, why in choice.skipped]
    name = str(data.get("nickname") or data.get("name") or "")
    read = PandaQueue(name, copytools, acopytools, limits, choices, dict(own), tuple(notes), write_storages)
    dropped = [n for n in write_storages if n not in read.resolvable_write_storages()]
    if dropped:
        notes.append(
            f"astorages.{activity}: {', '.join(dropped)} not used as output storages: neither the "
            f"{OWN_SECTION} section's storages nor [panda] ddmendpoints says where it is"
        )
        read = dataclasses.replace(read, notes=tuple(notes))
    return read


def mover_for_copytool(name: str) -> tuple[Optional[str], str]:
    """The mover standing for Pilot 3 copytool ``name`` and, when none does, why. The
    integration's own name stands for every mover (``None``, ``""``: by URL scheme)."""
    if name == INTEGRATION_NAME:
        return None, ""
    if name not in COPYTOOL_MOVERS:
        return None, "Pilot 3 has no copytool of that name"
    mover = COPYTOOL_MOVERS[name]
    if mover is None:
        return None, f"no mover does what {name} does: {WHY_NO_MOVER[name]}"
    try:
        get_mover_class(mover)
    except MoverError as exc:
        return None, f"it maps to the {mover!r} mover, which cannot be used here: {exc.message}"
    return mover, ""


def _choose(
    phase: Phase,
    acopytools: Mapping[str, tuple[str, ...]],
    copytools: Mapping[str, Any],
    own: Mapping[str, Any],
    source: str,
) -> CopytoolChoice:
    key = _CONFIG_KEYS[phase]
    given = own.get(key) or (own.get("copytool") if phase is Phase.STAGE_IN else None)
    if given:
        names = tuple(n.strip() for n in str(given).split(",") if n.strip())
        return CopytoolChoice(phase, f"{OWN_SECTION}.{key}", names, names)
    if acopytools:
        activity = next((a for a in ACTIVITIES[phase] if acopytools.get(a)), None)
        if activity is None:
            raise ConfigurationError(
                f"{source}: acopytools names no copytool for {phase.value} (looked for "
                f"{', '.join(ACTIVITIES[phase])}; it has {', '.join(sorted(acopytools))})"
            )
        where, listed = f"acopytools.{activity}", acopytools[activity]
    else:
        where, listed = "copytools", tuple(copytools)
    movers: list[str] = []
    skipped: list[tuple[str, str]] = []
    by_scheme = False
    for name in listed:
        mover, why = mover_for_copytool(name)
        if mover is not None:
            movers.append(mover)
        elif not why:
            by_scheme = True
        else:
            skipped.append((name, why))
    if listed and not movers and not by_scheme:
        reasons = "; ".join(f"{name}: {why}" for name, why in skipped)
        raise UnknownMover(
            f"{source}: {where} = {', '.join(listed)}, and no mover stands for any of them ({reasons}). "
            f"List one of {', '.join(n for n, m in COPYTOOL_MOVERS.items() if m)} or {INTEGRATION_NAME}, "
            f"or name movers in {OWN_SECTION}.{key}",
            phase=phase,
        )
    if by_scheme:  # the integration's name: any mover, by scheme; named ones first would narrow it
        movers = []
    return CopytoolChoice(phase, where, tuple(listed), tuple(dict.fromkeys(movers)), tuple(skipped))


def _copytools(raw: Any, source: str) -> dict[str, Mapping[str, Any]]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigurationError(f"{source}: copytools must be an object of copytool -> settings, not {raw!r}")
    found: dict[str, Mapping[str, Any]] = {}
    for name, spec in raw.items():
        if spec is None:
            spec = {}
        if not isinstance(spec, Mapping):
            raise ConfigurationError(f"{source}: copytools.{name} must be an object such as {{'setup': ''}}")
        found[str(name)] = spec
    return found


def _acopytools(raw: Any, source: str, key: str = "acopytools") -> dict[str, tuple[str, ...]]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigurationError(f"{source}: {key} must be an object of activity -> names, not {raw!r}")
    found: dict[str, tuple[str, ...]] = {}
    for activity, names in raw.items():
        if isinstance(names, str):
            names = [n for n in names.split(",") if n.strip()]
        if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
            raise ConfigurationError(f"{source}: {key}.{activity} must be a list of names, not {names!r}")
        found[str(activity)] = tuple(n.strip() for n in names)
    return found


def _literal(raw: Any, key: str, source: str, notes: list[str]) -> Any:
    """A dict Pilot 3 would read from Python-literal text (its ``clean_dictdata``)."""
    if not isinstance(raw, str):
        return raw
    try:
        value = ast.literal_eval(raw.strip() or "None")
    except (ValueError, SyntaxError, RecursionError, MemoryError) as exc:
        raise ConfigurationError(
            f"{source}: {key} = {raw!r} is neither an object nor Python-literal text: {exc}"
        ) from None
    notes.append(f"{key} given as text: read as Pilot 3 reads it ({key} = {value!r})")
    return value


def _integer(raw: Any, key: str, source: str, notes: list[str]) -> Optional[int]:
    """A whole number; ``14336.0`` is 14336; anything else is ignored (None), as Pilot 3 falls
    back to its default, and said."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        notes.append(f"{key} = {raw!r} is not a number: ignored (Pilot 3 uses its default)")
        return None
    try:
        number = float(str(raw).strip()) if not isinstance(raw, int) else raw
    except ValueError:
        notes.append(f"{key} = {raw!r} is not a number: ignored (Pilot 3 uses its default)")
        return None
    if isinstance(number, float) and not number.is_integer():
        notes.append(f"{key} = {raw!r} is not a whole number: ignored (Pilot 3 uses its default)")
        return None
    return int(number)
