"""pilot-movers: the pilot flow for shell wrappers, and what a site admin asks of the library.

Commands: run (a job, or with --dry-run its plan), doctor (what a job would find on this node),
movers, proxy-info; cp, ls and stat (``cli_storage``: a storage tried with the job's movers).
Exit statuses are listed in EXIT_STATUSES (and in --help).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import re
import shutil
import signal
import sys
import tempfile
from typing import TYPE_CHECKING, NoReturn, Optional, Sequence

if TYPE_CHECKING:
    from pilot_movers.errors import MoverError
    from pilot_movers.job import Job, Preflight

from pilot_movers.console.command_line import AFTER_THE_WORK as _SIGNALS_AFTER_THE_JOB
from pilot_movers.console.command_line import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_RETRYABLE,
    EXIT_USAGE,
    progress_option,
)
from pilot_movers.console.command_line import STOPPING as _STOPPING
from pilot_movers.console.command_line import fail as _fail
from pilot_movers.console.command_line import progress_for as _progress
from pilot_movers.console.command_line import signal_status as _signal_status

EXIT_STATUSES = """exit status (run and doctor):
  0       success (doctor: no problem found)
  1       the job failed and a retry will not help (doctor: a problem)
  2       bad usage, job parameters or queue config (nothing was made)
  3       the job failed and a retry may help: every failure was transient
          (doctor: every problem may pass by itself, e.g. a server down)
  128+N   the job was stopped by signal N (143: SIGTERM, 130: SIGINT)"""


def console_main() -> NoReturn:
    """The console command: ``main``, then out at once. A job's threads that a frozen server
    holds inside C (gfal2, the XRootD client) must not keep a finished pilot alive: the logs and
    output are flushed, and the interpreter's teardown (which would wait for them) is skipped.

    SIGTERM, SIGINT and SIGQUIT stop the command before a job starts (a job handles them itself
    while it runs); once the job has ended they are logged and ignored: the exit status is the
    report's, never the signal's default action."""
    from pilot_movers.errors import JobTerminated
    from pilot_movers.secrecy import hide_this_process

    hide_this_process()  # first: the payload (same uid) cannot read the pilot's environment
    _stop_on_signals()
    _SIGNALS_AFTER_THE_JOB.console = True
    try:
        status = main()
    except JobTerminated as exc:
        status = _fail(f"stopped by {exc.signal_name} before the job started", _signal_status(exc.signal_name))
    except SystemExit as exc:  # argparse's --help and --version
        status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOPPING)  # one that came meanwhile is said now
    logging.shutdown()
    os._exit(status)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        return _fail(str(exc), EXIT_USAGE)
    try:
        _configure_logging(args.verbose, args.quiet, args.log_file)
    except OSError as exc:
        return _fail(f"cannot open the log file {args.log_file}: {exc.strerror}", EXIT_USAGE)
    return int(args.handler(args))


class UsageError(Exception):
    """A command line argparse refused, as one sentence."""


class _Parser(argparse.ArgumentParser):
    """argparse, with a bad command line reported as one sentence (and exit 2) by ``main``."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("pilot-movers").strip()  # "pilot-movers: " is printed once
        raise UsageError(f"{command + ': ' if command else ''}{message} (see --help)")


VERBOSE_HELP = "log debug messages, the transports' own (gfal2, the XRootD client, urllib3) too"
QUIET_HELP = "log errors only (the --log-file keeps INFO)"


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number of seconds")
    return value


def _parser() -> argparse.ArgumentParser:
    from pilot_movers.version import __version__

    parser = _Parser(
        prog="pilot-movers",
        description="Data movers for grid pilot jobs: run a job, check a node before one, list movers, read a "
        "proxy, try a storage (cp, ls, stat).",
        epilog=EXIT_STATUSES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"pilot-movers {__version__} (Python {sys.version.split()[0]})"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help=VERBOSE_HELP)
    parser.add_argument("-q", "--quiet", action="store_true", help=QUIET_HELP)
    parser.add_argument("--log-file", metavar="PATH", help="also log to this file (at DEBUG with -v, else INFO)")
    commands = parser.add_subparsers(dest="command", required=True)

    def logging_options(subparser: argparse.ArgumentParser) -> None:
        """-v/-q/--log-file also after the subcommand (``run -q``); not given there, the ones
        before it stand."""
        subparser.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=VERBOSE_HELP)
        subparser.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help=QUIET_HELP)
        subparser.add_argument("--log-file", metavar="PATH", default=argparse.SUPPRESS, help="also log to this file")

    run = commands.add_parser(
        "run",
        help="run a job: stage-in, payload, stage-out, cleanup, report",
        epilog=EXIT_STATUSES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = run.add_mutually_exclusive_group(required=True)
    source.add_argument("--job-params", metavar="TEXT", help="the job parameters")
    source.add_argument("--job-params-file", metavar="PATH", help="read the job parameters from a file ('-' for stdin)")
    source.add_argument(
        "--panda-job", metavar="PATH", help="a PanDA job description (the dispatcher's getJob answer, JSON)"
    )
    run.add_argument(
        "--replicas",
        metavar="PATH",
        help="with --panda-job: where the files are (go): a JSON object, file name -> URL or list of URLs "
        "(best first; the others are tried when one fails), or a Rucio list_replicas answer",
    )
    run.add_argument("--queue-config", metavar="PATH", required=True, help="queue config (JSON or INI)")
    run.add_argument(
        "--panda-queue",
        metavar="NAME",
        help="the queue to take from a queuedata file of several (CRIC's dump; default: $PANDA_QUEUE)",
    )
    run.add_argument("--workdir", metavar="DIR", help="work dir (default: a new temporary dir, removed afterwards)")
    run.add_argument("--keep-workdir", action="store_true", help="keep the temporary work dir")
    run.add_argument("--report", metavar="PATH", help="where to write the JSON report")
    run.add_argument("--job-id", default="", help="a job id to put in the report and the logs")
    run.add_argument(
        "--payload-timeout", type=_positive_seconds, metavar="SECONDS", help="kill the payload after this long"
    )
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="parse, validate and plan, print the plan; make no work dir, proxy or transfer",
    )
    run.add_argument(
        "--json", action="store_true", help="print the report (with --dry-run: the plan) as JSON on stdout"
    )
    progress_option(run, "a live line per phase on stderr")
    run.add_argument(
        "--summary",
        choices=("auto", "always", "never"),
        default="auto",
        help="a table of the phases at the end (auto: when stdout is a terminal and not --json)",
    )
    run.add_argument("payload", nargs=argparse.REMAINDER, metavar="-- CMD ARGS", help="the payload command")
    logging_options(run)
    run.set_defaults(handler=_run)

    doctor = commands.add_parser(
        "doctor",
        help="check what a job of this queue would need on this node: proxy, CAs, movers, servers, work dir",
        epilog=EXIT_STATUSES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    doctor.add_argument("--queue-config", metavar="PATH", help="queue config (JSON or INI)")
    doctor.add_argument(
        "--panda-queue",
        metavar="NAME",
        help="the queue to take from a queuedata file of several (default: $PANDA_QUEUE)",
    )
    params = doctor.add_mutually_exclusive_group()
    params.add_argument(
        "--job-params", metavar="TEXT", help="job parameters: their servers and input sizes are checked too"
    )
    params.add_argument("--job-params-file", metavar="PATH", help="read the job parameters from a file ('-' for stdin)")
    doctor.add_argument("--workdir", metavar="DIR", help="the work dir a job would use")
    doctor.add_argument(
        "--timeout", type=_positive_seconds, default=10.0, metavar="SECONDS", help="per server (default 10)"
    )
    doctor.add_argument("--json", action="store_true", help="print JSON (for monitoring)")
    logging_options(doctor)
    doctor.set_defaults(handler=_doctor)

    movers = commands.add_parser("movers", help="list installed movers and whether they can run here")
    movers.add_argument("--json", action="store_true", help="print JSON")
    logging_options(movers)
    movers.set_defaults(handler=_movers)

    proxy = commands.add_parser("proxy-info", help="what a proxy file holds: identity, expiry, type")
    proxy.add_argument("path", nargs="?", help="the proxy file (default: X509_USER_PROXY, else /tmp/x509up_u<uid>)")
    proxy.add_argument("--json", action="store_true", help="print JSON")
    logging_options(proxy)
    proxy.set_defaults(handler=_proxy_info)

    from pilot_movers.cli_storage import add_storage_commands

    add_storage_commands(commands, logging_options)
    return parser


def _run(args: argparse.Namespace) -> int:
    import job_params
    from pilot_movers.errors import JobTerminated, MoverError
    from pilot_movers.job import Job, preflight
    from pilot_movers.listed_files import ListedFile
    from pilot_movers.panda.jobdesc import PandaJob
    from pilot_movers.queue_config import QueueConfig

    payload = list(args.payload)
    if payload and payload[0] == "--":
        payload = payload[1:]
    if not payload and not args.dry_run:
        return _fail("no payload command: give it after --", EXIT_USAGE)
    temporary = args.workdir is None
    made: Optional[str] = None
    _SIGNALS_AFTER_THE_JOB.ended = False
    if args.replicas and not args.panda_job:
        return _fail("--replicas goes with --panda-job", EXIT_USAGE)
    try:
        files: tuple[ListedFile, ...] = ()
        metadata: dict[str, object] = {}
        job_id = args.job_id
        params_from_user = False
        notes: list[str] = []
        if args.panda_job:
            panda = PandaJob.load(args.panda_job)
            files, metadata = panda.listed_files(_read_replicas(args.replicas)), panda.metadata()
            for assumed in panda.assumed:  # read leniently, as Pilot 3 reads it
                logging.getLogger("pilot_movers.cli").warning("job %s: %s", panda.panda_id, assumed)
                notes.append(f"job description: {assumed}")
            job_id = job_id or str(panda.panda_id)
        else:
            params = job_params.parse(_read_job_params(args))
        queue = QueueConfig.load(args.queue_config, queue=args.panda_queue)
        if args.panda_job:  # jobPars steers data only where the queue lets it
            steering = panda.steering(queue.panda)
            params, params_from_user = steering.params, steering.from_user
            if steering.note:
                logging.getLogger("pilot_movers.cli").warning("job %s: %s", job_id, steering.note)
                notes.append(steering.note)
        # Everything a job parameter or the queue config can get wrong is found now, before a
        # proxy or a transfer exists; the plan made here is the one the job runs. A temporary
        # work dir is made first (its path is in the plan), and removed when the check fails.
        if temporary and not args.dry_run:
            made = tempfile.mkdtemp(prefix="pilot-movers-job-")
        workdir = args.workdir or made or os.path.join(tempfile.gettempdir(), "pilot-movers-job-check")
        checked = preflight(params, queue, workdir, files)
        if payload:
            _check_payload(payload[0], checked)
    except JobTerminated:
        if made:
            shutil.rmtree(made, ignore_errors=True)
        raise
    except MoverError as exc:  # JobParamsError is one
        if made:
            shutil.rmtree(made, ignore_errors=True)
        return _fail(str(exc), EXIT_USAGE)
    if args.dry_run:
        from pilot_movers.console.plan import plan_text, plan_to_dict

        print(json.dumps(plan_to_dict(checked, job_id), indent=2) if args.json else plan_text(checked, job_id))
        return EXIT_OK

    report_path = args.report or _default_report(workdir, job_id, temporary)
    observer = _progress(args.progress)
    job = Job(
        params,
        queue,
        workdir,
        job_id=job_id,
        report_path=report_path,
        files=files,
        metadata=metadata,
        progress=observer,
        params_from_user=params_from_user,
        notes=notes,
        checked=checked,
    )
    quiet_logs = contextlib.nullcontext() if observer is None else _logs_above_progress()
    try:
        with quiet_logs, job:
            job.stage_in()
            job.run_payload(payload, timeout=args.payload_timeout)
            job.stage_out()
    except MoverError as raised:
        _SIGNALS_AFTER_THE_JOB.set()
        error = job.report.error if job.report and job.report.error else raised  # bound to its phase
        status = EXIT_RETRYABLE if error.transient else EXIT_FAILED
        if isinstance(error, JobTerminated):
            status = _signal_status(error.signal_name)
        phase = error.phase.value if error.phase else "setup"
        _finish(args, job)
        print(f"pilot-movers: job failed in {phase}: {_verdict(error)}", file=sys.stderr)
        print(f"pilot-movers: report: {os.path.abspath(report_path)}", file=sys.stderr)
        return status
    finally:
        _SIGNALS_AFTER_THE_JOB.set()
        if temporary and not args.keep_workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    report = job.report
    assert report is not None
    _finish(args, job)
    if isinstance(report.error, JobTerminated):  # the files are in place; the cleanup was cut short
        print(f"pilot-movers: job stopped during the cleanup: {report.error}", file=sys.stderr)
        print(f"pilot-movers: report: {os.path.abspath(report_path)}", file=sys.stderr)
        return _signal_status(report.error.signal_name)
    counts = {p.phase: len(p.results) for p in report.phases}
    print(
        f"pilot-movers: job succeeded: {counts.get('stage-in', 0)} file(s) in, "
        f"{counts.get('stage-out', 0)} out; report: {os.path.abspath(report_path)}",
        file=sys.stderr if args.json else sys.stdout,
    )
    return EXIT_OK


def _verdict(error: MoverError) -> str:
    """The failure in one line, then what to do about it. A phase's failed files were each
    logged at ERROR with the transport's own text: the line names the first, not its text again."""
    from pilot_movers.errors import PhaseFailed

    if isinstance(error, PhaseFailed):
        first = error.failures[0]
        where = f" at {first.endpoint}" if first.endpoint else ""
        count = f"{len(error.failures)} of {error.total} file(s) failed, each logged above"
        said = f"{error.name} ({error.code}): {first.file}{where}, {count}"
    else:
        said = str(error)
    return f"{said}; what to do: {error.advice}"


def _stop_on_signals() -> None:
    """SIGTERM, SIGINT and SIGQUIT before the job starts stop the command (nothing was made
    yet); after the job ended they are logged and ignored: the exit status is the report's."""
    from pilot_movers.errors import JobTerminated

    def handle(number: int, frame: object) -> None:
        name = signal.Signals(number).name
        if _SIGNALS_AFTER_THE_JOB.ended:
            logging.getLogger("pilot_movers.cli").warning(
                "%s received after the job ended: the exit status follows the report", name
            )
            return
        raise JobTerminated(name)

    for name in ("SIGTERM", "SIGINT", "SIGQUIT"):
        signal.signal(getattr(signal, name), handle)


def _logs_above_progress() -> contextlib.AbstractContextManager[None]:
    """Log lines printed above the live progress lines, not through them."""
    from tqdm.contrib.logging import logging_redirect_tqdm

    return logging_redirect_tqdm()


def _finish(args: argparse.Namespace, job: Job) -> None:
    """The report on stdout (--json) and the summary table (on a terminal, or --summary always)."""
    report = job.report
    if report is None:
        return
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    if args.summary == "always" or (args.summary == "auto" and not args.json and sys.stdout.isatty()):
        from pilot_movers.console.summary import summary_table

        print(summary_table(report), file=sys.stderr if args.json else sys.stdout)


def _doctor(args: argparse.Namespace) -> int:
    from pilot_movers.console.findings import findings_text
    from pilot_movers.doctor import examine, exit_status
    from pilot_movers.errors import MoverError

    try:
        text = _read_job_params(args) if (args.job_params is not None or args.job_params_file) else None
    except MoverError as exc:
        return _fail(str(exc), EXIT_USAGE)
    findings = examine(
        queue_config=args.queue_config,
        job_params=text,
        workdir=args.workdir,
        server_timeout=args.timeout,
        panda_queue=args.panda_queue,
    )
    if args.json:
        status = exit_status(findings)
        print(json.dumps({"status": status, "findings": [f.to_dict() for f in findings]}, indent=2))
    else:
        print(findings_text(findings))
    return exit_status(findings)


def _default_report(workdir: str, job_id: str, temporary: bool) -> str:
    """In the work dir it names; beside a temporary one (removed afterwards), named with the job
    id (or the work dir's name): never a fixed name in the current directory."""
    from pilot_movers.job import REPORT_NAME

    if not temporary:
        return os.path.join(workdir, REPORT_NAME)
    label = re.sub(r"[^A-Za-z0-9_.-]+", "_", job_id) if job_id else os.path.basename(workdir)
    return os.path.join(os.path.dirname(workdir), f"pilot-movers-report-{label}.json")


def _movers(args: argparse.Namespace) -> int:
    from pilot_movers.registry import describe_movers

    infos = describe_movers()
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "name": i.name,
                        "target": i.target,
                        "usable": i.usable,
                        "schemes": list(i.schemes),
                        "problem": i.problem,
                    }
                    for i in infos
                ],
                indent=2,
            )
        )
        return EXIT_OK
    for info in infos:
        if info.usable:
            print(f"{info.name:10} usable      {', '.join(info.schemes)}  ({info.target})")
        else:
            print(f"{info.name:10} NOT USABLE  {info.problem}")
    return EXIT_OK


def _proxy_info(args: argparse.Namespace) -> int:
    """Exit 0 for a usable proxy, 1 for an expired one or a file that is not a proxy."""
    from pilot_movers.credentials import default_proxy_path, inspect_proxy
    from pilot_movers.credentials.policy import hms
    from pilot_movers.errors import MoverError

    path = args.path or default_proxy_path()
    try:
        info = inspect_proxy(path)
    except MoverError as exc:
        return _fail(str(exc), EXIT_FAILED)
    facts = info.to_dict()
    if args.json:
        print(json.dumps(facts, indent=2))
    else:
        left = info.time_left()
        timeleft = hms(left) if left > 0 else "0:00:00 (EXPIRED)"
        rows = [
            ("subject", info.subject),
            ("issuer", info.issuer),
            ("identity", info.identity),
            (
                "type",
                {
                    "rfc3820": "RFC 3820 compliant proxy",
                    "legacy": "legacy globus proxy",
                    "draft": "pre-RFC (GT3) proxy",
                    "end-entity": "not a proxy (end-entity certificate)",
                }[info.kind],
            ),
            ("strength", f"{info.key_bits} bits"),
            ("path", info.path),
            ("not after", f"{info.not_after:%Y-%m-%d %H:%M:%S} UTC"),
            ("timeleft", timeleft),
        ]
        for label, value in rows:
            print(f"{label:9}: {value}")
    return EXIT_OK if info.is_proxy and info.time_left() > 0 else EXIT_FAILED


def _check_payload(program: str, checked: Preflight) -> None:
    """The payload's program must be there before anything is set up (a worker endpoint, a
    proxy, a stage-in): on PATH, at its absolute path, or, relative (``./run.sh``), in the work
    dir, where it is now or where the job stages it in. BadJobParameters says which."""
    from pilot_movers.errors import BadJobParameters, Phase

    if "/" not in program:
        if shutil.which(program) is None:
            raise BadJobParameters(
                f"payload {program}: no such program on PATH (give ./{program} for one in the work dir)"
            )
        return
    staged = {item.spec.destination.path for item in checked.plans[Phase.STAGE_IN] if item.spec.destination.is_local}
    if os.path.isabs(program):
        here = os.path.normpath(program) in staged or (os.path.isfile(program) and os.access(program, os.X_OK))
        if not here:
            raise BadJobParameters(f"payload {program}: no such executable file, and the job stages in none there")
        return
    path = os.path.normpath(os.path.join(checked.workdir, program))
    if path not in staged and not os.path.isfile(path):
        names = ", ".join(sorted(os.path.basename(p) for p in staged)) or "none"
        raise BadJobParameters(
            f"payload {program}: not in the work dir, and the job stages in no file of that name (its inputs: "
            f"{names}); nothing was set up"
        )


def _read_job_params(args: argparse.Namespace) -> str:
    """The job parameters' text; a ConfigurationError naming the file when it cannot be read."""
    from pilot_movers.errors import BadJobParameters

    if args.job_params is not None:
        return str(args.job_params)
    where = "standard input" if args.job_params_file == "-" else args.job_params_file
    try:
        if args.job_params_file == "-":
            return sys.stdin.read()
        with open(args.job_params_file, encoding="utf-8") as handle:
            return handle.read()
    except UnicodeDecodeError as exc:
        raise BadJobParameters(f"job parameters in {where} are not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise BadJobParameters(f"cannot read job parameters from {where}: {exc.strerror}") from None


def _read_replicas(path: Optional[str]) -> dict[str, tuple[str, ...]]:
    """``--replicas``: a JSON object of file name -> URL or URLs, or a Rucio list_replicas
    answer (``panda.replicas``); a BadJobParameters naming the file."""
    from pilot_movers.errors import BadJobParameters
    from pilot_movers.panda.replicas import parse_replicas

    if not path:
        return {}
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadJobParameters(f"cannot read replicas from {path}: {getattr(exc, 'strerror', None) or exc}") from None
    return parse_replicas(data, f"replicas in {path}")


_LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def _configure_logging(verbose: bool, quiet: bool, log_file: Optional[str] = None) -> None:
    """stderr at INFO (-v DEBUG, -q ERROR); ``log_file`` at DEBUG with -v, else INFO. -v also
    brings the transports' own libraries' debug lines in, -q keeps them to errors
    (``console.transport_logs``); whatever is logged has its secrets masked."""
    from pilot_movers.console.transport_logs import MaskSecrets, quiet_transports, raise_transport_verbosity

    level = logging.DEBUG if verbose else logging.ERROR if quiet else logging.INFO
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(level)
    handlers: list[logging.Handler] = [console]
    if log_file:
        to_file = logging.FileHandler(log_file, encoding="utf-8")
        to_file.setLevel(logging.DEBUG if verbose else logging.INFO)
        handlers.append(to_file)
    for handler in handlers:
        handler.addFilter(MaskSecrets())
    logging.basicConfig(level=min(h.level for h in handlers), format=_LOG_FORMAT, handlers=handlers)
    if verbose:
        raise_transport_verbosity()
    elif quiet:
        quiet_transports()
