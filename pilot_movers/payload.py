"""Run the payload in its own process group, so that a timeout or a signal stops all of it."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import IO, Callable, Mapping, Optional, Sequence, Union

from pilot_movers.config_values import DAY, DURATION, HOUR, between, check_fields, option
from pilot_movers.errors import PayloadFailed, PayloadTimeout
from pilot_movers.report import PayloadReport

log = logging.getLogger(__name__)

#: Seconds between SIGTERM and SIGKILL when the payload must stop.
KILL_GRACE = 10.0


@dataclass(frozen=True)
class PayloadSettings:
    """Queue config ``[payload]``."""

    timeout: Optional[float] = option(None, DURATION, between(1, 30 * DAY))
    """Kill the payload after this long (``pilot-movers run --payload-timeout`` wins)."""
    kill_grace: float = option(KILL_GRACE, DURATION, between(0, HOUR))
    """Seconds between SIGTERM and SIGKILL when the payload must stop."""

    def __post_init__(self) -> None:
        check_fields(self, where="[payload]")


Output = Union[None, int, IO[bytes]]


def run_payload(
    argv: Sequence[str],
    *,
    cwd: str,
    env: Mapping[str, str],
    timeout: Optional[float] = None,
    stdout: Output = None,
    stderr: Output = None,
    kill_grace: float = KILL_GRACE,
    stop_requested: Callable[[], Optional[BaseException]] = lambda: None,
) -> PayloadReport:
    """Run ``argv`` to completion; return its report, or raise PayloadFailed / PayloadTimeout.

    The payload runs in a process group of its own, led by a guard (``payload_guard``) that stops
    the whole group if this process dies, even by SIGKILL. Any exception while waiting (a signal
    turned into JobTerminated, KeyboardInterrupt) stops the group before it propagates, and what
    the payload left running when it exited is stopped too: no payload process outlives the job.
    """
    if not argv:
        raise PayloadFailed("no payload command given")
    program = _find(argv[0], cwd, env)
    started = time.time()
    told, tell = os.pipe()  # the guard says here what it could not kill
    guard_env = {
        **env,
        "PILOT_MOVERS_PARENT_PID": str(os.getpid()),
        "PILOT_MOVERS_KILL_GRACE": str(kill_grace),
        "PILOT_MOVERS_GUARD_FD": str(tell),
    }
    guarded = [sys.executable, "-m", "pilot_movers.payload_guard", "--", program, *argv[1:]]
    try:
        process = subprocess.Popen(
            guarded, cwd=cwd, env=guard_env, stdout=stdout, stderr=stderr, start_new_session=True, pass_fds=(tell,)
        )
    except OSError as exc:
        os.close(told)
        raise PayloadFailed(f"cannot start {argv[0]}: {exc.strerror}") from exc
    finally:
        os.close(tell)
    log.info("payload started: process group %d: %s", process.pid, " ".join(argv))
    try:
        try:
            exit_code = _wait(process, timeout, stop_requested)
            _kill_group(process.pid)  # what the payload left running in its group
        except subprocess.TimeoutExpired:
            stop_process_group(process, kill_grace)
            survivors = _survivors(told)
            report = PayloadReport(
                tuple(argv), started, time.time(), process.returncode, timed_out=True, survivors=survivors
            )
            raise PayloadTimeout(
                f"payload ran longer than {timeout:g} s and was killed", exit_code=process.returncode, report=report
            ) from None
        except BaseException:
            stop_process_group(process, kill_grace)
            raise
        survivors = _survivors(told)
    finally:
        os.close(told)
    report = PayloadReport(tuple(argv), started, time.time(), exit_code, _signal_name(exit_code), survivors=survivors)
    if exit_code != 0:
        how = f"was killed by {report.signal}" if report.signal else f"exited with status {exit_code}"
        raise PayloadFailed(f"payload {argv[0]} {how}", exit_code=exit_code, report=report)
    return report


def stop_process_group(process: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM the payload's process group, then SIGKILL it after ``grace`` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    # The leader may be gone while children linger in the group: make sure they die too.
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _wait(
    process: subprocess.Popen[bytes], timeout: Optional[float], stop_requested: Callable[[], Optional[BaseException]]
) -> int:
    """The exit status; ``subprocess.TimeoutExpired`` after ``timeout``; the exception
    ``stop_requested`` returns once it returns one (looked at twice a second: a signal that could
    not be raised where it arrived still stops the payload)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        step = 0.5 if deadline is None else max(0.0, min(0.5, deadline - time.monotonic()))
        try:
            return process.wait(timeout=step)
        except subprocess.TimeoutExpired:
            if deadline is not None and time.monotonic() >= deadline:
                raise
        stop = stop_requested()
        if stop is not None:
            raise stop


def _find(program: str, cwd: str, env: Mapping[str, str]) -> str:
    """The payload's program as the guard will run it, or PayloadFailed when there is none."""
    if "/" in program:
        path = os.path.join(cwd, program)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return program
        raise PayloadFailed(f"cannot start {program}: no executable file there")
    found = shutil.which(program, path=env.get("PATH", os.defpath))
    if found is None:
        raise PayloadFailed(f"cannot start {program}: not found on PATH")
    return found


def _survivors(told: int) -> tuple[str, ...]:
    """What the guard said it could not kill (it has exited: its end of the pipe is closed)."""
    chunks = []
    while True:
        try:
            chunk = os.read(told, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    try:
        said = json.loads(b"".join(chunks) or b"{}")
    except ValueError:
        return ()
    survivors = tuple(str(item) for item in said.get("survivors", ()))
    if survivors:
        log.warning("payload processes that could not be killed: %s", "; ".join(survivors))
    return survivors


def _kill_group(group: int) -> None:
    try:
        os.killpg(group, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _signal_name(exit_code: int) -> Optional[str]:
    if exit_code < 0:
        try:
            return signal.Signals(-exit_code).name
        except ValueError:
            return f"signal {-exit_code}"
    return None
