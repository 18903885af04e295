"""A stand-in ``globusconnectpersonal`` for the emulator: the real command's flags, output lines,
exit codes and control socket, with the relay replaced by heartbeats to the emulator.

    globusconnectpersonal [-dir DIR] -setup --setup-key KEY
    globusconnectpersonal [-dir DIR] -start [-restrict-paths 'rw~,r/data'] [-debug]
    globusconnectpersonal -status | -stop | -version

The control socket is ``globusconnect_<uid>.sock`` in ``/tmp`` (``TMPDIR`` ignored, as by the
real one), so one runs per user and host; ``GLOBUS_EMULATOR_GCP_SOCKET_DIR`` stands for a node's
``/tmp``. The emulator is found through ``GLOBUS_EMULATOR_URL`` (else
``GLOBUS_SDK_SERVICE_URL_TRANSFER``, else the URL saved at setup).
"""

from __future__ import annotations

import base64
import os
import re
import select
import signal
import socket
import stat
import sys
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Optional, TextIO

from pilot_movers_testkit.globus_emulator.endpoints import PathRule, parse_restrict_paths
from pilot_movers_testkit.globus_emulator.gcp_link import EMULATOR_URL_ENV, EmulatorLink, LinkError, emulator_url

GCP_VERSION = "3.2.8"
"""The GCP release whose control script the stand-in's output follows."""
HEARTBEAT_ENV = "GLOBUS_EMULATOR_GCP_HEARTBEAT"
SOCKET_DIR_ENV = "GLOBUS_EMULATOR_GCP_SOCKET_DIR"
DEFAULT_HEARTBEAT = 1.0
NOT_RUNNING = "No Globus Connect Personal connected to Globus Online Service"
ANOTHER_RUNNING = "Another Globus Connect Personal is currently running"
GRIDMAP_DN = "/C=US/O=Globus Consortium/OU=Globus Connect User/CN="
USAGE = """usage: globusconnectpersonal [-dir DIR] COMMAND
  -setup --setup-key KEY   set up this endpoint with a single-use key (also: -setup KEY)
  -start                   run in the foreground until stopped
  -debug                   like -start, printing what happens
  -restrict-paths PATHS    with -start: 'rw~,r/data' (r read-only, rw read-write; ~ is $HOME)
  -status                  say whether it is connected and transferring
  -stop                    stop the running one
  -version                 print the version
(a stand-in for the emulator of pilot-movers; finds it through GLOBUS_EMULATOR_URL)"""


def control_socket_path() -> Path:
    """``globusconnect_<uid>.sock`` in ``/tmp``, whatever ``TMPDIR`` says, as GCP 3.2.8's control
    script puts it: one GCP per user and host. ``GLOBUS_EMULATOR_GCP_SOCKET_DIR`` moves it (the
    emulated node's ``/tmp``), so that tests on one machine can emulate several nodes."""
    return Path(os.environ.get(SOCKET_DIR_ENV) or "/tmp") / f"globusconnect_{os.getuid()}.sock"


def default_config_dir() -> Path:
    return Path.home() / ".globusonline"


# -- command line ---------------------------------------------------------------------------------


@dataclass
class Command:
    action: Optional[str] = None
    config_dir: Path = field(default_factory=default_config_dir)
    setup_key: Optional[str] = None
    restrict_paths: Optional[str] = None


class UsageError(Exception):
    pass


ACTIONS = ("-setup", "-start", "-debug", "-status", "-stop", "-version", "-help", "-pause", "-unpause", "-trace")


def parse_arguments(argv: list[str]) -> Command:
    """The real launcher's single-dash options, in any order."""
    command = Command()
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg in ("-h", "--help"):
            arg = "-help"
        if arg in ACTIONS:
            if command.action is not None:
                raise UsageError(f"{command.action} and {arg} cannot be combined")
            command.action = arg
            if arg == "-setup" and args and not args[0].startswith("-"):
                command.setup_key = args.pop(0)  # 2.x style: -setup KEY
        elif arg in ("--setup-key", "-setup-key"):
            command.setup_key = _value(arg, args)
        elif arg == "-dir":
            command.config_dir = Path(_value(arg, args)).expanduser()
        elif arg == "-restrict-paths":
            command.restrict_paths = _value(arg, args)
        elif arg == "-shared-paths":
            _value(arg, args)  # accepted; sharing is not emulated
        elif arg in ("--no-gui", "-no-gui"):
            continue
        elif arg in ("--name", "-name"):
            _value(arg, args)
        else:
            raise UsageError(f"unknown option {arg}")
    if command.action is None:
        raise UsageError("no command given")
    return command


def _value(option: str, args: list[str]) -> str:
    if not args:
        raise UsageError(f"{option} needs a value")
    return args.pop(0)


# -- the config dir -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Installation:
    """What ``-setup`` wrote under ``DIR/lta``."""

    endpoint_id: str
    credential: str = field(repr=False)
    saved_url: Optional[str]

    @classmethod
    def load(cls, config_dir: Path) -> Optional[Installation]:
        lta = config_dir / "lta"
        try:
            endpoint_id = (lta / "client-id.txt").read_text().strip()
            credential = (lta / "emulator-credential").read_text().strip()
        except OSError:
            return None
        try:
            saved_url: Optional[str] = (lta / "emulator-url").read_text().strip() or None
        except OSError:
            saved_url = None
        return cls(endpoint_id, credential, saved_url)


def _write_private(path: Path, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)


def setup(command: Command, out: TextIO, err: TextIO) -> int:
    if not command.setup_key:
        err.write("Interactive login setup is not emulated: use -setup --setup-key KEY\n")
        return 1
    url = emulator_url()
    if url is None:
        err.write(f"Cannot find the Globus emulator: set {EMULATOR_URL_ENV}\n")
        return 1
    out.write("== starting endpoint setup\n")
    try:
        reply = EmulatorLink(url).setup(command.setup_key)
    except LinkError as error:
        err.write(f"Error: setup failed: {error}\n")
        return 1
    lta = command.config_dir / "lta"
    lta.mkdir(parents=True, exist_ok=True)
    os.chmod(command.config_dir, 0o700)
    (lta / "client-id.txt").write_text(reply["endpoint_id"] + "\n")
    (lta / "gridmap").write_text(f'"{GRIDMAP_DN}{_gridmap_name(reply)}" {_local_user()}\n')
    (lta / "config-paths").write_text("~/,0,1\n")
    (lta / "emulator-url").write_text(url + "\n")
    _write_private(lta / "emulator-credential", reply["credential"] + "\n")
    out.write(f"registered new endpoint, id: {reply['endpoint_id']}\n")
    out.write("setup completed successfully\n")
    return 0


def _gridmap_name(owner: dict[str, str]) -> str:
    """A Globus ID user by name (``mxp``), any other identity as ``u_`` + its base32 id."""
    username = owner["owner_username"]
    try:
        identity = uuid.UUID(owner["owner_id"])
    except ValueError:
        identity = None
    if username.endswith("@globusid.org") or identity is None:
        return username.split("@", 1)[0]
    return "u_" + base64.b32encode(identity.bytes).decode().rstrip("=").lower()


def _local_user() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return os.environ.get("USER", "user")


def configured_rules(command: Command, home: Path) -> list[PathRule]:
    """``-restrict-paths`` if given, else ``lta/config-paths`` (``path,sharing,writable`` lines)."""
    if command.restrict_paths is not None:
        return parse_restrict_paths(command.restrict_paths, home)
    rules = []
    try:
        lines = (command.config_dir / "lta" / "config-paths").read_text().splitlines()
    except OSError:
        lines = ["~/,0,1"]
    for line in lines:
        parts = [p.strip() for p in line.split(",")]
        if parts and parts[0]:
            writable = len(parts) < 3 or parts[2] == "1"
            rules += parse_restrict_paths(("rw" if writable else "r") + parts[0], home)
    return rules


# -- the running endpoint -------------------------------------------------------------------------


class RunningEndpoint:
    """``-start``: keep the endpoint connected and answer the control socket until stopped."""

    def __init__(
        self, installation: Installation, link: EmulatorLink, rules: list[PathRule], out: TextIO, debug: bool
    ) -> None:
        self.installation = installation
        self.link = link
        self.rules = rules
        self.out = out
        self.debug = debug
        self.interval = float(os.environ.get(HEARTBEAT_ENV) or DEFAULT_HEARTBEAT)
        self.connected = False
        self.transfer_active = False
        self.stopping = threading.Event()

    def say(self, text: str) -> None:
        if self.debug:
            self.out.write(text + "\n")
            self.out.flush()

    def beat(self) -> None:
        try:
            reply = self.link.heartbeat(
                self.installation.endpoint_id,
                self.installation.credential,
                home=str(Path.home()),
                restrict_paths=[(str(r.root), r.writable) for r in self.rules],
            )
        except LinkError as error:
            if self.connected or self.debug:
                self.say(f"relay: disconnected ({error})")
            self.connected, self.transfer_active = False, False
            return
        if not self.connected:
            self.say(f"relay: connected to {self.link.base_url} as endpoint {self.installation.endpoint_id}")
        self.connected = bool(reply.get("connected"))
        self.transfer_active = bool(reply.get("transfer_active"))

    def heartbeats(self) -> None:
        while not self.stopping.is_set():
            self.beat()
            self.stopping.wait(self.interval)

    def status_lines(self) -> str:
        """What the control script parses: ``#gridftp N`` and ``#relaytool STATE``."""
        return f"#gridftp {1 if self.transfer_active else 0}\n#relaytool {'connected' if self.connected else 'n/a'}\n"

    def serve(self, listener: socket.socket) -> None:
        self.beat()
        beating = threading.Thread(target=self.heartbeats, name="gcp-heartbeat", daemon=True)
        beating.start()
        clients: list[socket.socket] = []
        try:
            while not self.stopping.is_set():
                readable, _, _ = select.select([listener, *clients], [], [], 0.2)
                for ready in readable:
                    if ready is listener:
                        connection, _ = listener.accept()
                        clients.append(connection)
                        continue
                    try:
                        command = ready.recv(16).decode(errors="replace").strip()
                    except OSError:
                        command = ""
                    if command == "status":
                        _send(ready, self.status_lines().encode())
                    elif command == "stop":
                        self.say("stop requested")
                        self.stopping.set()
                        continue  # the stopper's connection is closed once we are done
                    elif command:
                        _send(ready, b"Error: unrecognized command")
                    ready.close()
                    clients.remove(ready)
        finally:
            self.stopping.set()
            beating.join(timeout=self.interval + 6)
            try:
                self.link.disconnect(self.installation.endpoint_id, self.installation.credential)
            except LinkError:
                pass
            for client in clients:
                client.close()


def _send(connection: socket.socket, data: bytes) -> None:
    try:
        connection.sendall(data)
    except OSError:
        pass


def _connect_control() -> Optional[socket.socket]:
    """A connection to the running GCP's control socket, or None when none runs."""
    path = control_socket_path()
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        client.connect(str(path))
    except OSError:
        client.close()
        return None
    return client


def start(command: Command, out: TextIO, err: TextIO) -> int:
    installation = Installation.load(command.config_dir)
    if installation is None:
        err.write(f"Globus Connect Personal is not set up in {command.config_dir}: run -setup first\n")
        return 1
    url = emulator_url(saved=installation.saved_url)
    if url is None:
        err.write(f"Cannot find the Globus emulator: set {EMULATOR_URL_ENV}\n")
        return 1
    try:
        rules = configured_rules(command, Path.home())
    except ValueError as error:
        err.write(f"Error: -restrict-paths: {error}\n")
        return 1
    running = _connect_control()
    if running is not None:
        running.close()
        err.write(ANOTHER_RUNNING + "\n")
        return 1
    path = control_socket_path()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        if path.exists() and stat.S_ISSOCK(path.lstat().st_mode):
            path.unlink()  # left by a GCP that was killed
        listener.bind(str(path))
        ours = path.lstat()
    except OSError as error:
        listener.close()
        err.write(f"{ANOTHER_RUNNING}\n" if "in use" in str(error) else f"Error: {error}\n")
        return 1
    listener.listen(5)
    endpoint = RunningEndpoint(installation, EmulatorLink(url), rules, out, command.action == "-debug")
    received: list[int] = []

    def on_signal(signum: int, frame: Optional[FrameType]) -> None:
        received.append(signum)
        endpoint.stopping.set()

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, on_signal)
    try:
        endpoint.serve(listener)
    finally:
        listener.close()
        try:
            if os.path.samestat(ours, path.lstat()):  # not one a later GCP made
                path.unlink()
        except OSError:
            pass
    if received:
        return 1 if received[0] == signal.SIGINT else 128 + received[0]
    return 0


def status(out: TextIO) -> int:
    client = _connect_control()
    if client is None:
        out.write(NOT_RUNNING + "\n")
        return 1
    with client:
        client.sendall(b"status")
        client.settimeout(10)
        data = ""
        while True:
            try:
                chunk = client.recv(1024).decode(errors="replace")
            except OSError:
                chunk = ""
            data += chunk
            gridftp = re.search(r"^#gridftp (\w+)$", data, re.MULTILINE)
            relay = re.search(r"^#relaytool ([\w/]+)$", data, re.MULTILINE)
            if gridftp and relay:
                state = "disconnected" if relay.group(1) == "n/a" else relay.group(1)
                out.write(f"Globus Online:   {state}\n")
                out.write(f"Transfer Status: {'idle' if gridftp.group(1) == '0' else 'active'}\n")
                return 0
            if not chunk:
                out.write(NOT_RUNNING + "\n")
                return 1


def stop(out: TextIO) -> int:
    client = _connect_control()
    if client is None:
        out.write(NOT_RUNNING + "\n")
        return 1
    with client:
        out.write(
            "Globus Connect Personal is currently running and connected to Globus Online\nSending stop signal... "
        )
        out.flush()
        client.sendall(b"stop")
        client.settimeout(15)
        try:  # the running one closes the connection once it has said goodbye to the emulator
            while client.recv(1024):
                pass
        except OSError:
            pass
    out.write("Done\n")
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    out, err = sys.stdout, sys.stderr
    try:
        command = parse_arguments(sys.argv[1:] if argv is None else argv)
    except UsageError as error:
        err.write(f"{error}\n{USAGE}\n")
        return 1
    if command.action == "-help":
        out.write(USAGE + "\n")
        return 0
    if command.action == "-version":
        out.write(GCP_VERSION + "\n")
        return 0
    if command.action == "-setup":
        return setup(command, out, err)
    if command.action in ("-start", "-debug"):
        return start(command, out, err)
    if command.action == "-status":
        return status(out)
    if command.action == "-stop":
        return stop(out)
    err.write(f"{command.action} is not emulated by this stand-in\n")
    return 1


def write_launcher(directory: Path, python: Optional[str] = None) -> Path:
    """Write an executable ``globusconnectpersonal`` into ``directory`` that runs this stand-in,
    for a PATH (not installed as a console script of that name: it would shadow a real GCP)."""
    directory.mkdir(parents=True, exist_ok=True)
    launcher = directory / "globusconnectpersonal"
    launcher.write_text(
        f'#!/bin/sh\nexec "{python or sys.executable}" -m pilot_movers_testkit.globus_emulator.gcp "$@"\n'
    )
    launcher.chmod(0o755)
    return launcher


if __name__ == "__main__":
    sys.exit(main())
