"""The user's proxy from a MyProxy server, through MyProxyClient.

Two ways to authenticate: the credential's passphrase (read from an environment variable or a
file, never from the command line), or none, as a trusted retriever presenting the pilot's own
proxy or the host certificate (for credentials stored with ``myproxy-init -n``).

The key pair and the certificate request are made with ``cryptography`` and handed to
MyProxyClient as DER (its own request code needs ``OpenSSL.crypto.X509Req``, which pyOpenSSL 26.3
removed). The retrieved proxy is written to a new 0600 file; no existing file is ever replaced.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
import secrets
import socket
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, Mapping, Optional

import tenacity
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from pilot_movers.config_values import (
    ATTEMPTS,
    DURATION,
    HOUR,
    HOURS,
    PORT,
    between,
    check_fields,
    option,
    parse_options,
)
from pilot_movers.credentials.policy import default_proxy_path
from pilot_movers.credentials.proxy_info import ProxyInfo, inspect_proxy
from pilot_movers.errors import (
    BadJobParameters,
    ConfigurationError,
    MoverError,
    MoverUnavailable,
    NoProxy,
    NoSpace,
    Phase,
    ProxyExpired,
    ServiceUnavailable,
)
from pilot_movers.reserved import MARK

log = logging.getLogger(__name__)

DEFAULT_PORT = 7512
#: The name every user proxy this library writes starts with (a work dir sweep finds them).
PROXY_PREFIX = f"{MARK}proxy-"
RETRIEVERS = ("passphrase", "pilot-proxy", "host-cert")
_KEY_BITS = 2048


@dataclass(frozen=True)
class MyProxyOptions:
    """Queue config ``[myproxy]``, as written there; ``MyProxySettings.resolve`` completes it with
    the job's parameters and the environment."""

    enabled: bool = False
    """Fetch the user's proxy even when neither this section nor the job names a server
    (the server then comes from ``MYPROXY_SERVER``)."""
    server: Optional[str] = None
    port: Optional[int] = option(None, PORT)
    allowed_servers: tuple[str, ...] = ()
    """Servers a job may name itself (``myproxy-server=``): ``host`` or ``host:port``, ``*`` for any.
    A server a job names that is neither ``server`` nor listed here is refused: the logon sends
    the passphrase, or presents the pilot's proxy, to whichever server it is."""
    username: Optional[str] = None
    credname: Optional[str] = None
    lifetime_hours: float = option(12.0, HOURS, between(0.1, 168))
    ca_dir: Optional[str] = None
    retrieve_with: Literal["passphrase", "pilot-proxy", "host-cert"] = "passphrase"
    passphrase_env: str = "MYPROXY_PASSPHRASE"
    passphrase_file: Optional[str] = None
    host_cert: str = "/etc/grid-security/hostcert.pem"
    host_key: str = "/etc/grid-security/hostkey.pem"
    server_dn: Optional[str] = None
    timeout: float = option(30.0, DURATION, between(0.1, HOUR))
    max_attempts: int = option(3, ATTEMPTS)
    backoff_initial: float = option(2.0, DURATION, between(0, HOUR))
    backoff_max: float = option(30.0, DURATION, between(0, HOUR))

    def __post_init__(self) -> None:
        check_fields(self, where="[myproxy]")
        if self.retrieve_with not in RETRIEVERS:
            raise ConfigurationError(
                f"[myproxy] retrieve_with = {self.retrieve_with!r}: use one of {', '.join(RETRIEVERS)}"
            )

    @classmethod
    def from_options(cls, options: Mapping[str, Any], *, where: str = "[myproxy]") -> MyProxyOptions:
        return parse_options(cls, options, where=where)

    @property
    def asked_for(self) -> bool:
        return self.enabled or bool(self.server)


@dataclass(frozen=True)
class MyProxySettings:
    """Where and how to log on: ``MyProxyOptions`` with server, port and user name resolved.
    ``passphrase_env``/``passphrase_file`` name where the passphrase is, for
    ``retrieve_with = passphrase``; the other two modes present a certificate instead."""

    server: str
    username: str
    port: int = DEFAULT_PORT
    credname: Optional[str] = None
    lifetime_hours: float = 12.0
    ca_dir: Optional[str] = None
    retrieve_with: str = "passphrase"
    passphrase_env: str = "MYPROXY_PASSPHRASE"
    passphrase_file: Optional[str] = None
    host_cert: str = "/etc/grid-security/hostcert.pem"
    host_key: str = "/etc/grid-security/hostkey.pem"
    server_dn: Optional[str] = None
    timeout: float = 30.0
    max_attempts: int = 3
    backoff_initial: float = 2.0
    backoff_max: float = 30.0

    @property
    def address(self) -> str:
        return f"{self.server}:{self.port}"

    @classmethod
    def resolve(
        cls,
        options: MyProxyOptions,
        *,
        job_server: Optional[str] = None,
        job_user: Optional[str] = None,
        environ: Optional[Mapping[str, str]] = None,
    ) -> Optional[MyProxySettings]:
        """Settings from queue config ``[myproxy]``, then the job's ``myproxy-server``, then
        ``MYPROXY_SERVER``/``MYPROXY_SERVER_PORT``; the user name defaults to ``globus-user``.

        None when neither queue config nor job parameters ask for MyProxy.
        """
        environ = os.environ if environ is None else environ
        if not (options.asked_for or job_server):
            return None
        if job_server and not _allowed(job_server, options):
            allowed = ", ".join(options.allowed_servers) or "none"
            raise BadJobParameters(
                f"myproxy-server={job_server}: this queue lets a job name no MyProxy server of its own but "
                f"[myproxy] server and allowed_servers (allowed: {allowed}); a job cannot choose where the "
                "pilot's passphrase or proxy goes"
            )
        server = options.server or job_server or environ.get("MYPROXY_SERVER")
        if not server:
            raise ConfigurationError(
                "MyProxy is asked for but no server is named ([myproxy] server, myproxy-server=, or MYPROXY_SERVER)"
            )
        host, _, port_text = server.partition(":")
        try:
            port = options.port or int(port_text or environ.get("MYPROXY_SERVER_PORT") or DEFAULT_PORT)
        except ValueError:
            raise ConfigurationError(f"MyProxy server {server!r}: the port is not a number") from None
        username = options.username or job_user
        if not username:
            raise ConfigurationError("MyProxy needs a user name: [myproxy] username or the job's globus-user")
        copied = {
            f.name: getattr(options, f.name)
            for f in dataclasses.fields(options)
            if f.name not in ("enabled", "server", "port", "username", "allowed_servers")
        }
        return cls(server=host, username=username, port=port, **copied)

    def read_passphrase(self, environ: Optional[Mapping[str, str]] = None) -> str:
        """The passphrase, from the named environment variable or the first line of a file."""
        environ = os.environ if environ is None else environ
        if self.passphrase_file:
            try:
                with open(self.passphrase_file, encoding="utf-8") as handle:
                    return handle.readline().rstrip("\r\n")
            except OSError as exc:
                raise NoProxy(
                    f"cannot read the MyProxy passphrase file {self.passphrase_file}: {exc.strerror}",
                    phase=Phase.CREDENTIALS,
                ) from None
        value = environ.get(self.passphrase_env)
        if not value:
            raise NoProxy(
                f"no MyProxy passphrase: the environment variable {self.passphrase_env} is not set",
                phase=Phase.CREDENTIALS,
            )
        return value


@dataclass(frozen=True)
class RetrievedProxy:
    path: Path
    info: ProxyInfo
    attempts: int


def require_myproxy_client() -> None:
    """The MyProxy client is installed (the ``myproxy`` extra: MyProxyClient, pyOpenSSL); when it
    cannot be imported, MoverUnavailable says so in one sentence naming the extra."""
    try:
        import myproxy.client  # noqa: F401
    except ImportError as exc:
        raise MoverUnavailable(
            f"the MyProxy logon needs the Python module {exc.name or str(exc)!r}, which is not installed: "
            "pip install 'pilot-movers[myproxy]'",
            phase=Phase.CREDENTIALS,
        ) from None


def fetch_proxy(
    settings: MyProxySettings,
    directory: Path,
    *,
    path: Optional[Path] = None,
    pilot_proxy: Optional[str] = None,
    ca_dir: Optional[str] = None,
    sleep: Callable[[float], None] = time.sleep,
) -> RetrievedProxy:
    """Log on to MyProxy and write the user's proxy to a new 0600 file in ``directory``: ``path``
    when the caller chose (and took charge of) the name first (``new_proxy_path``), else a new one.

    ``pilot_proxy`` is the pilot's own proxy (presented with ``retrieve_with = pilot-proxy``,
    and never written); ``ca_dir`` the trust dir, unless ``[myproxy] ca_dir`` names one. Both
    default to the environment (``X509_USER_PROXY``, ``X509_CERT_DIR``).

    Retries (tenacity) when the server cannot be reached; never after a refusal (wrong
    passphrase, unknown user, untrusted retriever): NoProxy says why.
    """
    require_myproxy_client()
    from myproxy.client import MyProxyClient

    class TimedClient(MyProxyClient):
        """MyProxyClient whose socket gives up after ``settings.timeout``: its sockets have no
        timeout, so a hung server would block the pilot forever. pyOpenSSL cannot use Python
        socket timeouts (they make the socket non-blocking), so the kernel's are set instead."""

        def _initConnection(self, *args: Any, **kwargs: Any) -> Any:
            connection = super()._initConnection(*args, **kwargs)
            seconds = int(settings.timeout)
            limit = struct.pack("ll", seconds, int((settings.timeout - seconds) * 1e6))
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, limit)
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, limit)
            return connection

    key = rsa.generate_private_key(public_exponent=65537, key_size=_KEY_BITS)
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "proxy")]))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.DER)
    )
    pilot_proxy = pilot_proxy or default_proxy_path()
    ca_dir = settings.ca_dir or ca_dir or os.environ.get("X509_CERT_DIR") or "/etc/grid-security/certificates"
    client_options: dict[str, Any] = {"hostname": settings.server, "port": settings.port, "caCertDir": ca_dir}
    if settings.server_dn:
        client_options["serverDN"] = settings.server_dn
    client = TimedClient(**client_options)
    passphrase, cert_file, key_file = _authentication(settings, pilot_proxy)
    attempts = 0

    def logon() -> tuple[bytes, ...]:
        nonlocal attempts
        attempts += 1
        return _logon(client, settings, passphrase, request, cert_file=cert_file, key_file=key_file)

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(settings.max_attempts),
        wait=tenacity.wait_exponential(multiplier=settings.backoff_initial, max=settings.backoff_max)
        + tenacity.wait_random(0, 1),
        retry=tenacity.retry_if_exception(lambda e: isinstance(e, MoverError) and e.transient),
        sleep=sleep,
        before_sleep=lambda state: log.warning(
            "MyProxy logon at %s failed (attempt %d), retrying: %s",
            settings.address,
            state.attempt_number,
            state.outcome.exception() if state.outcome else "",
        ),
        reraise=True,
    )
    certificates = retrying(logon)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    if path is None:
        path = new_proxy_path(directory, pilot_proxy)
    write_proxy(path, certificates[0] + key_pem + b"".join(certificates[1:]))
    info = inspect_proxy(path)
    log.info(
        "retrieved a proxy of %s from MyProxy %s (%s, valid until %s UTC) into %s",
        info.identity,
        settings.address,
        info.kind,
        f"{info.not_after:%Y-%m-%d %H:%M:%S}",
        path,
    )
    return RetrievedProxy(path, info, attempts)


def new_proxy_path(directory: Path, pilot_proxy: str) -> Path:
    """A name for a new proxy file in ``directory``: nothing there yet, never the pilot's proxy.
    Nothing is written: the caller takes charge of removing it (and its ``.part``) first."""
    directory.mkdir(parents=True, exist_ok=True)
    pilot = os.path.realpath(pilot_proxy)
    for _ in range(10):
        path = directory / f"{PROXY_PREFIX}{secrets.token_hex(6)}.pem"
        if os.path.realpath(path) != pilot and not os.path.lexists(path) and not os.path.lexists(_part(path)):
            return path
    raise NoProxy(f"cannot find a new name for a proxy file in {directory}")  # pragma: no cover


def write_proxy(path: Path, pem: bytes) -> None:
    """Write ``pem`` (a certificate chain and its private key) so that no partial file ever has
    the final name: a new 0600 ``.part`` file, flushed, then linked to ``path`` (never replacing a
    file) and unlinked. Any failure leaves nothing; a full disk is NoSpace (1098 NOLOCALSPACE)."""
    part = _part(path)
    created = False
    try:
        descriptor = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        created = True
        try:
            view = memoryview(pem)
            while view:
                view = view[os.write(descriptor, view) :]
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.link(part, path)
    except OSError as exc:
        if created:
            _unlink(part)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise NoSpace(
                f"no space left to write the user's proxy in {path.parent}", phase=Phase.CREDENTIALS, errno=exc.errno
            ) from None
        raise NoProxy(
            f"cannot write the user's proxy to {path}: {exc.strerror}", phase=Phase.CREDENTIALS, errno=exc.errno
        ) from None
    _unlink(part)


def remove_proxy(path: Path) -> bool:
    """Remove a proxy file this library wrote, and its ``.part``; True if anything was there."""
    return any([_unlink(path), _unlink(_part(path))])


def _part(path: Path) -> Path:
    return path.with_name(path.name + ".part")


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def _allowed(server: str, options: MyProxyOptions) -> bool:
    """Whether a job may use MyProxy ``server`` (``host[:port]``) under ``options``."""
    host, _, port = server.strip().lower().partition(":")
    for entry in (*options.allowed_servers, *((options.server,) if options.server else ())):
        allowed_host, _, allowed_port = entry.strip().lower().partition(":")
        if entry.strip() == "*" or (allowed_host == host and allowed_port in ("", port or str(DEFAULT_PORT))):
            return True
    return False


def _authentication(settings: MyProxySettings, pilot_proxy: str) -> tuple[Optional[str], str, str]:
    """(passphrase, client cert, client key) for the chosen way of logging on."""
    if settings.retrieve_with == "passphrase":
        # No client certificate: MyProxyClient would otherwise present X509_USER_PROXY.
        return settings.read_passphrase(), "", ""
    if settings.retrieve_with == "pilot-proxy":
        info = inspect_proxy(pilot_proxy)  # a clear NoProxy now beats a TLS error later
        if info.time_left() <= 0:  # the server would refuse it with a bare TLS alert
            which = "" if info.expiring_subject == info.subject else f" (the certificate of {info.expiring_subject})"
            raise ProxyExpired(
                f"the pilot's own proxy {pilot_proxy} ({info.subject}){which} expired at "
                f"{info.not_after:%Y-%m-%d %H:%M:%S} UTC: MyProxy {settings.address} checks it before it hands "
                f"out {settings.username!r}'s proxy ([myproxy] retrieve_with = pilot-proxy). Renew the pilot's "
                "proxy (the pilot factory's renewal, voms-proxy-init) or point X509_USER_PROXY at a valid one; "
                "the user's credential in MyProxy is not at fault",
                phase=Phase.CREDENTIALS,
                endpoint=f"MyProxy server {settings.address}",
            )
        return None, pilot_proxy, pilot_proxy
    for path in (settings.host_cert, settings.host_key):
        if not os.access(path, os.R_OK):
            raise NoProxy(f"cannot read {path} to present the host certificate to MyProxy")
    return None, settings.host_cert, settings.host_key


def _logon(
    client: Any, settings: MyProxySettings, passphrase: Optional[str], request: bytes, *, cert_file: str, key_file: str
) -> tuple[bytes, ...]:
    from myproxy.client import MyProxyClientConfigError, MyProxyClientError
    from OpenSSL import SSL

    where = f"MyProxy server {settings.address}"
    try:
        certificates = client.logon(
            settings.username,
            passphrase,
            credname=settings.credname,
            lifetime=int(settings.lifetime_hours * 3600),
            certReq=request,
            sslCertFile=cert_file,
            sslKeyFile=key_file,
        )
    except MyProxyClientConfigError:
        raise NoProxy(
            f"{where}: the client certificate or key could not be loaded", phase=Phase.CREDENTIALS, endpoint=where
        ) from None
    except MyProxyClientError as exc:  # the server answered: a refusal, no retry helps
        reason = " / ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        raise NoProxy(
            f"{where} refused the logon for {settings.username!r}: {reason}", phase=Phase.CREDENTIALS, endpoint=where
        ) from None
    except (SSL.SysCallError, SSL.ZeroReturnError, socket.timeout, OSError) as exc:
        raise ServiceUnavailable(
            f"cannot reach {where}: {_describe(exc)}", phase=Phase.CREDENTIALS, endpoint=where
        ) from None
    except SSL.Error as exc:  # a handshake the server or we refused: wrong CA, wrong host name
        if any("certificate expired" in str(part) for entry in exc.args[0:1] for part in _flat(entry)):
            raise ProxyExpired(
                f"{where} refused the certificate presented ({cert_file or 'none'}) as expired: renew it "
                "(the pilot's proxy, or the host certificate, per [myproxy] retrieve_with)",
                phase=Phase.CREDENTIALS,
                endpoint=where,
            ) from None
        raise NoProxy(f"TLS with {where} failed: {_describe(exc)}", phase=Phase.CREDENTIALS, endpoint=where) from None
    if not certificates:
        raise NoProxy(f"{where} returned no certificate", phase=Phase.CREDENTIALS, endpoint=where)
    return tuple(bytes(c) if not isinstance(c, str) else c.encode() for c in certificates)


def _flat(entry: Any) -> list[Any]:
    """pyOpenSSL's error list ``[(library, function, reason), ...]`` as one flat list."""
    if isinstance(entry, (list, tuple)):
        return [part for item in entry for part in _flat(item)]
    return [entry]


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) < 300 else text[:300] + "..."
