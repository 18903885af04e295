"""What the Globus tests share: the emulator in a process of its own, waiting for a task the way a
mover must, reading its events, files with known bytes."""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import globus_sdk
from pilot_movers_testkit.globus import wait_until

FINAL = ("SUCCEEDED", "FAILED")


def wait_for_task(tc: globus_sdk.TransferClient, task_id: str, timeout: float = 30.0) -> dict[str, Any]:
    """Poll get_task until SUCCEEDED or FAILED (INACTIVE is still in progress)."""

    def ended() -> Any:
        task = tc.get_task(task_id)
        return task.data if task["status"] in FINAL else None

    return wait_until(ended, timeout, interval=0.05, what=f"task {task_id} ending")


def events(tc: globus_sdk.TransferClient, task_id: str) -> list[dict[str, Any]]:
    """Every event of a task, oldest first."""
    return list(reversed(list(tc.paginated.task_event_list(task_id, limit=100).items())))


def write_bytes(path: Path, size: int, seed: int = 1) -> bytes:
    """``size`` pseudo-random bytes at ``path``; returns them, to compare with the copy."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = random.Random(seed).randbytes(size)
    path.write_bytes(data)
    return data


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def leftovers(directory: Path) -> list[str]:
    """Temporary files the emulator would have left behind."""
    return [str(p) for p in directory.rglob("*.part")]


@contextlib.contextmanager
def emulator_process(config: dict[str, Any], directory: Path, *options: str) -> Iterator[str]:
    """The emulator as a site admin runs it, ``python -m pilot_movers_testkit.globus_emulator``
    with ``config`` as its config file (written in ``directory``) and ``options``; yields its
    root URL once it listens, and stops it after."""
    config_file = directory / "emulator.json"
    config_file.write_text(json.dumps(config))
    ready = directory / "ready"
    command = [sys.executable, "-m", "pilot_movers_testkit.globus_emulator", "--config", str(config_file), *options]
    process = subprocess.Popen(
        [*command, "--ready-file", str(ready)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        yield wait_until(lambda: ready.exists() and ready.read_text().strip(), what="the emulator listening")
    finally:
        process.terminate()
        process.communicate(timeout=30)
