"""A real grid on one machine: GridFTP, XRootD (root:// and https://) and MyProxy servers with GSI,
on free ports of 127.0.0.1, with a throwaway CA. Used by the tests and the demo.

XRootD listens on every interface, so run the grid inside a private network namespace that has
only ``lo`` (``scripts/in-private-network.sh``). Servers run as child processes in their own
process groups, started and stopped by pid; their logs are in ``ROOT/logs``.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

from pilot_movers_testkit.ca import Credential, ThrowawayCA, make_proxy

USER_CN = "Test User"
UNAUTHORISED_CN = "Unauthorised User"
PILOT_CN = "Pilot Robot"
XROOTD_LOCAL_USER = "griduser"
REQUIRED_PROGRAMS = {
    "gridftp": "globus-gridftp-server",
    "xrootd": "xrootd",
    "myproxy": "myproxy-server",
}


class GridError(RuntimeError):
    """A server of the local grid could not be started."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_port(port: int, timeout: float, process: Optional[subprocess.Popen[bytes]], log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise GridError(f"server exited with status {process.returncode}; log {log}:\n{_tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise GridError(f"nothing listens on 127.0.0.1:{port} after {timeout:g} s; log {log}:\n{_tail(log)}")


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class Server:
    """One server process: ``start``, ``stop`` (graceful), ``kill`` (SIGKILL, as a crash would)."""

    name: str
    port: int
    log: Path
    argv: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    pidfile: Optional[Path] = None
    """For servers that daemonise (MyProxy): where they write their pid."""
    process: Optional[subprocess.Popen[bytes]] = None
    ready_timeout: float = 20.0

    def start(self) -> None:
        if self.running:
            return
        program = self.argv[0]
        if shutil.which(program) is None and not os.path.exists(program):
            raise GridError(f"{program} is not installed (scripts/bootstrap.sh installs it)")
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log.with_suffix(".out"), "ab") as output:
            self.process = subprocess.Popen(
                self.argv,
                env={**os.environ, **self.env},
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        if self.pidfile is not None:  # the launcher exits once the daemon has forked
            self.process.wait(timeout=self.ready_timeout)
            _wait_for_port(self.port, self.ready_timeout, None, self.log)
        else:
            _wait_for_port(self.port, self.ready_timeout, self.process, self.log)

    @property
    def pid(self) -> Optional[int]:
        if self.pidfile is not None:
            try:
                return int(self.pidfile.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                return None
        return self.process.pid if self.process is not None else None

    @property
    def running(self) -> bool:
        pid = self.pid
        if pid is None:
            return False
        if self.pidfile is None:
            return self.process is not None and self.process.poll() is None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    def kill(self) -> None:
        """Kill the server and every process it forked, at once (a crash, not a shutdown)."""
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        self._signal(signal.SIGTERM, wait=5.0)
        self._signal(signal.SIGKILL)

    def _signal(self, sig: int, wait: float = 10.0) -> None:
        pid = self.pid
        if pid is None:
            return
        try:
            # The server and the children it forked per connection: its whole process group.
            os.killpg(os.getpgid(pid) if self.pidfile is not None else pid, sig)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + wait
        while self.running and time.monotonic() < deadline:
            if self.process is not None and self.pidfile is None:
                try:
                    self.process.wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    return
            else:
                time.sleep(0.05)
        if not self.running:
            if self.pidfile is not None:
                self.pidfile.unlink(missing_ok=True)
            self.process = None


class LocalGrid:
    """The CA, credentials and servers of a one-machine grid under ``root``.

    ``user_proxy`` is an RFC 3820 proxy of a user every server authorises; ``unauthorised_proxy``
    belongs to a user the CA signed but no grid-mapfile lists.
    """

    def __init__(
        self,
        root: Optional[Path] = None,
        *,
        gridftp_log_level: str = "ERROR,WARN,INFO",
        xrootd_checksum_jobs: int = 4,
        gridftp_port_range: tuple[int, int] = (50000, 52000),
    ) -> None:
        self.root = Path(root) if root else Path(tempfile.mkdtemp(prefix="pilot-movers-grid-"))
        #: ``ALL`` logs every control command (the benchmark counts them per file).
        self.gridftp_log_level = gridftp_log_level
        #: XRootD's ``xrootd.chksum max``: checksum jobs at once (4, its default); it holds three
        #: times that many and answers ``kXR_wait`` 30 s beyond.
        self.xrootd_checksum_jobs = xrootd_checksum_jobs
        #: The GridFTP server's data ports (first, last): sites behind a firewall open few.
        self.gridftp_port_range = gridftp_port_range
        self._owns_root = root is None
        self.ca = ThrowawayCA(self.root / "ca")
        self.logs = self.root / "logs"
        self.servers: dict[str, Server] = {}
        self.host: Optional[Credential] = None
        self.user: Optional[Credential] = None
        self.unauthorised: Optional[Credential] = None
        self.pilot: Optional[Credential] = None

    # -- set-up ------------------------------------------------------------------------------

    def create_credentials(self) -> None:
        # Servers that drop privileges (XRootD runs as nobody) must reach the trust dir and data.
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        self.ca.create()
        for path in (self.ca.directory, self.ca.cert_dir):
            os.chmod(path, 0o755)
        self.host = self.ca.host(self.root / "host")
        self.user = self.ca.user(self.root / "user", USER_CN)
        self.unauthorised = self.ca.user(self.root / "unauthorised", UNAUTHORISED_CN)
        self.pilot = self.ca.user(self.root / "pilot", PILOT_CN)
        make_proxy(self.user, self.user_proxy)
        make_proxy(self.unauthorised, self.unauthorised_proxy)
        make_proxy(self.pilot, self.pilot_proxy)

    def sibling(self, root: Path, **options: Any) -> LocalGrid:
        """Another grid on this one's CA and credentials, its servers configured by ``options``
        (a client trusts both: GSI reads its trust directory once per process)."""
        if self.user is None:
            raise GridError("create_credentials() first")
        other = LocalGrid(root, **options)
        other.root.mkdir(parents=True, exist_ok=True)
        os.chmod(other.root, 0o755)
        other.ca = self.ca
        other.host, other.user, other.unauthorised, other.pilot = self.host, self.user, self.unauthorised, self.pilot
        return other

    @property
    def cert_dir(self) -> Path:
        return self.ca.cert_dir

    @property
    def user_proxy(self) -> Path:
        return self.root / "user" / "proxy.pem"

    @property
    def unauthorised_proxy(self) -> Path:
        return self.root / "unauthorised" / "proxy.pem"

    @property
    def pilot_proxy(self) -> Path:
        """A pilot's own (robot) proxy: a trusted MyProxy retriever, but in no grid-mapfile."""
        return self.root / "pilot" / "proxy.pem"

    def store_credential(
        self, username: str, passphrase: Optional[str] = None, hours: int = 24, owner: Optional[Credential] = None
    ) -> None:
        """``myproxy-init``: store the test user's credential (or ``owner``'s) in MyProxy under
        ``username``, protected by ``passphrase``, or without one (trusted retrievers only)."""
        owner = owner or self.user
        if owner is None:
            raise GridError("create_credentials() first")
        argv = [
            "myproxy-init",
            "-s",
            "localhost",
            "-p",
            str(self.myproxy_port),
            "-l",
            username,
            "-C",
            str(owner.cert),
            "-y",
            str(owner.key),
            "-c",
            str(hours),
            "-t",
            "2",
        ]
        argv += ["-S"] if passphrase is not None else ["-n"]
        env = {**os.environ, "X509_CERT_DIR": str(self.cert_dir)}
        env.pop("X509_USER_PROXY", None)
        done = subprocess.run(
            argv,
            input=f"{passphrase}\n" if passphrase is not None else None,
            text=True,
            capture_output=True,
            env=env,
            check=False,
        )
        if done.returncode != 0:
            raise GridError(f"myproxy-init failed: {done.stderr.strip()}")

    def client_env(self, proxy: Optional[Path] = None) -> dict[str, str]:
        """What a client on this grid needs in its environment."""
        return {"X509_CERT_DIR": str(self.cert_dir), "X509_USER_PROXY": str(proxy or self.user_proxy)}

    # -- servers -----------------------------------------------------------------------------

    def start(self, *names: str) -> LocalGrid:
        """Start the named servers (all when none is named), creating credentials first."""
        if self.user is None:
            self.create_credentials()
        for name in names or ("gridftp", "xrootd", "myproxy"):
            server = self.servers.get(name) or getattr(self, f"_make_{name}")()
            self.servers[name] = server
            server.start()
        return self

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()

    def __enter__(self) -> LocalGrid:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        if self._owns_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def _make_gridftp(self) -> Server:
        if self.host is None or self.user is None:
            raise GridError("create_credentials() first")
        data = self.gridftp_dir
        data.mkdir(parents=True, exist_ok=True)
        gridmap = self.root / "gridftp" / "grid-mapfile"
        gridmap.parent.mkdir(parents=True, exist_ok=True)
        gridmap.write_text(f'"{self.user.dn}" root\n')
        port = free_port()
        log = self.logs / "gridftp.log"
        argv = [
            "globus-gridftp-server",
            "-p",
            str(port),
            "-control-interface",
            "127.0.0.1",
            "-data-interface",
            "127.0.0.1",
            "-port-range",
            "{},{}".format(*self.gridftp_port_range),
            "-allow-root",
            "-log-level",
            self.gridftp_log_level,
            "-logfile",
            str(log),
            "-s",
        ]
        env = {
            "X509_CERT_DIR": str(self.cert_dir),
            "X509_USER_CERT": str(self.host.cert),
            "X509_USER_KEY": str(self.host.key),
            "GRIDMAP": str(gridmap),
        }
        return Server("gridftp", port, log, argv, env)

    def _make_xrootd(self) -> Server:
        if self.host is None or self.user is None:
            raise GridError("create_credentials() first")
        base = self.root / "xrootd"
        data = self.xrootd_dir
        for directory in (base, data, base / "admin", base / "run", base / "certs"):
            directory.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.host.cert, base / "certs" / "hostcert.pem")
        shutil.copy(self.host.key, base / "certs" / "hostkey.pem")
        (base / "gridmap").write_text(f'"{self.user.dn}" {XROOTD_LOCAL_USER}\n')
        (base / "authdb").write_text(f"u {XROOTD_LOCAL_USER} {data} a\n")
        self.xrootd_https_port = free_port()
        port = free_port()
        (base / "xrootd.cfg").write_text(
            f"all.export {data}\n"
            f"all.adminpath {base / 'admin'}\n"
            f"all.pidpath {base / 'run'}\n"
            f"xrd.port {port}\n"
            f"xrootd.chksum max {self.xrootd_checksum_jobs} adler32\n"
            "xrootd.seclib libXrdSec.so\n"
            f"sec.protocol gsi -certdir:{self.cert_dir} -cert:{base / 'certs/hostcert.pem'} "
            f"-key:{base / 'certs/hostkey.pem'} -gridmap:{base / 'gridmap'} -gmapopt:2 -crl:1\n"
            "sec.protbind * only gsi\n"
            f"xrd.protocol XrdHttp:{self.xrootd_https_port} libXrdHttp.so\n"
            f"xrd.tls {base / 'certs/hostcert.pem'} {base / 'certs/hostkey.pem'}\n"
            f"xrd.tlsca certdir {self.cert_dir}\n"
            f"http.gridmap {base / 'gridmap'}\n"
            "ofs.authorize 1\n"
            f"acc.authdb {base / 'authdb'}\n"
        )
        nobody = pwd.getpwnam("nobody")
        for path in [base, *base.rglob("*")]:
            os.chown(path, nobody.pw_uid, nobody.pw_gid)
        os.chmod(base / "certs" / "hostkey.pem", 0o600)
        log = self.logs / "xrootd.log"
        self.logs.mkdir(parents=True, exist_ok=True)
        os.chmod(self.logs, 0o777)
        argv = [
            "setpriv",
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            shutil.which("xrootd") or "xrootd",
            "-c",
            str(base / "xrootd.cfg"),
            "-l",
            str(log),
        ]
        return Server("xrootd", port, log, argv)

    def _make_myproxy(self) -> Server:
        assert self.host is not None
        base = self.root / "myproxy"
        store = base / "store"
        store.mkdir(parents=True, exist_ok=True)
        os.chmod(store, 0o700)
        config = base / "myproxy-server.config"
        organisation = "/C=XX/O=GridLab/*"
        config.write_text(
            'accepted_credentials "*"\n'
            'authorized_retrievers "*"\n'
            'default_retrievers "*"\n'
            'authorized_renewers "*"\n'
            'default_renewers "none"\n'
            f'trusted_retrievers "{organisation}"\n'
            f'default_trusted_retrievers "{organisation}"\n'
            "allow_self_authorization true\n"
            f"cert_dir {self.cert_dir}\n"
        )
        port = free_port()
        log = self.logs / "myproxy.log"
        pidfile = base / "myproxy.pid"
        argv = [
            "myproxy-server",
            "-l",
            "127.0.0.1",
            "-p",
            str(port),
            "-c",
            str(config),
            "-s",
            str(store),
            "-P",
            str(pidfile),
        ]
        env = {
            "X509_CERT_DIR": str(self.cert_dir),
            "X509_USER_CERT": str(self.host.cert),
            "X509_USER_KEY": str(self.host.key),
        }
        return Server("myproxy", port, log, argv, env, pidfile=pidfile)

    @contextmanager
    def throttled(self, rate: str = "200mbit") -> Iterator[None]:
        """Slow every connection on loopback to ``rate`` (a token bucket on ``lo``, as a
        wide-area link would): for tests where timing matters. Needs the private network
        namespace the tests run in (root there)."""
        command = [
            "tc",
            "qdisc",
            "replace",
            "dev",
            "lo",
            "root",
            "tbf",
            "rate",
            rate,
            "burst",
            "256kb",
            "latency",
            "100ms",
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise GridError(f"cannot throttle loopback: {done.stderr.strip()}")
        try:
            yield
        finally:
            subprocess.run(["tc", "qdisc", "del", "dev", "lo", "root"], capture_output=True, check=False)

    # -- where things are --------------------------------------------------------------------

    @property
    def gridftp_dir(self) -> Path:
        return self.root / "storage" / "gridftp"

    @property
    def xrootd_dir(self) -> Path:
        return self.root / "xrootd" / "data"

    def gridftp_url(self, path: str = "") -> str:
        return f"gsiftp://localhost:{self.servers['gridftp'].port}{self.gridftp_dir}/{path.lstrip('/')}"

    def xrootd_url(self, path: str = "") -> str:
        return f"root://localhost:{self.servers['xrootd'].port}/{self.xrootd_dir}/{path.lstrip('/')}"

    def https_url(self, path: str = "") -> str:
        return f"https://localhost:{self.xrootd_https_port}{self.xrootd_dir}/{path.lstrip('/')}"

    @property
    def myproxy_port(self) -> int:
        return self.servers["myproxy"].port
