"""Each server a job would talk to: reachable over TCP, and for TLS services a handshake with the
job's proxy as client certificate, verified against the trust dir (as the movers verify it)."""

from __future__ import annotations

import socket
import ssl
from typing import Optional

from pilot_movers.doctor.findings import Finding, ok, problem
from pilot_movers.doctor.needs import Server

#: Services that speak TLS from the first byte (GridFTP and XRootD start in clear text).
TLS_SCHEMES = frozenset({"https", "davs", "datahost", "myproxy"})
#: Services whose check is a greeting line: GridFTP says ``220`` before anything else.
GREETINGS = {"gsiftp": b"220", "ftp": b"220"}


def check_server(server: Server, *, proxy: Optional[str], ca_dir: Optional[str], timeout: float) -> Finding:
    check = f"server {server.address}"
    if server.port is None:
        return problem(check, f"no port for {server.scheme}:// ({server.why})", "give the port in the URL")
    try:
        connection = socket.create_connection((server.host, server.port), timeout=timeout)
    except socket.gaierror as exc:
        return problem(
            check, f"the host name does not resolve ({exc.strerror}); used for {server.why}", "check the host name"
        )
    except OSError as exc:
        reason = "timed out" if isinstance(exc, socket.timeout) else (exc.strerror or str(exc))
        return problem(
            check,
            f"cannot connect ({reason}); used for {server.why}",
            "check the host, the port and the node's outbound firewall; a server down comes back by itself",
            transient=True,
        )
    with connection:
        if server.scheme in GREETINGS:
            return _greeting(check, connection, GREETINGS[server.scheme], server.why)
        if server.scheme in TLS_SCHEMES:
            return _handshake(check, connection, server, proxy=proxy, ca_dir=ca_dir)
    return ok(check, f"reachable (TCP); used for {server.why}")


def _greeting(check: str, connection: socket.socket, expected: bytes, why: str) -> Finding:
    try:
        line = connection.recv(512)
    except OSError as exc:
        return problem(check, f"connected but no greeting: {exc}", "look at the server's log", transient=True)
    if not line.startswith(expected):
        said = line[:80].decode("ascii", "replace").strip()
        return problem(
            check, f"connected but the server says {said!r}, not {expected.decode()}", "is this the right port?"
        )
    return ok(check, f"reachable, greets {line[:60].decode('ascii', 'replace').strip()!r}; used for {why}")


def _handshake(
    check: str, connection: socket.socket, server: Server, *, proxy: Optional[str], ca_dir: Optional[str]
) -> Finding:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = server.scheme != "myproxy"  # MyProxy names itself by DN (host/NAME)
    if ca_dir:
        try:
            context.load_verify_locations(capath=ca_dir)
        except (OSError, ssl.SSLError) as exc:
            return problem(check, f"cannot load the trust dir {ca_dir}: {exc}", "see the CA dir check")
    if proxy:
        try:
            context.load_cert_chain(proxy)
        except (OSError, ssl.SSLError) as exc:
            return problem(check, f"cannot present the proxy {proxy}: {exc}", "see the proxy check")
    try:
        with context.wrap_socket(connection, server_hostname=server.host) as tls:
            peer = tls.getpeercert() or {}
            version = tls.version()
    except ssl.SSLCertVerificationError as exc:
        return problem(
            check,
            f"TLS: the server's certificate is not trusted here: {exc.verify_message}",
            "install its CA in the trust dir (X509_CERT_DIR), or check the host name",
        )
    except (ssl.SSLError, OSError) as exc:
        return problem(
            check, f"TLS handshake failed: {exc}", "look at the server's log: it may refuse this proxy or its CA"
        )
    subject = ", ".join("=".join(pair) for rdn in peer.get("subject", ()) for pair in rdn)
    shown = " with the proxy" if proxy else " without a client certificate"
    return ok(check, f"TLS ({version}){shown}, server {subject or 'certificate verified'}; used for {server.why}")
