"""What every subcommand of ``pilot-movers`` shares: the exit statuses, the one-line failure on
stderr, the ``--progress`` option and the live display it asks for."""

from __future__ import annotations

import argparse
import signal
import sys
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from pilot_movers.engine.progress import ProgressObserver

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_RETRYABLE = 3
#: The signals that stop a command (the exit status is then 128+N).
STOPPING = {signal.SIGTERM, signal.SIGINT, signal.SIGQUIT}


class AfterTheWork:
    """Whether the command's work has ended (a job's report written, the copies made): a signal
    then changes nothing. In the console command the stopping signals are also held back from
    then on, until the output is written: a handler run in the middle of a large write to a pipe
    loses part of it."""

    ended = False
    console = False

    def set(self) -> None:
        self.ended = True
        if self.console:
            signal.pthread_sigmask(signal.SIG_BLOCK, STOPPING)


AFTER_THE_WORK = AfterTheWork()


def signal_status(name: str) -> int:
    """128+N for the signal named ``name`` (SIGTERM: 143)."""
    return 128 + int(getattr(signal, name, signal.SIGTERM))


def fail(message: str, status: int) -> int:
    """``message`` on stderr, after the command's name (once); ``status`` back."""
    print(f"pilot-movers: {message}", file=sys.stderr)
    return status


def progress_option(parser: argparse.ArgumentParser, what: str) -> None:
    """``--progress auto|always|never`` (auto: when stderr is a terminal), read by ``progress_for``."""
    parser.add_argument(
        "--progress",
        choices=("auto", "always", "never"),
        default="auto",
        help=f"{what} (auto: when stderr is a terminal)",
    )


def progress_for(choice: str) -> Optional[ProgressObserver]:
    """The live display ``--progress`` asks for, on stderr (None: none)."""
    if choice == "never" or (choice == "auto" and not sys.stderr.isatty()):
        return None
    from pilot_movers.console.progress import TerminalProgress

    return TerminalProgress(sys.stderr)
