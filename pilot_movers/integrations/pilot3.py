"""The movers as a PanDA Pilot 3 copytool.

Pilot 3 picks copytools by name from a fixed table (``StagingClient.copytool_modules`` in
``pilot/api/data.py``) and imports ``pilot.copytool.<name>``: there are no entry points. A VO's
pilot plugin (code Pilot 3 already runs, under ``pilot/user/<vo>/``) registers the movers with one
call, before any transfer::

    from pilot_movers.integrations import pilot3
    pilot3.register()  # copytool "pilot_movers": each file through the mover of its URL's scheme
    pilot3.register("pm_xrootd", movers=["xrootd"], queue="/etc/pilot-movers/queue.json")

and the queuedata names it like any copytool: ``"acopytools": {"pr": ["pilot_movers"], ...}``.

This module is itself a copytool module with the default settings: ``copy_in(files, **kwargs)``,
``copy_out``, ``is_valid_for_copy_in/out`` (which check each file: a name that stays in the work
dir, a turl some mover handles, a checksum that parses), ``require_replicas`` (Pilot 3 resolves
each input's replica and sets its ``turl``), ``allowed_schemas`` (the schemes the movers handle,
XRootD first). ``register`` makes one such module per name, with its own movers and settings.

Pilot 3 itself is imported only by ``register`` and by a transfer, never at import time.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import types
from typing import Any, Optional, Sequence, Union

from pilot_movers.errors import Phase
from pilot_movers.integrations.pilot3_queue import warn_about_followers
from pilot_movers.integrations.pilot3_staging import CopytoolSettings, stage
from pilot_movers.panda.queuedata import INTEGRATION_NAME
from pilot_movers.queue_config import QueueConfig
from pilot_movers.registry import get_mover_class

log = logging.getLogger(__name__)

#: Pilot 3 resolves each input's replica (Rucio) and hands the file over with its ``turl`` set.
require_replicas = True

_DEFAULT = CopytoolSettings()
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def __getattr__(name: str) -> Any:
    """``allowed_schemas`` is worked out on first use (it asks which movers can run here)."""
    if name == "allowed_schemas":
        return _DEFAULT.allowed_schemas()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def copy_in(files: list[Any], **kwargs: Any) -> list[Any]:
    """Bring Pilot 3's input FileSpecs from their ``turl`` into the work dir (``workdir``)."""
    return stage(files, Phase.STAGE_IN, _DEFAULT, kwargs)


def copy_out(files: list[Any], **kwargs: Any) -> list[Any]:
    """Send Pilot 3's output FileSpecs from the work dir (or ``surl``) to their ``turl``."""
    return stage(files, Phase.STAGE_OUT, _DEFAULT, kwargs)


def is_valid_for_copy_in(files: list[Any]) -> bool:
    return _valid(files, Phase.STAGE_IN, _DEFAULT)


def is_valid_for_copy_out(files: list[Any]) -> bool:
    return _valid(files, Phase.STAGE_OUT, _DEFAULT)


def register(
    name: str = INTEGRATION_NAME,
    *,
    movers: Sequence[str] = (),
    queue: Union[QueueConfig, str, os.PathLike[str], None] = None,
    require_replicas: bool = True,
    replace: bool = False,
) -> types.ModuleType:
    """Make the movers Pilot 3's copytool ``name``: the module ``pilot.copytool.<name>`` and its
    entry in ``StagingClient.copytool_modules``. ``movers``: which movers, in order of preference
    (default: each file's by its URL scheme); ``queue``: a queue config (or its path) for the
    engine's settings and the movers' options; ``require_replicas``: False when the VO's plugin
    sets each input's ``turl`` itself. A name Pilot 3 already has is refused unless ``replace``.
    Returns the module. Call it once, from the VO's pilot plugin, before any transfer."""
    from pilot.api.data import StagingClient

    if not _NAME.match(name):
        raise ValueError(f"copytool name {name!r} must be a Python identifier (it becomes pilot.copytool.{name})")
    module_name = f"pilot.copytool.{name}"
    existing = sys.modules.get(module_name)
    ours = existing is not None and getattr(existing, "__pilot_movers__", False)
    if name in StagingClient.copytool_modules and not ours and not replace:
        raise ValueError(f"Pilot 3 already has a copytool named {name!r}: pick another name, or pass replace=True")
    if isinstance(queue, (str, os.PathLike)):
        queue = QueueConfig.load(queue)
    settings = CopytoolSettings(tuple(movers), queue or QueueConfig(), queue_given=queue is not None, name=name)
    for mover in settings.movers:  # an unknown or unusable mover is refused now, not mid-job
        get_mover_class(mover)
    module = _copytool_module(module_name, settings, require_replicas)
    sys.modules[module_name] = module
    package = sys.modules.get("pilot.copytool")
    if package is not None:
        setattr(package, name, module)
    StagingClient.copytool_modules[name] = {"module_name": name}
    warn_about_followers(name)  # when Pilot 3 knows its queue already; else at the first transfer
    log.info("Pilot 3 copytool %r: pilot-movers (%s)", name, ", ".join(settings.movers) or "by URL scheme")
    return module


def _copytool_module(module_name: str, settings: CopytoolSettings, replicas: bool) -> types.ModuleType:
    """A module with Pilot 3's copytool face, bound to ``settings``."""
    module = types.ModuleType(module_name, f"pilot-movers as a Pilot 3 copytool ({__name__}.register)")

    def copy_in(files: list[Any], **kwargs: Any) -> list[Any]:
        return stage(files, Phase.STAGE_IN, settings, kwargs)

    def copy_out(files: list[Any], **kwargs: Any) -> list[Any]:
        return stage(files, Phase.STAGE_OUT, settings, kwargs)

    def is_valid_for_copy_in(files: list[Any]) -> bool:
        return _valid(files, Phase.STAGE_IN, settings)

    def is_valid_for_copy_out(files: list[Any]) -> bool:
        return _valid(files, Phase.STAGE_OUT, settings)

    module.__dict__.update(
        copy_in=copy_in,
        copy_out=copy_out,
        is_valid_for_copy_in=is_valid_for_copy_in,
        is_valid_for_copy_out=is_valid_for_copy_out,
        require_replicas=replicas,
        allowed_schemas=settings.allowed_schemas(),
        settings=settings,
        __pilot_movers__=True,
    )
    return module


def _valid(files: list[Any], phase: Phase, settings: CopytoolSettings, workdir: Optional[str] = None) -> bool:
    """Whether the movers can move every file; each reason why not is logged."""
    problems = [(fspec, settings.problem(fspec, phase, workdir or ".")) for fspec in files]
    for fspec, problem in problems:
        if problem:
            log.warning("pilot-movers cannot %s %s: %s", phase.value, getattr(fspec, "lfn", "?"), problem)
    return not any(problem for _, problem in problems)
