"""Running ``globusconnectpersonal`` for one job: ``-setup`` with a setup key into a private
config dir, ``-start`` in the background restricted to the work dir, ``-status`` until connected,
``-stop``.

GCP 3.2.8's control script keeps its control socket at ``/tmp/globusconnect_<uid>.sock`` whatever
``TMPDIR`` says, so one GCP runs per user and host. A job therefore asks ``-status`` first and
refuses to start a second one (WorkerEndpointFailed: another job of this user holds the node's
GCP, so this job belongs on another node or later); the job's own GCP still gets a private
``TMPDIR``, which is enough for versions that honour it. A GCP that did not start is never sent
``-stop``: the control socket would reach the other job's GCP.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import signal
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Mapping, Optional

from pilot_movers.errors import WorkerEndpointFailed

log = logging.getLogger(__name__)

CONNECTED = "Globus Online:   connected"
ANOTHER_RUNNING = "Another Globus Connect Personal is currently running"
_COMMAND_TIMEOUT = 60.0
_LOG_TAIL = 800
#: Seconds after which a running ``-start`` is not one that found another GCP (those exit at once).
_RACE_LOSER_LIFETIME = 3.0
_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}


class GlobusConnectPersonal:
    """One GCP: ``program``, its private ``config_dir`` (``-dir``), the environment it runs with
    (a private ``TMPDIR`` in it) and the file its output goes to."""

    def __init__(self, program: str, config_dir: Path, env: Mapping[str, str], log_path: Path) -> None:
        self.program = program
        self.config_dir = config_dir
        self.env = dict(env)
        self.log_path = log_path
        self.process: Optional[subprocess.Popen[bytes]] = None
        self.connected = False
        """Seen connected as this job's endpoint: from then on the control socket is ours."""
        self.started = 0.0

    def _run(self, *args: str, timeout: float = _COMMAND_TIMEOUT) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                [self.program, *args],
                check=False,
                env=self.env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise WorkerEndpointFailed(f"globusconnectpersonal {args[0] if args else ''} failed: {exc}") from None

    def status(self) -> tuple[int, str]:
        done = self._run("-status")
        return done.returncode, (done.stdout + done.stderr).strip()

    def refuse_if_another_runs(self) -> None:
        """A GCP of this user already runs on this node (``-status`` answers): another job's."""
        code, output = self.status()
        if code == 0:
            raise WorkerEndpointFailed(
                f"another Globus Connect Personal of uid {os.getuid()} already runs on this node "
                f"(globusconnectpersonal -status: {_one_line(output)}); GCP runs once per user and node, so "
                "this job cannot have its own worker endpoint here: run it on another node or after the other job"
            )

    def setup(self, setup_key: str) -> None:
        done = self._run("-dir", str(self.config_dir), "-setup", "--setup-key", setup_key)
        if done.returncode != 0:
            output = (done.stdout + done.stderr).replace(setup_key, "<setup key>")
            raise WorkerEndpointFailed(
                f"globusconnectpersonal -setup failed (exit {done.returncode}): {_one_line(output[-_LOG_TAIL:])}"
            )

    def start(self, workdir: str) -> None:
        """``-start`` in the background, only the work dir reachable (read and write), in a
        process group of its own (what a later job stops, should this one be killed) and, where
        ``setpriv`` is installed (util-linux), sent SIGTERM by the kernel when the pilot dies:
        a killed pilot's GCP does not stay connected, writing into a dead job's work dir."""
        if "," in workdir:
            raise WorkerEndpointFailed(f"the work dir {workdir} holds a ',', which -restrict-paths cannot express")
        command = [self.program, "-dir", str(self.config_dir), "-start", "-restrict-paths", f"rw{workdir}"]
        setpriv = _setpriv_with_pdeathsig()
        if setpriv:
            command = [setpriv, "--pdeathsig", "TERM", "--", *command]
        else:
            log.warning(
                "setpriv --pdeathsig is not available (util-linux < 2.33): a killed pilot's GCP lives on "
                "until the next job of this user here stops it"
            )
        with open(self.log_path, "ab") as out, _stoppable_children():
            try:
                self.process = subprocess.Popen(
                    command,
                    env=self.env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as exc:
                raise WorkerEndpointFailed(f"cannot start globusconnectpersonal: {exc}") from None
        self.started = time.monotonic()
        log.info("Globus Connect Personal started (pid %d), restricted to %s", self.process.pid, workdir)

    def wait_connected(self, timeout: float, endpoint_connected: Callable[[], bool]) -> None:
        """Until ``-status`` says connected and the service says this job's endpoint is
        (``-status`` alone could be another job's GCP answering on the shared control socket);
        WorkerEndpointFailed when GCP exits or the time is up."""
        deadline = time.monotonic() + timeout
        pause, last = 0.2, ""
        while True:
            if self.process is None or self.process.poll() is not None:
                self._exited()
            code, last = self.status()
            if code == 0 and CONNECTED in last and endpoint_connected() and self.running:
                self.connected = True
                log.info("Globus Connect Personal is connected")
                return
            if time.monotonic() >= deadline:
                raise WorkerEndpointFailed(
                    f"Globus Connect Personal did not connect within {timeout:g} s (-status: {_one_line(last)}); "
                    "it needs outbound TCP 2223 to the Globus relay and ports 50000-51000 for data"
                )
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 1.5, 2.0)

    def _exited(self) -> None:
        code = self.process.returncode if self.process is not None else None
        output = self.output_tail()
        if ANOTHER_RUNNING in output:
            raise WorkerEndpointFailed(
                f"another Globus Connect Personal of uid {os.getuid()} started on this node at the same time "
                "(GCP runs once per user and node): run this job on another node or later"
            )
        raise WorkerEndpointFailed(f"globusconnectpersonal -start exited ({code}): {_one_line(output)}")

    def output_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-_LOG_TAIL:]
        except OSError:
            return ""

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def owns_control_socket(self) -> bool:
        """Our GCP holds the node's control socket: it was seen connected as this job's endpoint,
        or it has run for longer than a GCP that lost a start race lives (it exits at once)."""
        return self.running and (self.connected or time.monotonic() - self.started >= _RACE_LOSER_LIFETIME)

    def stop(self, timeout: float) -> bool:
        """Stop our GCP: ``-stop`` when the control socket is ours, else a signal to our process
        only (``-stop`` could reach another job's GCP). True when it is not running any more."""
        process = self.process
        if process is None:
            return True
        if self.owns_control_socket:
            try:
                done = self._run("-stop", timeout=timeout)
                log.info("Globus Connect Personal -stop: exit %d", done.returncode)
            except WorkerEndpointFailed as exc:
                log.warning("%s", exc.message)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log.warning("Globus Connect Personal did not stop within %g s", timeout)
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        try:  # what GCP started in its group (the real one runs helpers) goes with it
            os.killpg(process.pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
        return process.poll() is not None


@functools.lru_cache(maxsize=1)
def _setpriv_with_pdeathsig() -> Optional[str]:
    """util-linux's ``setpriv``, when it has ``--pdeathsig`` (2.33 and later; EL7's 2.23 has not)."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    try:
        done = subprocess.run(
            [setpriv, "--pdeathsig", "TERM", "--", "true"], capture_output=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return setpriv if done.returncode == 0 else None


@contextmanager
def _stoppable_children() -> Iterator[None]:
    """Children inherit the calling thread's signal mask, and a gfal2 context made in this thread
    blocks every signal: GCP must start with the signals that stop it unblocked."""
    saved = signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, saved)


def _one_line(text: str) -> str:
    return " / ".join(line.strip() for line in text.strip().splitlines() if line.strip()) or "no output"
