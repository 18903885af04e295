"""A Globus Transfer and Auth API emulator the unmodified globus-sdk talks to, and a stand-in
``globusconnectpersonal``. For tests and for site admins rehearsing a queue's Globus set-up on a
machine that cannot reach the Globus cloud. See docs/globus-emulator.md.

Names are imported on first use: the stand-in GCP (``gcp``) must not need Flask.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Emulator": "pilot_movers_testkit.globus_emulator.service",
    "EmulatorServer": "pilot_movers_testkit.globus_emulator.server",
    "Fault": "pilot_movers_testkit.globus_emulator.faults",
    "FaultKind": "pilot_movers_testkit.globus_emulator.faults",
    "create_app": "pilot_movers_testkit.globus_emulator.app",
}

__all__ = ["Emulator", "EmulatorServer", "Fault", "FaultKind", "create_app"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
