"""The real ``pilot-movers run`` command in a subprocess, watched as a batch system would."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

#: The CLI's log line: ``2026-12-02 15:08:03,123 WARNING pilot_movers.job: SIGTERM received...``.
_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d\d\d) ")


@dataclass
class JobRun:
    """One ``pilot-movers -v run`` in a subprocess; its stderr read as it comes."""

    process: subprocess.Popen[str]
    workdir: Path
    report_path: Path
    started: float = field(default_factory=time.monotonic)
    lines: list[str] = field(default_factory=list)
    ended: Optional[float] = None

    def __post_init__(self) -> None:
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def wait(self, timeout: float) -> int:
        """The exit status; fails the test when the command outlives ``timeout``."""
        try:
            status = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"the job did not end within {timeout:g} s; its log:\n{self.log}") from None
        self.ended = self.ended or time.monotonic()
        self._reader.join(5)
        return status

    def wait_until(self, condition: Callable[[], bool], timeout: float, what: str) -> float:
        """Poll ``condition`` until it holds (the time it did), failing the test if the job ended
        first or ``timeout`` passed."""
        deadline = time.monotonic() + timeout
        while not condition():
            if not self.running:
                raise AssertionError(f"the job ended before {what}; its log:\n{self.log}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} did not happen within {timeout:g} s; the log:\n{self.log}")
            time.sleep(0.01)
        return time.monotonic()

    def send(self, number: int) -> float:
        self.process.send_signal(number)
        return time.monotonic()

    def partial_bytes(self) -> int:
        """Bytes of the engine's temporary files in the work dir (a download under way)."""
        total = 0
        try:
            for entry in os.scandir(self.workdir):
                if entry.name.endswith(".part") and ".pilot-movers-" in entry.name:
                    try:
                        total += entry.stat().st_size
                    except OSError:
                        pass
        except OSError:
            return 0
        return total

    def logged(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    def moment(self, text: str) -> float:
        """The wall-clock time (seconds since the epoch) of the first log line holding ``text``."""
        for line in self.lines:
            found = _STAMP.match(line)
            if found and text in line:
                return datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        raise AssertionError(f"no log line holds {text!r}; the log:\n{self.log}")

    @property
    def log(self) -> str:
        return "\n".join(self.lines[-80:])

    def report(self) -> dict[str, Any]:
        return dict(json.loads(self.report_path.read_text()))


def start_job(
    job_params: str,
    queue: dict[str, Any],
    workdir: Path,
    payload: Sequence[str],
    *,
    environment: Optional[dict[str, str]] = None,
    files: Optional[Path] = None,
) -> JobRun:
    """Start ``pilot-movers -v run`` for ``job_params`` with ``queue`` as its queue config; the
    queue config and the report go to ``files`` (default: beside the work dir)."""
    files = files or workdir.parent
    files.mkdir(parents=True, exist_ok=True)
    queue_path = files / f"{workdir.name}-queue.json"
    queue_path.write_text(json.dumps(queue))
    report = files / f"{workdir.name}-report.json"
    command = [
        sys.executable,
        "-m",
        "pilot_movers",
        "-v",
        "run",
        "--job-params",
        job_params,
        "--queue-config",
        str(queue_path),
        "--workdir",
        str(workdir),
        "--report",
        str(report),
        "--progress",
        "never",
        "--",
        *payload,
    ]
    env = {**os.environ, **(environment or {})}
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True
    )
    return JobRun(process, workdir, report)


SIGTERM_STATUS = 128 + signal.SIGTERM
