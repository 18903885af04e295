"""pilot-movers: the data movers a grid pilot job loads to stage in, run, stage out and clean up.

Names are imported on first use, so ``import pilot_movers`` stays cheap and a transport's
optional dependencies are only needed by those who use it.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Job": "pilot_movers.job",
    "QueueConfig": "pilot_movers.queue_config",
    "TransferSettings": "pilot_movers.engine.settings",
    "Mover": "pilot_movers.base",
    "CopyRequest": "pilot_movers.base",
    "CopyOutcome": "pilot_movers.base",
    "get_mover": "pilot_movers.registry",
    "get_mover_class": "pilot_movers.registry",
    "describe_movers": "pilot_movers.registry",
    "FileSpec": "pilot_movers.values",
    "Location": "pilot_movers.values",
    "TransferResult": "pilot_movers.values",
    "Status": "pilot_movers.values",
    "Role": "pilot_movers.values",
    "Checksum": "pilot_movers.checksums",
    "JobReport": "pilot_movers.report",
    "MoverError": "pilot_movers.errors",
    "Phase": "pilot_movers.errors",
}

__all__ = [
    "Checksum",
    "CopyOutcome",
    "CopyRequest",
    "FileSpec",
    "Job",
    "JobReport",
    "Location",
    "Mover",
    "MoverError",
    "Phase",
    "QueueConfig",
    "Role",
    "Status",
    "TransferResult",
    "TransferSettings",
    "__version__",
    "describe_movers",
    "get_mover",
    "get_mover_class",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pilot_movers' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
