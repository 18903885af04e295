"""The pilot flow: stage-in, payload, stage-out, and a cleanup that runs in every outcome.

    with Job(params, queue, workdir) as job:
        job.stage_in()
        job.run_payload(["./run.sh"])
        job.stage_out()
    job.report  # also written as JSON to report_path

Leaving the block stops every mover, removes the user's proxy, restores signal handlers and writes
the report, whether the block ended normally, by an exception, a failed payload or SIGTERM.

The job's credentials (the user's proxy fetched from MyProxy, or the ones it was given) are
handed to each mover when it is opened and put into the payload's environment; the process's
own environment is never changed, so several jobs can run in one process.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import threading
import time
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

from job_params import JobParams
from pilot_movers.base import Mover
from pilot_movers.credentials.bundle import Credentials
from pilot_movers.credentials.myproxy import (
    MyProxySettings,
)
from pilot_movers.credentials.oauth import SECRET_VARIABLES
from pilot_movers.engine.deadlines import RemoteCalls
from pilot_movers.engine.engine import TransferEngine
from pilot_movers.engine.progress import ProgressObserver
from pilot_movers.errors import (
    JobTerminated,
    MoverError,
    PayloadFailed,
    Phase,
    PhaseFailed,
    as_mover_error,
)
from pilot_movers.job_credentials import JobCredentials
from pilot_movers.job_debris import JobDebris
from pilot_movers.job_facts import JobFacts
from pilot_movers.job_logs import can_make, is_log, log_files, make_log_tarball
from pilot_movers.job_movers import JobMovers
from pilot_movers.job_signals import JobSignals
from pilot_movers.listed_files import ListedFile
from pilot_movers.panda.jobdesc import PandaJob
from pilot_movers.payload import run_payload
from pilot_movers.phases import run_phase
from pilot_movers.planner import PlannedFile, plan
from pilot_movers.process_env import set_by_us
from pilot_movers.queue_config import QueueConfig
from pilot_movers.registry import ResolvedMover
from pilot_movers.report import JobReport, PayloadReport, PhaseReport
from pilot_movers.reserved import REPORT_NAME
from pilot_movers.secrecy import hide_this_process
from pilot_movers.values import FileReport, LeftBehind
from pilot_movers.workdir import check_workdir_path

log = logging.getLogger(__name__)

#: Code that catches every exception (a logging handler prints and drops it): a signal's exception
#: is not raised inside it.
_SWALLOWING_MODULES = (os.path.dirname(logging.__file__),)
_SIGNALS = ("SIGTERM", "SIGINT", "SIGQUIT")


@dataclass(frozen=True)
class Preflight:
    """What a job will do, worked out before anything exists: the work dir's path, each phase's
    files and movers, and the MyProxy logon (None: none)."""

    workdir: str
    plans: Mapping[Phase, tuple[PlannedFile, ...]]
    myproxy: Optional[MyProxySettings]


def preflight(
    params: JobParams,
    queue: QueueConfig,
    workdir: Union[str, os.PathLike[str]],
    files: Sequence[ListedFile] = (),
) -> Preflight:
    """Check that a job can run as configured, making nothing: the work dir can be made and used,
    both phases plan (every file has a location and a mover that can handle it, resolved: the
    movers are installed and can run here), the MyProxy settings are complete. Raises the
    MoverError that says what is wrong."""
    path = check_workdir_path(os.fspath(workdir))
    plans = plan_job(params, queue, path, files)
    myproxy = MyProxySettings.resolve(queue.myproxy, job_server=params.myproxy_server, job_user=params.globus_user)
    return Preflight(path, plans, myproxy)


def plan_job(
    params: JobParams, queue: QueueConfig, workdir: str, files: Sequence[ListedFile] = ()
) -> dict[Phase, tuple[PlannedFile, ...]]:
    """Both phases' plans for a work dir at ``workdir`` (an absolute path, not looked at): every
    file's locations and movers. Raises the MoverError that says which file cannot be planned."""
    return {phase: plan(params, queue, workdir, phase, files=files) for phase in (Phase.STAGE_IN, Phase.STAGE_OUT)}


#: What a job that moves no file is told (the dry run, the log, the report's setup notes).
NO_FILES_HINT = (
    "no job parameter names an input or an output (files-in=, files-out=, files-log=, --StageinGOsrc, "
    "--Data...), nor does the job description list any"
)


class Job:
    """One job on one worker node. Use as a context manager.

    ``credentials``: what the job authenticates with when no MyProxy logon replaces the proxy
    (default: the environment when the job starts: X509_USER_PROXY, X509_CERT_DIR).
    ``files``: files a job description lists besides the parameters' (``Job.from_panda``);
    ``metadata``: what it says of the job itself, carried to the report.
    ``progress``: told of each phase's files, bytes and outcomes (a terminal display).
    """

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
        credentials: Optional[Credentials] = None,
        files: Sequence[ListedFile] = (),
        metadata: Optional[Mapping[str, Any]] = None,
        progress: Optional[ProgressObserver] = None,
        params_from_user: bool = False,
        notes: Sequence[str] = (),
        checked: Optional[Preflight] = None,
    ) -> None:
        self.params = params
        #: The parameters are a user's own (a PanDA job's jobPars, where the queue lets them steer
        #: data): they move data only with the user's proxy from MyProxy, never the pilot's.
        self.params_from_user = params_from_user
        self.progress = progress or ProgressObserver()
        self.files = tuple(files)
        self.metadata = dict(metadata or {})
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
        self._engine: Optional[TransferEngine] = None
        self._engines: list[TransferEngine] = []
        self._stack = ExitStack()
        self._started = 0.0
        self._signals = JobSignals(lambda: self._phase, self._stop_everything, self._end_cleanup_waits)
        self._setup_notes: list[str] = list(notes)
        self._cleanup_notes: list[str] = []
        self._credentials = JobCredentials(queue, self.workdir, credentials, self._cleanup_notes)
        self._unreachable_left: list[LeftBehind] = []
        self._movers = JobMovers(
            queue,
            self._stack,
            credentials=lambda: self.credentials or Credentials(),
            facts=lambda: JobFacts(self.workdir, self.job_id, self.params, holdings=self._debris.holdings),
            cleanup_ends=lambda: self._cleanup_ends,
            cleanup_notes=self._cleanup_notes,
            unreachable_left=self._unreachable_left,
        )
        #: What ``preflight`` found (given: the command checked the job already, for this work
        #: dir): the plan the phases run, made once.
        self._preflight: Optional[Preflight] = checked
        #: Every server operation of the job (its phases' and its cleanup's) under a deadline.
        self._remote = RemoteCalls(queue.transfer.operation_timeout)
        self._debris = JobDebris(
            queue,
            self.workdir,
            job_id,
            movers=self._movers,
            remote=self._remote,
            setup_notes=self._setup_notes,
            cleanup_notes=self._cleanup_notes,
            unreachable_left=self._unreachable_left,
        )
        self._cleanup_ends = 0.0
        #: each log file and what became of it (the report's ``logs``)
        self._logs: dict[str, str] = {}
        self._failed_with: Optional[MoverError] = None

    @classmethod
    def from_panda(
        cls,
        job: Union[Mapping[str, Any], PandaJob],
        queue: QueueConfig,
        workdir: Union[str, os.PathLike[str]],
        *,
        replicas: Optional[Mapping[str, Union[str, Sequence[str]]]] = None,
        **kwargs: Any,
    ) -> Job:
        """The job PanDA's dispatcher describes (its getJob response, as Pilot 3 reads it, or a
        ``PandaJob``): the listed inputs and outputs with their catalogue sizes and checksums
        (every mover verifies them) and their scopes, GUIDs and datasets (in the report), the
        PanDA id as ``job_id``. ``replicas``: per file name, the URL the pilot resolved, or several
        (best first: the others are tried when one fails in a way another can cure);
        other files are found through their storage endpoint and the queue's ``storages``.
        ``jobPars`` (the user's payload arguments) steers no data movement unless the queue's
        ``[panda] data_in_jobpars`` says so (``PandaJob.steering``). Other keywords go to ``Job``."""
        panda = job if isinstance(job, PandaJob) else PandaJob.from_dict(job)
        kwargs.setdefault("job_id", str(panda.panda_id))
        files = panda.listed_files(replicas)
        steering = panda.steering(queue.panda)
        if steering.note:
            log.warning("job %s: %s", panda.panda_id, steering.note)
        notes = [f"job description: {assumed}" for assumed in panda.assumed]
        for assumed in panda.assumed:
            log.warning("job %s: %s", panda.panda_id, assumed)
        notes += [steering.note] if steering.note else []
        return cls(
            steering.params,
            queue,
            workdir,
            files=files,
            metadata=panda.metadata(),
            params_from_user=steering.from_user,
            notes=notes,
            **kwargs,
        )

    # -- entering and leaving --------------------------------------------------------------

    def __enter__(self) -> Job:
        self._started = time.time()
        hide_this_process()  # the payload (same uid) cannot read the pilot's environment or memory
        if self.handle_signals and threading.current_thread() is threading.main_thread():
            self._signals.install()
        try:
            if self._preflight is None or self._preflight.workdir != self.workdir:
                self._preflight = preflight(self.params, self.queue, self.workdir, self.files)
            self._phase = Phase.SETUP
            self._debris.prepare(self._stack)
            if not any(self._preflight.plans.values()):
                note = f"this job moves no file: {NO_FILES_HINT}"
                log.warning("job %s: %s", self.job_id or "(no id)", note)
                self._setup_notes.append(note)
            self._phase = Phase.CREDENTIALS
            self._credentials.set_up(
                self._preflight.myproxy,
                record=self._debris.record,
                stack=self._stack,
                params_from_user=self.params_from_user,
            )
            self._debris.remove_earlier_remote()
            self._signals.raise_if_stopped()
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
        if self._signals.error is not None:  # what ended the job, even where a library swallowed it
            error = self._signals.error.bind(phase=self._phase)
        if error is not None and self._phase in (Phase.STAGE_IN, Phase.PAYLOAD):
            self._stage_out_logs_after(error)
            if self._signals.error is not None and not isinstance(error, JobTerminated):
                error = self._signals.error.bind(phase=Phase.STAGE_OUT)  # stopped while the logs went out
        log.info("job %s: cleanup started%s", self.job_id or "(no id)", f" after {error.name}" if error else "")
        self._phase = Phase.CLEANUP
        self._cleanup_ends = time.monotonic() + self.queue.transfer.cleanup_timeout
        try:
            # Each step runs whatever an earlier one raised (a full disk, a record a payload
            # replaced): the user's proxy is removed and the movers stopped in every case.
            for step in (self._wait_for_movers, self._remove_left_behind, self._stack.close):
                try:
                    step()
                except Exception as cleanup_error:
                    log.exception("cleanup step %s failed", step.__name__)
                    self._cleanup_notes.append(f"cleanup error: {cleanup_error}")
                    if error is None:
                        error = as_mover_error(cleanup_error, phase=Phase.CLEANUP)
        finally:
            self._signals.restore()
        cut_by = self._signals.cleanup_cut_short
        if cut_by is not None:  # a signal during the cleanup: its waits on servers ended at once
            self._cleanup_notes.append(f"cleanup cut short by {cut_by}: no more waiting on servers")
            if error is None:
                error = JobTerminated(cut_by, phase=Phase.CLEANUP)
        self.report = self._report(error)
        try:
            self.report.write(self.report_path)  # never makes a dir: the work dir may not exist
        except OSError as write_error:
            log.error("cannot write the job report to %s: %s", self.report_path, write_error)
        if error is not None and exc is None:  # nobody will hear of it otherwise
            log.error(
                "job %s failed in %s: %s; what to do: %s",
                self.job_id or "(no id)",
                error.phase.value if error.phase else "?",
                error,
                error.advice,
            )
        elif error is not None:  # raised to the caller, who says it (and each file's failure was said)
            phase = error.phase.value if error.phase else "?"
            log.info(
                "job %s ended: failed in %s (%s); report: %s",
                self.job_id or "(no id)",
                phase,
                error.name,
                self.report_path,
            )
        else:
            log.info("job %s succeeded; report: %s", self.job_id or "(no id)", self.report_path)

    def _report(self, error: Optional[MoverError]) -> JobReport:
        """The job's report as it stands."""
        return JobReport(
            job_id=self.job_id,
            workdir=self.workdir,
            started=self._started,
            ended=time.time(),
            phases=tuple(self._phases),
            payload=self._payload,
            error=error,
            setup=tuple(self._setup_notes),
            cleanup=tuple(self._cleanup_notes),
            left_behind=self._debris.left_behind(),
            credentials=self._credentials.report,
            metadata=self.metadata,
            logs=dict(self._logs),
        )

    # -- log files -------------------------------------------------------------------------

    def _stage_out_logs_after(self, error: MoverError) -> None:
        """After a failed stage-in or payload, the log files alone go out (as Pilot 3 sends its
        log in every outcome); not when a signal stopped the job (its time is the cleanup's)."""
        planned = log_files(self._preflight.plans[Phase.STAGE_OUT]) if self._preflight else []
        if not planned:
            return
        where = error.phase.value if error.phase else self._phase.value
        if isinstance(error, JobTerminated) or self._signals.error is not None:
            for item in planned:
                self._logs[item.spec.name] = f"not staged out: the job was stopped ({error.name}) in {where}"
            return
        log.info("job %s failed in %s: staging out its log file(s) alone", self.job_id or "(no id)", where)
        self._failed_with = error
        after = f" after the job failed in {where}"
        try:
            self._run_phase(Phase.STAGE_OUT, planned, after=after, attempts=1)
        except BaseException as exc:  # noqa: BLE001 - the cleanup and the report come whatever happened
            said = as_mover_error(exc if not isinstance(exc, KeyboardInterrupt) else JobTerminated("SIGINT"))
            log.warning("job %s: log stage-out failed: %s", self.job_id or "(no id)", said)
            if isinstance(said, JobTerminated) and self._signals.error is None:
                self._signals.error = said
        stopped = self._signals.error
        for item in planned:  # a log the phase never finished (stopped first) is said too
            outcome = self._logs.get(item.spec.name, "")
            if outcome.startswith(("staged out", "not staged out")):
                continue
            made = f"; {outcome}" if outcome.startswith("made") else ""
            why = f": the job was stopped ({stopped.name})" if stopped else ""
            self._logs[item.spec.name] = f"not staged out{after}{made}{why}"

    def _ready_logs(self, planned: Sequence[PlannedFile]) -> None:
        """A tarball log the payload did not write is made of the work dir (``job_logs``),
        without the job's inputs and outputs or its credentials."""
        plans = self._preflight.plans if self._preflight else {}
        files = {item.spec.name for phase_plan in plans.values() for item in phase_plan}
        credentials = [path for path in (self.proxy_path, os.environ.get("X509_USER_PROXY")) if path]
        for item in log_files(planned):
            path = item.spec.source.path
            if not item.spec.source.is_local or os.path.lexists(path) or not can_make(item.spec.name):
                continue
            try:
                report = self._report(self._failed_with).to_json()
                make_log_tarball(path, self.workdir, files, report, secrets_at=credentials)
                self._logs[item.spec.name] = "made by the library (the payload had not written it)"
            except OSError as exc:
                log.warning("cannot make the log %s: %s", item.spec.name, exc)
                self._logs[item.spec.name] = f"not made: {exc.strerror or exc}"

    def _wait_for_movers(self) -> None:
        """A phase the job stopped (a signal) left its movers' calls unwinding: give them a
        moment (``cancel_grace``, within the cleanup's budget) to remove what they made."""
        grace = min(self.queue.transfer.cancel_grace, max(0.0, self._cleanup_ends - time.monotonic()))
        deadline = time.monotonic() + grace
        for engine in self._engines:
            while not engine.wait_for_movers(min(0.1, max(0.0, deadline - time.monotonic()))):
                if time.monotonic() >= min(deadline, self._cleanup_ends):  # sliced: a signal ends it
                    log.info("a mover is still unwinding after %.1f s; the cleanup goes on", grace)
                    return

    def _remove_left_behind(self) -> None:
        """Temporary copies a phase could not remove: one more try, within the cleanup's budget."""
        self._debris.remove_left(self._cleanup_budget)

    def _cleanup_budget(self) -> float:
        """Seconds the cleanup may still wait for one server operation."""
        return min(self.queue.transfer.operation_timeout, self._cleanup_ends - time.monotonic())

    def _end_cleanup_waits(self) -> None:
        """A signal during the cleanup: no wait on a server goes on (the budget is spent)."""
        self._cleanup_ends = time.monotonic()

    def _stop_everything(self, error: JobTerminated) -> None:
        """A signal: no wait on a server goes on, the running transfers are cancelled. Never blocks."""
        self._remote.interrupt(error)
        engine = self._engine
        if engine is not None:
            engine.cancel(error)

    @property
    def credentials(self) -> Optional[Credentials]:
        """What the job authenticates with: the given ones, else the environment's (once the
        job has started), with the user's proxy from MyProxy once fetched."""
        return self._credentials.current

    @property
    def proxy_path(self) -> Optional[str]:
        """The proxy this job's movers and payload use (the user's, once fetched)."""
        return self._credentials.proxy_path

    # -- the three steps -------------------------------------------------------------------

    def stage_in(self) -> list[FileReport]:
        """Bring every input into the work dir; raise PhaseFailed if any file failed."""
        return self._run_phase(Phase.STAGE_IN)

    def run_payload(self, argv: Sequence[str], timeout: Optional[float] = None, **kwargs: Any) -> PayloadReport:
        """Run the payload in the work dir; raise PayloadFailed unless it exits 0.

        Its environment is the pilot's, with the job's credentials (X509_USER_PROXY pointing at
        the user's proxy) and ``payload_env`` on top, and without the MyProxy passphrase."""
        self._signals.raise_if_stopped()
        self._phase = Phase.PAYLOAD
        settings = self.queue.payload
        if timeout is None:
            timeout = settings.timeout
        kwargs.setdefault("kill_grace", settings.kill_grace)
        kwargs.setdefault("stop_requested", lambda: self._signals.error)
        started = time.time()
        try:
            self._payload = run_payload(
                argv, cwd=self.workdir, env=self.payload_environment(), timeout=timeout, **kwargs
            )
        except PayloadFailed as exc:
            self._payload = exc.report
            raise
        except BaseException as exc:
            name = exc.signal_name if isinstance(exc, JobTerminated) else type(exc).__name__
            self._payload = PayloadReport(tuple(argv), started, time.time(), None, signal=name)
            raise
        self._signals.raise_if_stopped()
        return self._payload

    def payload_environment(self) -> dict[str, str]:
        env = dict(os.environ)
        for name in set_by_us():  # the library's own settings of its libraries, not the payload's
            env.pop(name, None)
        env.pop(self.queue.myproxy.passphrase_env, None)
        env.pop("MYPROXY_PASSPHRASE", None)  # the pilot's secret, not the payload's
        for name in SECRET_VARIABLES:  # the pilot's OAuth2 client (Globus), likewise
            env.pop(name, None)
        self._credentials.for_payload(env)
        env.update(self.payload_env)
        env["PILOT_MOVERS_WORKDIR"] = self.workdir
        return env

    def stage_out(self) -> list[FileReport]:
        """Send every output from the work dir; raise PhaseFailed if any file failed."""
        return self._run_phase(Phase.STAGE_OUT)

    # -- phases ----------------------------------------------------------------------------

    def _run_phase(
        self, phase: Phase, only: Optional[Sequence[PlannedFile]] = None, after: str = "", attempts: int = 0
    ) -> list[FileReport]:
        """``phase``'s plan (``only`` these of it: the log files after a failure, ``attempts``
        each at most: the job has failed, its time is short)."""
        self._signals.raise_if_stopped()
        self._phase = phase
        started = time.time()
        reports: dict[int, FileReport] = {}
        requests_before = self._movers.service_requests()
        try:
            assert self._preflight is not None, "a job's phases run inside its with-block"
            planned = self._preflight.plans[phase] if only is None else only  # planned once, when checked
            if phase is Phase.STAGE_OUT:
                self._ready_logs(planned)
            self.progress.phase_started(phase, [item.spec for item in planned])
            # the first ends' movers now; a fallback's when a file fails over to it (each attempt's check)
            first = [chosen.cls for chosen in dict.fromkeys(p.mover for p in planned)]
            self._credentials.check_phase(phase, first)
            ordered = run_phase(
                planned,
                mover=lambda chosen: nullcontext(self._movers.get(chosen)),
                engine=functools.partial(self._engine_for, phase, attempts=attempts),
                reports=reports,
                after_engine=self._engine_ran,
                between=self._signals.raise_if_stopped,
            )
        except BaseException as exc:
            error = as_mover_error(exc, phase=phase)
            self._phases.append(
                PhaseReport(
                    phase.value,
                    started,
                    time.time(),
                    tuple(reports[i] for i in sorted(reports)),
                    error,
                    self._movers.requests_since(requests_before),
                )
            )
            self._note_logs(reports.values(), after)
            raise
        finally:
            self.progress.phase_ended(phase)
        self._note_logs(ordered, after)
        failures = [r.error for r in ordered if not r.ok and r.error is not None]
        phase_error = PhaseFailed(phase, failures, len(ordered)) if failures else None
        self._phases.append(
            PhaseReport(
                phase.value,
                started,
                time.time(),
                tuple(ordered),
                phase_error,
                self._movers.requests_since(requests_before),
            )
        )
        if phase_error is not None:
            raise phase_error
        return ordered

    def _note_logs(self, reports: Iterable[FileReport], after: str) -> None:
        for report in reports:
            if not is_log(report.spec):
                continue
            made = self._logs.get(report.spec.name, "")
            made = f"; {made}" if made.startswith("made") else ""
            if report.ok:
                self._logs[report.spec.name] = f"staged out{after}{made}"
            else:
                why = f"{report.error.name}: {report.error.message}" if report.error else report.status.value
                self._logs[report.spec.name] = f"not staged out{after}{made}: {why}"

    def _engine_for(self, phase: Phase, chosen: ResolvedMover, mover: Mover, attempts: int = 0) -> TransferEngine:
        """An engine for one group of a phase, on the job's mover, with the job's record,
        deadlines, credential check and progress (``attempts``: at most that many per file); the
        signal handler cancels it."""
        self._engine = TransferEngine(
            mover,
            phase,
            max_attempts=attempts or None,
            credential_check=self._credentials.retry_check(type(mover)),
            journal=self._debris.record,
            observer=self.progress,
            remote=self._remote,
            workdir=self.workdir,
        )
        self._engines.append(self._engine)
        return self._engine

    def _engine_ran(self, chosen: ResolvedMover, engine: TransferEngine) -> None:
        self._debris.temporary_left += [(self._movers.opened[chosen.name], item) for item in engine.left_behind]
        self._engine = None
