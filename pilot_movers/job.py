"""The pilot flow: stage-in, payload, stage-out, and a cleanup that runs in every outcome.

    with Job(params, queue, workdir) as job:
        job.stage_in()
        job.run_payload(["./run.sh"])
        job.stage_out()
    job.report  # also written as JSON to report_path

Leaving the block closes every mover, restores signal handlers and the environment, and writes
the report, whether the block ended normally, by an exception, a failed payload or SIGTERM.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Mapping, Optional, Sequence, Union

from job_params import JobParams, JobParamsError
from pilot_movers.base import Mover
from pilot_movers.credentials import (
    MyProxySettings,
    PayloadProxy,
    check_proxy,
    check_proxy_file,
    default_proxy_path,
    fetch_proxy,
    inspect_proxy,
)
from pilot_movers.credentials.policy import RETRY_MARGIN
from pilot_movers.errors import (
    BadJobParameters,
    ConfigurationError,
    JobTerminated,
    MoverError,
    PayloadFailed,
    Phase,
    PhaseFailed,
    as_mover_error,
)
from pilot_movers.payload import run_payload
from pilot_movers.queue_config import QueueConfig
from pilot_movers.registry import get_mover_class, mover_for_scheme
from pilot_movers.report import JobReport, PayloadReport, PhaseReport
from pilot_movers.values import FileSpec, TransferResult

log = logging.getLogger(__name__)

REPORT_NAME = "pilot_movers_report.json"
_SIGNALS = ("SIGTERM", "SIGINT", "SIGQUIT")


class Job:
    """One job on one worker node. Use as a context manager."""

    def __init__(
        self,
        params: JobParams,
        queue: QueueConfig,
        workdir: Union[str, os.PathLike[str]],
        *,
        job_id: str = "",
        report_path: Union[str, os.PathLike[str], None] = None,
        payload_env: Optional[Mapping[str, str]] = None,
        handle_signals: bool = True,
    ) -> None:
        self.params = params
        self.queue = queue
        self.workdir = os.path.abspath(os.fspath(workdir))
        self.job_id = job_id
        self.report_path = os.fspath(report_path) if report_path else os.path.join(self.workdir, REPORT_NAME)
        self.payload_env = dict(payload_env or {})
        self.handle_signals = handle_signals
        self.report: Optional[JobReport] = None
        self._phases: list[PhaseReport] = []
        self._payload: Optional[PayloadReport] = None
        self._phase = Phase.SETUP
        self._movers: dict[str, Mover] = {}
        self._stack = ExitStack()
        self._started = 0.0
        self._saved_handlers: dict[int, Any] = {}
        self._saved_mask: set[Any] = set()
        self._terminating = False
        self._cleanup_notes: list[str] = []
        self._credentials: Optional[dict[str, Any]] = None

    # -- entering and leaving --------------------------------------------------------------

    def __enter__(self) -> Job:
        self._started = time.time()
        os.makedirs(self.workdir, exist_ok=True)
        if self.handle_signals and threading.current_thread() is threading.main_thread():
            self._install_signal_handlers()
        log.info("job %s: work dir %s", self.job_id or "(no id)", self.workdir)
        try:
            self._set_up_credentials()
        except BaseException:
            # The with-block never runs, so nothing else would clean up and write the report.
            self.__exit__(*sys.exc_info())
            raise
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        error: Optional[MoverError] = None
        if exc is not None:
            if isinstance(exc, KeyboardInterrupt):
                exc = JobTerminated("SIGINT")
            error = as_mover_error(exc, phase=self._phase)
        self._phase = Phase.CLEANUP
        try:
            self._stack.close()
        except Exception as cleanup_error:
            log.exception("cleanup failed")
            self._cleanup_notes.append(f"cleanup error: {cleanup_error}")
            if error is None:
                error = as_mover_error(cleanup_error, phase=Phase.CLEANUP)
        finally:
            self._restore_signal_handlers()
        self.report = JobReport(
            job_id=self.job_id,
            workdir=self.workdir,
            started=self._started,
            ended=time.time(),
            phases=tuple(self._phases),
            payload=self._payload,
            error=error.to_dict() if error else None,
            cleanup=tuple(self._cleanup_notes),
            credentials=self._credentials,
        )
        try:
            self.report.write(self.report_path)
        except OSError as write_error:
            log.error("cannot write the job report to %s: %s", self.report_path, write_error)
        if error is not None:
            log.error("job %s failed in %s: %s", self.job_id or "", error.phase.value if error.phase else "?", error)
        else:
            log.info("job %s succeeded; report: %s", self.job_id or "", self.report_path)

    # -- the three steps -------------------------------------------------------------------

    def stage_in(self) -> list[TransferResult]:
        """Bring every input into the work dir; raise PhaseFailed if any file failed."""
        self._phase = Phase.STAGE_IN
        return self._run_phase(Phase.STAGE_IN, self._specs(Phase.STAGE_IN))

    def run_payload(self, argv: Sequence[str], timeout: Optional[float] = None, **kwargs: Any) -> PayloadReport:
        """Run the payload in the work dir; raise PayloadFailed unless it exits 0."""
        self._phase = Phase.PAYLOAD
        if timeout is None and self.queue.payload.get("timeout"):
            timeout = float(self.queue.payload["timeout"])
        env = {**os.environ, **self.payload_env, "PILOT_MOVERS_WORKDIR": self.workdir}
        started = time.time()
        try:
            self._payload = run_payload(argv, cwd=self.workdir, env=env, timeout=timeout, **kwargs)
        except PayloadFailed as exc:
            self._payload = exc.report
            raise
        except BaseException as exc:
            name = exc.signal_name if isinstance(exc, JobTerminated) else type(exc).__name__
            self._payload = PayloadReport(tuple(argv), started, time.time(), None, signal=name)
            raise
        return self._payload

    def stage_out(self) -> list[TransferResult]:
        """Send every output from the work dir; raise PhaseFailed if any file failed."""
        self._phase = Phase.STAGE_OUT
        return self._run_phase(Phase.STAGE_OUT, self._specs(Phase.STAGE_OUT))

    # -- phases ----------------------------------------------------------------------------

    def _specs(self, phase: Phase) -> tuple[FileSpec, ...]:
        storage = None if self.queue.mover_name(phase) == "globus" else self.queue.storage_base(phase)
        try:
            if phase is Phase.STAGE_IN:
                return self.params.stage_in_specs(self.workdir, storage=storage)
            return self.params.stage_out_specs(self.workdir, storage=storage)
        except JobParamsError as exc:
            raise BadJobParameters(str(exc), phase=phase) from exc

    def _run_phase(self, phase: Phase, specs: Sequence[FileSpec]) -> list[TransferResult]:
        started = time.time()
        results: dict[int, TransferResult] = {}
        try:
            groups = self._group_by_mover(phase, specs)
            self._check_credentials(phase, [get_mover_class(name) for name in groups])
            for name, indexed in groups.items():
                mover = self._mover(name)
                for (index, _), result in zip(indexed, mover.transfer([s for _, s in indexed], phase)):
                    results[index] = result
        except BaseException as exc:
            error = exc if isinstance(exc, MoverError) else None
            self._phases.append(
                PhaseReport(
                    phase.value,
                    started,
                    time.time(),
                    tuple(results[i] for i in sorted(results)),
                    error.bind(phase=phase).to_dict() if error else {"message": repr(exc)},
                )
            )
            raise
        ordered = [results[i] for i in sorted(results)]
        failures = [r.error or {} for r in ordered if not r.ok]
        phase_error = PhaseFailed(phase, failures, len(ordered)) if failures else None
        self._phases.append(
            PhaseReport(
                phase.value, started, time.time(), tuple(ordered), phase_error.to_dict() if phase_error else None
            )
        )
        if phase_error is not None:
            raise phase_error
        return ordered

    def _group_by_mover(self, phase: Phase, specs: Sequence[FileSpec]) -> dict[str, list[tuple[int, FileSpec]]]:
        """Files whose both ends are local go to the local mover; the rest to the mover queue
        config names for the phase, or else to the default mover of the remote URL's scheme."""
        groups: dict[str, list[tuple[int, FileSpec]]] = {}
        configured = self.queue.mover_name(phase)
        for index, spec in enumerate(specs):
            remote = spec.source if phase is Phase.STAGE_IN else spec.destination
            if spec.source.is_local and spec.destination.is_local:
                name = "local"
            elif configured:
                name = configured
                schemes = get_mover_class(name).schemes
                if remote.scheme not in schemes:
                    key = "copytoolin" if phase is Phase.STAGE_IN and self.queue.copytoolin else "copytool"
                    raise ConfigurationError(
                        f"{key} = {name}, but {spec.name} is at {remote.url} and the {name!r} mover "
                        f"handles {', '.join(schemes)} only",
                        phase=phase,
                        file=spec.name,
                    )
            else:
                name = mover_for_scheme(remote.scheme)
            groups.setdefault(name, []).append((index, spec))
        return groups

    def _mover(self, name: str) -> Mover:
        mover = self._movers.get(name)
        if mover is None:
            cls = get_mover_class(name)
            mover = cls(self.queue.transfer, **self.queue.mover_options(name))
            if cls.needs_proxy or cls.requires_rfc3820:
                # Before each round of retries: re-read the proxy and check it has not expired.
                rfc3820 = cls.requires_rfc3820 or self.queue.credentials.require_rfc3820
                mover.credential_check = functools.partial(_check_current_proxy, rfc3820)
            self._stack.enter_context(mover)
            self._movers[name] = mover
        return mover

    # -- credentials -----------------------------------------------------------------------

    def _set_up_credentials(self) -> None:
        """Fetch the user's proxy from MyProxy when queue config or job parameters ask for it,
        and point X509_USER_PROXY at it (a new file in the work dir) until cleanup."""
        self._phase = Phase.CREDENTIALS
        settings = MyProxySettings.resolve(
            self.queue.myproxy, job_server=self.params.myproxy_server, job_user=self.params.globus_user
        )
        if settings is None:
            return
        retrieved = fetch_proxy(settings, Path(self.workdir))
        self._stack.enter_context(PayloadProxy(retrieved.path))
        self._credentials = {
            "source": f"myproxy {settings.address}",
            "retrieved_with": settings.retrieve_with,
            "attempts": retrieved.attempts,
            **retrieved.info.to_dict(),
        }

    def _check_credentials(self, phase: Phase, movers: Sequence[type[Mover]]) -> None:
        """Before any transfer of a phase: the proxy must exist and last long enough."""
        policy = self.queue.credentials
        rfc3820 = policy.require_rfc3820 or any(m.requires_rfc3820 for m in movers)
        if not (rfc3820 or any(m.needs_proxy for m in movers)):
            return
        need = policy.min_lifetime if phase is Phase.STAGE_IN else policy.min_lifetime_stage_out
        info = check_proxy(inspect_proxy(default_proxy_path()), min_seconds=need, require_rfc3820=rfc3820)
        if self._credentials is None:
            self._credentials = {"source": "X509_USER_PROXY", **info.to_dict()}

    # -- signals ---------------------------------------------------------------------------

    def _install_signal_handlers(self) -> None:
        numbers = {getattr(signal, name) for name in _SIGNALS}
        for number in numbers:
            self._saved_handlers[number] = signal.signal(number, self._on_signal)
        # A blocked signal mask is inherited from whatever started the pilot (Globus and XRootD
        # threads block signals): a blocked SIGTERM would never stop the job.
        self._saved_mask = signal.pthread_sigmask(signal.SIG_UNBLOCK, numbers)

    def _on_signal(self, number: int, frame: Optional[FrameType]) -> None:
        name = signal.Signals(number).name
        if self._terminating or self._phase is Phase.CLEANUP:
            log.warning("%s received again: cleanup is already running", name)
            return
        self._terminating = True
        log.warning("%s received: stopping the job and cleaning up", name)
        raise JobTerminated(name, phase=self._phase)

    def _restore_signal_handlers(self) -> None:
        for number, handler in self._saved_handlers.items():
            signal.signal(number, handler)
        if self._saved_handlers:
            signal.pthread_sigmask(signal.SIG_SETMASK, self._saved_mask)
        self._saved_handlers.clear()


def _check_current_proxy(require_rfc3820: bool) -> None:
    check_proxy_file(default_proxy_path(), min_seconds=RETRY_MARGIN, require_rfc3820=require_rfc3820)
