"""Run the payload in its own process group, so that a timeout or a signal stops all of it."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from typing import IO, Mapping, Optional, Sequence, Union

from pilot_movers.config_values import DURATION, NOT_NEGATIVE, POSITIVE, check_fields, option
from pilot_movers.errors import PayloadFailed, PayloadTimeout
from pilot_movers.report import PayloadReport

log = logging.getLogger(__name__)

#: Seconds between SIGTERM and SIGKILL when the payload must stop.
KILL_GRACE = 10.0


@dataclass(frozen=True)
class PayloadSettings:
    """Queue config ``[payload]``."""

    timeout: Optional[float] = option(None, DURATION, POSITIVE)
    """Kill the payload after this long (``pilot-movers run --payload-timeout`` wins)."""
    kill_grace: float = option(KILL_GRACE, DURATION, NOT_NEGATIVE)
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
) -> PayloadReport:
    """Run ``argv`` to completion; return its report, or raise PayloadFailed / PayloadTimeout.

    Any exception while waiting (a signal turned into JobTerminated, KeyboardInterrupt) stops the
    whole process group before it propagates: no payload process outlives the job.
    """
    if not argv:
        raise PayloadFailed("no payload command given")
    started = time.time()
    try:
        process = subprocess.Popen(
            list(argv), cwd=cwd, env=dict(env), stdout=stdout, stderr=stderr, start_new_session=True
        )
    except OSError as exc:
        raise PayloadFailed(f"cannot start {argv[0]}: {exc.strerror}") from exc
    log.info("payload started: pid %d: %s", process.pid, " ".join(argv))
    try:
        exit_code = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_process_group(process, kill_grace)
        report = PayloadReport(tuple(argv), started, time.time(), process.returncode, timed_out=True)
        raise PayloadTimeout(
            f"payload ran longer than {timeout:g} s and was killed", exit_code=process.returncode, report=report
        ) from None
    except BaseException:
        stop_process_group(process, kill_grace)
        raise
    report = PayloadReport(tuple(argv), started, time.time(), exit_code, _signal_name(exit_code))
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


def _signal_name(exit_code: int) -> Optional[str]:
    if exit_code < 0:
        try:
            return signal.Signals(-exit_code).name
        except ValueError:
            return f"signal {-exit_code}"
    return None
