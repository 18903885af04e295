"""What every subcommand of ``pilot-movers`` shares: the exit statuses, the one-line failure on
stderr, the ``--progress`` option and the live display it asks for."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from pilot_movers.engine.progress import ProgressObserver

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_RETRYABLE = 3


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
