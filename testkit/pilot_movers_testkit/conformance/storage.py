"""What the conformance suite needs of a server: the one thing a mover's author writes.

A ``StorageUnderTest`` is a real server the mover reaches, seen from the machine the tests run on:
where this test's files are, how to put a file there, how to look at what is there, and how to
make the server misbehave (frozen, full, gone). The suite drives the real ``pilot-movers`` command
against it; the link is slowed on ``lo`` with a token bucket (``tc tbf``), so the server must be
reached over loopback inside the tests' private network namespace.
"""

from __future__ import annotations

import abc
import os
import signal
import socket
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

from pilot_movers.checksums import Checksum


class StorageUnderTest(abc.ABC):
    """Where a mover's files live for one test (one directory, unique to the test): subclass it
    for a mover, hand it to the suites as the ``storage`` fixture. Enough for the behaviour suite
    (``MoverBehaviourSuite``); a server the fault suite can freeze, fill and find closed is a
    ``ServerUnderTest``."""

    #: The mover under test, as queue config names it (``copytool = NAME``).
    mover: str = ""
    #: The checksum algorithms the server computes for a copy it holds (an upload expecting
    #: another one cannot be verified there: the suite holds the mover to saying so).
    checksums: tuple[str, ...] = ("adler32", "md5")

    # -- where -----------------------------------------------------------------------------

    @abc.abstractmethod
    def directory_url(self) -> str:
        """``dir-in``/``dir-out`` for this test's files (ends with ``/``)."""

    def name(self, stem: str) -> str:
        """A file name in that directory, unique to the test (a flat server prefixes it)."""
        return stem

    # -- files -----------------------------------------------------------------------------

    @abc.abstractmethod
    def put(self, name: str, size: int, seed: int) -> Checksum:
        """Place a file of ``size`` pseudo-random bytes (``seed``) on the server; its adler32."""

    @abc.abstractmethod
    def holds(self, name: str) -> Optional[Checksum]:
        """The adler32 of ``name`` on the server, None when it is not there."""

    @abc.abstractmethod
    def partial_bytes(self) -> int:
        """Bytes of temporary copies on the server in this test's directory (an upload under way)."""

    @abc.abstractmethod
    def debris(self) -> list[str]:
        """Temporary copies the job left on the server in this test's directory (names or URLs)."""

    def queue(self) -> dict[str, Any]:
        """Queue config besides ``copytool`` and ``[transfer]`` (the mover's own section...)."""
        return {}

    def environment(self) -> dict[str, str]:
        """What the job's environment needs to reach the server (X509_USER_PROXY, X509_CERT_DIR...)."""
        return {}

    # -- figures ---------------------------------------------------------------------------

    def note(self, **figures: Any) -> None:
        """What a case measured (seconds, attempts), for whoever collects figures (``figures``)."""
        self.__dict__.setdefault("_figures", {}).update(figures)

    @property
    def figures(self) -> dict[str, Any]:
        return dict(self.__dict__.get("_figures", {}))


class ServerUnderTest(StorageUnderTest):
    """A storage served by a process of this machine, reached over loopback: the fault suite
    (``MoverFaultSuite``) freezes it, fills its disk and finds its port closed."""

    @abc.abstractmethod
    def refused_directory_url(self) -> str:
        """A directory URL of the same scheme on a port of this machine where nothing listens."""

    @abc.abstractmethod
    def server_process_group(self) -> int:
        """The process group of the server process(es) (frozen with SIGSTOP, all of them)."""

    @contextmanager
    def frozen(self) -> Iterator[None]:
        """The server stops answering (SIGSTOP to its process group: connections stay open, no
        byte moves), until the block ends."""
        group = self.server_process_group()
        os.killpg(group, signal.SIGSTOP)
        try:
            yield
        finally:
            os.killpg(group, signal.SIGCONT)

    @abc.abstractmethod
    @contextmanager
    def full(self, free: int) -> Iterator[str]:
        """A directory URL on this server whose disk has about ``free`` bytes left, for the block."""


def free_port() -> int:
    """A TCP port of 127.0.0.1 nothing listens on (now)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def small_disk(directory: Path, size: int, *, owner: Optional[tuple[int, int]] = None) -> Iterator[Path]:
    """``directory`` on a file system of ``size`` bytes (a tmpfs mounted there; needs a mount
    namespace of the tests' own), for the block."""
    directory.mkdir(parents=True, exist_ok=True)
    options = f"size={max(size, 4096)},mode=0777"
    if owner is not None:
        options += f",uid={owner[0]},gid={owner[1]}"
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(directory)], check=True, capture_output=True)
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False, capture_output=True)


@contextmanager
def slow_loopback(rate: str) -> Iterator[None]:
    """Every connection on ``lo`` slowed to ``rate`` (``tc tbf``: a wide-area link), for the block."""
    command = ["tc", "qdisc", "replace", "dev", "lo", "root", "tbf", "rate", rate, "burst", "256kb", "latency", "100ms"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"cannot slow loopback: {done.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["tc", "qdisc", "del", "dev", "lo", "root"], capture_output=True, check=False)
