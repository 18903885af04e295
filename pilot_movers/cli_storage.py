"""``pilot-movers cp``, ``ls`` and ``stat``: a storage tried from this node with the movers a job
uses, before a queue is trusted to it (what ``gfal-copy``, ``gfal-ls`` and ``xrdcp`` are used
for). Same credentials (the environment's), settings (``--queue-config``) and exit statuses as
``run``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import TYPE_CHECKING, Callable, Optional, TypeVar

from pilot_movers.console.command_line import (
    AFTER_THE_WORK,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_RETRYABLE,
    EXIT_USAGE,
    fail,
    progress_for,
    progress_option,
    signal_status,
)

if TYPE_CHECKING:
    from pilot_movers.base import Mover
    from pilot_movers.browse import Entry
    from pilot_movers.engine.settings import TransferSettings
    from pilot_movers.errors import MoverError
    from pilot_movers.queue_config import QueueConfig
    from pilot_movers.values import Location

T = TypeVar("T")

STORAGE_STATUSES = """exit status:
  0       success
  1       failed, and a retry will not help (no such file, refused, a file already there)
  2       bad usage or queue config (nothing was copied)
  3       failed, and a retry may help: every failure was transient (a server down)
  128+N   stopped by signal N; what the copy made was removed"""


def add_storage_commands(
    commands: argparse._SubParsersAction,
    logging_options: Callable[[argparse.ArgumentParser], None],
) -> None:
    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--queue-config", metavar="PATH", help="take movers, settings and mover options from this queue config"
        )
        parser.add_argument("--mover", metavar="NAME", help="the mover to use (default: the queue's, else the URL's)")
        parser.add_argument("--json", action="store_true", help="print JSON")
        logging_options(parser)

    cp = commands.add_parser(
        "cp",
        help="copy files between this node and a storage, verified, as a job would",
        description="Copy SRC... to DST through the engine a job uses: a temporary name, size and checksum "
        "verified, then renamed into place. One end is a local path: a remote source is downloaded, a local "
        "one uploaded. DST ending in / (or a local directory) receives each source under its own name.",
        epilog=STORAGE_STATUSES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cp.add_argument("sources", nargs="+", metavar="SRC", help="a URL or a local path")
    cp.add_argument("destination", metavar="DST", help="a URL or a local path; ending in /: a directory")
    cp.add_argument(
        "-f",
        "--force",
        action="store_true",
        help="replace a file already at the destination (once the new copy is verified)",
    )
    progress_option(cp, "a live line on stderr")
    common(cp)
    cp.set_defaults(handler=_cp)

    for name, help_text, handler in (
        ("ls", "list a directory (or show a file) at a URL or local path", _ls),
        ("stat", "size and type of a file at a URL or local path, and its checksum as stored", _stat),
    ):
        command = commands.add_parser(name, help=help_text, epilog=STORAGE_STATUSES)
        command.add_argument("url", metavar="URL")
        if name == "stat":
            command.add_argument(
                "--checksum",
                metavar="ALGORITHM",
                default="adler32",
                help="ask the storage for this checksum (adler32, md5; 'none' for none; default adler32)",
            )
        common(command)
        command.set_defaults(handler=handler)


def _queue(args: argparse.Namespace) -> Optional[QueueConfig]:
    from pilot_movers.queue_config import QueueConfig

    return QueueConfig.load(args.queue_config) if args.queue_config else None


def _cp(args: argparse.Namespace) -> int:
    from pilot_movers.copies import plan_copies, run_copies
    from pilot_movers.errors import JobTerminated, MoverError

    _quiet_engine(args)
    try:
        queue = _queue(args)
    except MoverError as exc:
        return fail(str(exc), EXIT_USAGE)
    try:
        plan = plan_copies(args.sources, args.destination, queue=queue, mover=args.mover)
    except MoverError as exc:
        return _not_planned(args, exc, "cp")
    AFTER_THE_WORK.ended = False
    try:
        outcome = run_copies(
            plan,
            queue=queue,
            progress=progress_for(args.progress),
            overwrite=args.force,
            when_done=AFTER_THE_WORK.set,
        )
    except JobTerminated as exc:  # before any copy began: while the mover opened
        AFTER_THE_WORK.set()
        return fail(f"cp: stopped by {exc.signal_name} before any copy began", signal_status(exc.signal_name))
    except MoverError as exc:  # the mover could not be opened (credentials, a missing library)
        AFTER_THE_WORK.set()
        return _cannot_move(exc, "cp")
    if args.json:
        found: dict[str, object] = {
            "files": [report.to_dict() for report in outcome.reports],
            "left_behind": [item.to_dict() for item in outcome.left_behind],
        }
        if outcome.stopped is not None:
            found["stopped"] = outcome.stopped.signal_name
        print(json.dumps(found, indent=2))
    if outcome.stopped is not None:
        left = f"; left behind: {', '.join(i.location for i in outcome.left_behind)}" if outcome.left_behind else ""
        fail(f"cp: stopped by {outcome.stopped.signal_name}{left}", 0)
        return signal_status(outcome.stopped.signal_name)
    failures = []
    for report in outcome.reports:
        spec = report.spec
        if report.ok:
            checksum = f", {report.checksum.algorithm} {report.checksum.value}" if report.checksum else ""
            verified = "verified" if report.verified else "size checked (no checksum to compare)"
            if report.status.value == "already-done":
                verified = "already there, complete"
            line = f"{spec.source.url} -> {spec.destination.url}: {report.bytes} bytes in {report.seconds:.1f} s"
            print(f"{line}{checksum}, {verified}", file=sys.stderr if args.json else sys.stdout)
        else:
            error = report.error
            failures.append(error)
            said = f"{error.name} ({error.code}): {error.message}" if error else report.status.value
            if error is not None:
                said += "; cp -f replaces it" if error.code == 1221 else f"; what to do: {error.advice}"
            fail(f"cp: {spec.source.url} -> {spec.destination.url} failed: {said}", 0)
    if not failures:
        return EXIT_OK
    return EXIT_RETRYABLE if all(e is not None and e.transient for e in failures) else EXIT_FAILED


def _quiet_engine(args: argparse.Namespace) -> None:
    """The engine's line per file (done, failed) is a job's log; cp prints its own line per file,
    so on the terminal only the engine's warnings (a retry coming) are shown with it; the log
    file (--log-file) keeps all of them. -v: all of them everywhere."""
    if getattr(args, "verbose", False):
        return
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
            handler.addFilter(_said_by_cp_itself)


def _said_by_cp_itself(record: logging.LogRecord) -> bool:
    engine = record.name == "pilot_movers.engine" or record.name.startswith("pilot_movers.engine.")
    return not engine or record.levelno == logging.WARNING


def _open_and(
    args: argparse.Namespace, act: Callable[[Mover, Location, TransferSettings], T]
) -> tuple[int, Optional[T]]:
    """Parse the URL, open its mover and ``act(mover, location, settings)``: (status, answer)."""
    from pilot_movers.browse import mover_for, opened_mover, parse_location, settings_of
    from pilot_movers.errors import BadJobParameters, JobTerminated, MoverError, Phase

    try:
        queue = _queue(args)
        location = parse_location(args.url)
    except MoverError as exc:
        return fail(str(exc), EXIT_USAGE), None
    try:
        chosen = mover_for(location, queue, args.mover, Phase.STAGE_IN)
    except MoverError as exc:
        return _not_planned(args, exc, f"{args.command} {args.url}"), None
    AFTER_THE_WORK.ended = False
    try:
        with opened_mover(chosen, queue) as mover:
            answer = act(mover, location, settings_of(queue))
            AFTER_THE_WORK.set()  # the answer is in: a signal now changes nothing (the mover closes)
            return EXIT_OK, answer
    except JobTerminated as exc:
        AFTER_THE_WORK.set()
        return fail(f"{args.command} {args.url}: stopped by {exc.signal_name}", signal_status(exc.signal_name)), None
    except BadJobParameters as exc:  # a URL of the right scheme, of the wrong form
        AFTER_THE_WORK.set()
        return fail(f"{args.command} {args.url}: {exc}", EXIT_USAGE), None
    except MoverError as exc:
        AFTER_THE_WORK.set()
        return _cannot_move(exc, f"{args.command} {args.url}"), None


def _not_planned(args: argparse.Namespace, exc: MoverError, what: str) -> int:
    """The command line refused when its mover was chosen: bad usage (exit 2), unless the mover
    of the URL's scheme (no ``--mover`` named it) is not installed or cannot run here: that is
    the node's, said with what to do, as when a mover cannot be opened."""
    from pilot_movers.errors import MoverUnavailable, UnknownMover

    if isinstance(exc, (MoverUnavailable, UnknownMover)) and not args.mover:
        return _cannot_move(exc, what)
    return fail(str(exc), EXIT_USAGE)


def _cannot_move(exc: MoverError, what: str) -> int:
    """``what`` failed before any copy or look (its mover): exit 1, or 3 when a retry may help."""
    return fail(f"{what}: {exc}; what to do: {exc.advice}", EXIT_RETRYABLE if exc.transient else EXIT_FAILED)


def _ls(args: argparse.Namespace) -> int:
    from pilot_movers.browse import list_location

    status, entries = _open_and(args, list_location)
    if entries is None:
        return status
    if args.json:
        print(json.dumps([entry.to_dict() for entry in entries], indent=2))
    else:
        for entry in entries:
            print(entry.line())
    return status


def _stat(args: argparse.Namespace) -> int:
    from pilot_movers.browse import stat_location
    from pilot_movers.errors import ChecksumUnavailable

    algorithm = None if args.checksum == "none" else args.checksum
    unavailable: list[str] = []

    def act(mover: Mover, location: Location, settings: TransferSettings) -> Entry:
        try:
            return stat_location(mover, location, settings, checksum=algorithm)
        except ChecksumUnavailable as exc:  # the file is there; the storage computes no such checksum
            unavailable.append(exc.message)
            return stat_location(mover, location, settings)

    status, entry = _open_and(args, act)
    if entry is None:
        return status
    if args.json:
        found = entry.to_dict()
        if unavailable:
            found["checksum_unavailable"] = unavailable[0]
        print(json.dumps(found, indent=2))
    else:
        print(entry.line())
        for message in unavailable:
            print(f"pilot-movers: no {algorithm} checksum: {message}", file=sys.stderr)
    return status
