"""Test doubles: real Mover subclasses whose transport misbehaves on cue, and a mover catalog
without the registry.

They exercise the real engine end to end; only the transport's behaviour is scripted.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from typing import Any, Callable, Collection, Optional

from pilot_movers import (
    Copied,
    CopyRequest,
    LocalNamespace,
    Location,
    Mover,
    MoverError,
    MoverUnavailable,
    ResolvedMover,
)
from pilot_movers.local.mover import LocalMover


class ScriptedMover(LocalMover):
    """A local mover that raises scripted errors: ``script[name]`` is a list, one entry per
    attempt, of an exception to raise (None: copy normally). Counts calls and concurrency."""

    name = "scripted"

    def __init__(self, settings: Any = None, *, script: Optional[dict[str, list[Any]]] = None, **options: Any):
        super().__init__(settings, **options)
        self.script = {k: list(v) for k, v in (script or {}).items()}
        self.calls: dict[str, int] = defaultdict(int)
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()
        self.delay = 0.0
        self.opened = 0
        self.closed = 0

    def open(self) -> None:
        self.opened += 1

    def close(self) -> None:
        self.closed += 1

    def copy_file(self, request: CopyRequest) -> Copied:
        name = request.spec.name
        with self._lock:
            self.calls[name] += 1
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            steps = self.script.get(name)
            step = steps.pop(0) if steps else None
        try:
            if self.delay:
                time.sleep(self.delay)
            if isinstance(step, BaseException):
                raise step
            if callable(step):
                return step(request, lambda: super(ScriptedMover, self).copy_file(request))
            return super().copy_file(request)
        finally:
            with self._lock:
                self.active -= 1

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())


class StallingMover(LocalMover):
    """Copies nothing and reports no progress until its clock is cancelled (a hung server)."""

    name = "stalling"

    def __init__(self, settings: Any = None, *, trickle: bool = False, **options: Any):
        super().__init__(settings, **options)
        self.trickle = trickle
        self.cancel_hook_called = threading.Event()

    def copy_file(self, request: CopyRequest) -> Copied:
        request.clock.on_cancel(self.cancel_hook_called.set)
        with open(request.target.path, "wb") as partial:
            sent = 0
            while not request.clock.cancelled.wait(0.02):
                if self.trickle:  # progress that never ends: only the total deadline stops it
                    partial.write(b"x")
                    partial.flush()
                    sent += 1
                    request.clock.progress(sent)
        request.clock.raise_if_cancelled()
        raise AssertionError("unreachable")


class LossyRenameNamespace(LocalNamespace):
    """Renames, then reports a failure anyway (the reply was lost): an ambiguous failure."""

    def __init__(self, error_factory: Callable[[], MoverError], times: int = 1):
        self.error_factory = error_factory
        self.left = times

    def rename(self, source: Location, target: Location, *, overwrite: bool) -> None:
        super().rename(source, target, overwrite=overwrite)
        if self.left:
            self.left -= 1
            raise self.error_factory()


class LossyRenameMover(ScriptedMover):
    name = "lossy-rename"

    def __init__(self, settings: Any = None, *, namespace: LocalNamespace, **options: Any):
        super().__init__(settings, **options)
        self._namespace = namespace

    def namespace(self, location: Location) -> Any:
        return self._namespace


class StandInCatalog:
    """Installed movers as the planner sees them (a ``MoverCatalog``), without the registry:
    mover ``name`` is a stand-in class handling ``schemes_of(name)``, the mover of ``scheme``
    when none is named is ``default_of(scheme)``. Each name resolves to one class; those in
    ``unusable`` cannot run here (MoverUnavailable, as the registry says it)."""

    def __init__(
        self,
        schemes_of: Callable[[str], tuple[str, ...]],
        default_of: Callable[[str], str],
        unusable: Collection[str] = (),
    ):
        self._schemes_of = schemes_of
        self._default_of = default_of
        self._unusable = unusable
        self._resolved: dict[str, ResolvedMover] = {}

    def resolve(self, name: str) -> ResolvedMover:
        if name in self._unusable:
            raise MoverUnavailable(f"the {name!r} mover cannot run here: its library is not installed")
        if name not in self._resolved:
            attributes = {"name": name, "schemes": self._schemes_of(name)}
            self._resolved[name] = ResolvedMover(name, type(f"StandIn_{name}", (Mover,), attributes))
        return self._resolved[name]

    def default_for(self, scheme: str) -> ResolvedMover:
        return self.resolve(self._default_of(scheme))
