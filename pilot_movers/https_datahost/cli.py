"""The ``datahost`` command (and the 2010 clients' names, ``datahost-login`` ... ``datahost-ssl-get``).

    datahost login HOST[:PORT] USER      password: $DATAHOST_PASSWORD, --password-file, or a prompt
    datahost logout | whoami | ls [--json] | history [--json]
    datahost put FILE [--name NAME] [--overwrite]
    datahost get NAME [DEST] [--overwrite]
    datahost rm NAME...
    datahost pull URL [--name NAME] [--overwrite] [--wait]
    datahost ssl-put FILE | ssl-get NAME [DEST]       with a client certificate or proxy

Session commands use the session of the last ``login`` (``~/.datahost/sessions.json``), or the one
for ``--address``/``--user`` ($DATAHOST_ADDRESS, $DATAHOST_USER); with no session they fall back to a
client certificate if one is configured. Certificates: ``--cert``/``--key``, $DATAHOST_CERT,
$DATAHOST_KEY, else $X509_USER_PROXY, else /tmp/x509up_u<uid>. CA directory: ``--ca-dir``, else
$X509_CERT_DIR. $DATAHOST_NOPROXY (or ``--no-proxy``) bypasses HTTP proxies.

Exit status: 0 done, 1 failed (the message ends "a retry will not help"), 2 bad usage, 3 failed
but a retry may help (and says so), 130 interrupted. Errors are one line on stderr, never a
traceback. The 2010 clients' names are in original_cli.py.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, NoReturn, Optional, Sequence

from pilot_movers.errors import AuthenticationFailed, ConfigurationError, MoverError
from pilot_movers.version import __version__

PROG = "datahost"


class UsageError(Exception):
    """The command cannot run as given (exit status 2)."""


@dataclass
class Target:
    """Which DataHost, as whom, and how to authenticate."""

    address: str
    user: Optional[str]
    cookies: Optional[dict[str, str]] = None
    cert: Optional[str] = None
    key: Optional[str] = None


# -- argument parsing ------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors in one line (and status 2) like every other error."""

    def error(self, message: str) -> NoReturn:
        say(self.prog, f"{message} (see {self.prog} --help)")
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Use a DataHost: files over HTTPS for small VOs.")
    parser.add_argument("--version", action="version", version=f"{PROG} (pilot-movers {__version__})")
    parser.add_argument("--address", help="HOST[:PORT] of the DataHost ($DATAHOST_ADDRESS)")
    parser.add_argument("--user", help="your DataHost user name ($DATAHOST_USER)")
    parser.add_argument("--ca-dir", help="grid CA directory ($X509_CERT_DIR)")
    parser.add_argument("--cert", help="client certificate or proxy ($DATAHOST_CERT, $X509_USER_PROXY)")
    parser.add_argument("--key", help="its key ($DATAHOST_KEY; default: the certificate file)")
    parser.add_argument("--no-proxy", action="store_true", help="bypass HTTP proxies ($DATAHOST_NOPROXY)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    login = commands.add_parser("login", help="log in with a password and keep the session")
    login.add_argument("host", nargs="?", help="HOST[:PORT]")
    login.add_argument("login_user", nargs="?", metavar="user")
    login.add_argument("--password-file", help="file whose first line is the password")
    commands.add_parser("logout", help="end the session")
    commands.add_parser("whoami", help="who the DataHost takes you for")
    ls = commands.add_parser("ls", help="list your files, usage and quotas")
    ls.add_argument("--json", action="store_true")
    history = commands.add_parser("history", help="your recent transfers with their bandwidth")
    history.add_argument("--json", action="store_true")
    history.add_argument("--limit", type=int, default=30)
    rm = commands.add_parser("rm", help="delete files")
    rm.add_argument("names", nargs="+", metavar="NAME")
    for name, helptext in (("put", "upload a file"), ("ssl-put", "upload a file with a client certificate")):
        put = commands.add_parser(name, help=helptext)
        put.add_argument("file")
        put.add_argument("--name", help="name on the DataHost (default: the file's)")
        put.add_argument("--overwrite", action="store_true", help="replace a file of that name")
    for name, helptext in (("get", "download a file"), ("ssl-get", "download a file with a client certificate")):
        get = commands.add_parser(name, help=helptext)
        get.add_argument("name")
        get.add_argument("destination", nargs="?", default=".", help="file or directory (default: here)")
        get.add_argument("--overwrite", action="store_true", help="replace an existing local file")
    pull = commands.add_parser("pull", help="have the DataHost fetch a public http(s) URL")
    pull.add_argument("url")
    pull.add_argument("--name")
    pull.add_argument("--overwrite", action="store_true")
    pull.add_argument("--wait", action="store_true", help="wait until it is done")
    return parser


# -- where and as whom -----------------------------------------------------------------------


def normal_address(address: str) -> str:
    """``host`` -> ``host:443``; ``https://host:port/`` -> ``host:port``."""
    address = address.strip().removeprefix("https://").rstrip("/")
    if not address or "/" in address or "://" in address:
        raise UsageError(f"{address!r} is not HOST[:PORT]")
    port = address.rpartition(":")[2] if address.count(":") == 1 else ""
    if port and not port.isdigit():
        raise UsageError(f"{address!r} is not HOST[:PORT]")
    return address if port else f"{address}:443"


def _store() -> Any:
    from pilot_movers.https_datahost.session_store import SessionStore

    return SessionStore()


def _certificate(args: argparse.Namespace, *, required: bool) -> tuple[Optional[str], Optional[str]]:
    cert = args.cert or os.environ.get("DATAHOST_CERT") or os.environ.get("X509_USER_PROXY")
    if not cert:
        default = f"/tmp/x509up_u{os.getuid()}"
        cert = default if os.path.exists(default) else None
    if cert is None:
        if required:
            raise UsageError("no client certificate: give --cert or set DATAHOST_CERT or X509_USER_PROXY")
        return None, None
    if not os.path.exists(cert):
        raise ConfigurationError(f"the client certificate {cert} does not exist")
    key = args.key or os.environ.get("DATAHOST_KEY") or cert
    return cert, key


def _address(args: argparse.Namespace, fallback: Optional[str] = None) -> Optional[str]:
    chosen = args.address or os.environ.get("DATAHOST_ADDRESS") or fallback
    return normal_address(chosen) if chosen else None


def _user(args: argparse.Namespace) -> Optional[str]:
    return args.user or os.environ.get("DATAHOST_USER") or None


def session_target(args: argparse.Namespace) -> Target:
    """The saved session to use, else a client certificate, else a usage error."""
    address = _address(args)
    saved = _store().get(address, _user(args))
    if saved is not None:
        return Target(saved.address, saved.user, cookies=saved.cookies)
    cert, key = _certificate(args, required=False)
    current = _store().get()
    address = address or (current.address if current is not None else None)
    if cert is not None and address is not None:
        return Target(address, _user(args), cert=cert, key=key)
    where = f" to {address}" if address else ""
    who = f" as {_user(args)}" if _user(args) else ""
    raise UsageError(f"not logged in{where}{who}: run 'datahost login HOST USER' first (or give a certificate)")


def certificate_target(args: argparse.Namespace) -> Target:
    current = _store().get()
    address = _address(args, current.address if current is not None else None)
    if address is None:
        raise UsageError("no DataHost address: give --address HOST:PORT or set DATAHOST_ADDRESS")
    cert, key = _certificate(args, required=True)
    return Target(address, _user(args), cert=cert, key=key)


def _client(args: argparse.Namespace, target: Target) -> Any:
    try:
        from pilot_movers.https_datahost.client import DataHostClient
    except ImportError as exc:
        raise ConfigurationError(f"the datahost command needs {exc.name}: pip install 'pilot-movers[https]'") from None
    no_proxy = args.no_proxy or bool(os.environ.get("DATAHOST_NOPROXY"))
    return DataHostClient(
        target.address,
        ca_dir=args.ca_dir,
        cert=target.cert,
        key=target.key,
        cookies=target.cookies,
        use_env_proxies=not no_proxy,
    )


def _remember(target: Target, client: Any) -> None:
    """Keep the (refreshed) session cookies of a session command."""
    if target.cookies is not None and target.user is not None:
        from pilot_movers.https_datahost.session_store import SavedSession

        _store().save(SavedSession(target.address, target.user, client.cookies()), make_current=False)


# -- commands --------------------------------------------------------------------------------


def _password(args: argparse.Namespace) -> str:
    if getattr(args, "given_password", None):
        return str(args.given_password)
    if os.environ.get("DATAHOST_PASSWORD"):
        return os.environ["DATAHOST_PASSWORD"]
    if args.password_file:
        lines = Path(args.password_file).read_text(encoding="utf-8").splitlines()
        if not lines or not lines[0]:
            raise UsageError(f"the password file {args.password_file} is empty")
        return lines[0]
    if sys.stdin.isatty():
        return getpass.getpass(f"DataHost password for {args.login_user or _user(args)}: ")
    raise UsageError("no password: set DATAHOST_PASSWORD, give --password-file, or run in a terminal")


def cmd_login(args: argparse.Namespace) -> int:
    from pilot_movers.https_datahost.session_store import SavedSession

    address = normal_address(args.host) if args.host else _address(args)
    user = args.login_user or _user(args)
    if address is None or user is None:
        raise UsageError("usage: datahost login HOST[:PORT] USER")
    password = _password(args)
    target = Target(address, user)
    with _client(args, target) as client:
        client.login(user, password)
        _store().save(SavedSession(address, user, client.cookies()))
        idle = client.whoami().get("session_idle_seconds")
    ends = f"; the session ends after {int(idle) // 60} minutes without activity" if idle else ""
    print(f"logged in to {address} as {user}{ends}")
    return 0


def cmd_logout(args: argparse.Namespace) -> int:
    store = _store()
    saved = store.get(_address(args), _user(args))
    if saved is None:
        print("not logged in")
        return 0
    with _client(args, Target(saved.address, saved.user, cookies=saved.cookies)) as client:
        try:
            client.logout()
        except AuthenticationFailed:
            pass  # the session had already ended on the server
    store.remove(saved)
    print(f"logged out of {saved.address}")
    return 0


def cmd_whoami(args: argparse.Namespace) -> int:
    target = session_target(args)
    with _client(args, target) as client:
        answer = client.whoami()
        _remember(target, client)
    via = f"certificate {answer['dn']}" if answer.get("dn") else "password session"
    print(f"{answer['user']} at {target.address} ({via})")
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    target = session_target(args)
    with _client(args, target) as client:
        listing = client.listing()
        _remember(target, client)
    if args.json:
        print(
            json.dumps(
                {
                    "files": [f.__dict__ for f in listing.files],
                    "usage_bytes": listing.usage_bytes,
                    "quotas": listing.quotas,
                },
                indent=1,
            )
        )
        return 0
    for entry in listing.files:
        print(f"{entry.size:>14}  {(entry.modified or '')[:19]:19}  {entry.adler32 or '-':8}  {entry.name}")
    print(f"{len(listing.files)} file(s), {listing.usage_bytes} bytes")
    for quota in listing.quotas:
        print(f"quota {quota['scope']}: {quota['usage_bytes']} of {quota['quota_bytes']} bytes used")
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    target = session_target(args)
    with _client(args, target) as client:
        records = client.history(args.limit)
        _remember(target, client)
    if args.json:
        print(json.dumps([r.to_dict() for r in records], indent=1))
        return 0
    for r in records:
        speed = f"{r.mb_per_s:.1f} MB/s" if r.mb_per_s else "-"
        seconds = f"{r.seconds:.2f} s" if r.seconds is not None else "-"
        when = (r.created or "")[:19]
        print(f"{when}  {r.kind:8}  {r.state:7}  {r.bytes or 0:>12} B  {seconds:>9}  {speed:>12}  {r.name}")
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    target = session_target(args)
    with _client(args, target) as client:
        for name in args.names:
            client.rm(name)
            print(f"deleted {name}")
        _remember(target, client)
    return 0


def _put(args: argparse.Namespace, target: Target) -> int:
    from pilot_movers.https_datahost.progress import ProgressBar

    name = args.name or os.path.basename(args.file)
    with _client(args, target) as client, ProgressBar(name, enabled=None if not args.quiet else False) as bar:
        result = client.put(args.file, name, overwrite=args.overwrite, username=target.user, progress=bar.callback)
        _remember(target, client)
    print(
        f"uploaded {args.file} as {result.name}: {result.size} bytes, adler32 {result.adler32}, "
        f"{result.seconds:.2f} s ({result.mb_per_s:.1f} MB/s at the server)"
    )
    return 0


def _get(args: argparse.Namespace, target: Target) -> int:
    from pilot_movers.https_datahost.progress import ProgressBar

    with _client(args, target) as client, ProgressBar(args.name, enabled=None if not args.quiet else False) as bar:
        result = client.get(args.name, args.destination, overwrite=args.overwrite, progress=bar.callback)
        _remember(target, client)
    check = "verified" if result.verified else "not verified: the server had no checksum"
    print(
        f"downloaded {result.name} to {result.path}: {result.size} bytes, adler32 {result.adler32} ({check}), "
        f"{result.seconds:.2f} s, {result.mb_per_s:.1f} MB/s"
    )
    return 0


def cmd_put(args: argparse.Namespace) -> int:
    return _put(args, session_target(args))


def cmd_get(args: argparse.Namespace) -> int:
    return _get(args, session_target(args))


def cmd_ssl_put(args: argparse.Namespace) -> int:
    return _put(args, certificate_target(args))


def cmd_ssl_get(args: argparse.Namespace) -> int:
    return _get(args, certificate_target(args))


def cmd_pull(args: argparse.Namespace) -> int:
    target = session_target(args)
    with _client(args, target) as client:
        record = client.pull(args.url, args.name, overwrite=args.overwrite)
        print(f"pull {record.id}: fetching {args.url} into {record.name}")
        if args.wait:
            record = client.wait_for_pull(record.id)
        _remember(target, client)
    if not args.wait:
        return 0
    if record.state != "done":
        raise MoverError(f"the pull of {args.url} failed: {record.error}")
    speed = f", {record.mb_per_s:.1f} MB/s" if record.mb_per_s else ""
    print(f"pulled {args.url} into {record.name}: {record.bytes} bytes in {record.seconds or 0:.2f} s{speed}")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "login": cmd_login,
    "logout": cmd_logout,
    "whoami": cmd_whoami,
    "ls": cmd_ls,
    "history": cmd_history,
    "rm": cmd_rm,
    "put": cmd_put,
    "get": cmd_get,
    "ssl-put": cmd_ssl_put,
    "ssl-get": cmd_ssl_get,
    "pull": cmd_pull,
}


def main(argv: Optional[Sequence[str]] = None, prog: str = PROG, *, password: Optional[str] = None) -> int:
    """Run one command; ``password``: a login's password given another way than ``argv`` (the
    2010 ``datahost-login host user password``)."""
    args = build_parser().parse_args(argv)
    args.given_password = password
    try:
        return COMMANDS[args.command](args)
    except UsageError as exc:
        say(prog, str(exc))
        return 2
    except MoverError as exc:
        message = exc.message
        if getattr(exc, "http_status", None) == 401 and args.command not in ("login", "ssl-put", "ssl-get"):
            message = "your session has ended (or was never opened): log in again with 'datahost login HOST USER'"
        say(prog, f"{message.rstrip('.')} ({'a retry may help' if exc.transient else 'a retry will not help'})")
        return 3 if exc.transient else 1
    except KeyboardInterrupt:
        say(prog, "interrupted")
        return 130
    except ModuleNotFoundError as exc:  # a base install: the https extra is missing
        say(prog, f"it needs the Python module {exc.name!r}, which is not installed: pip install 'pilot-movers[https]'")
        return 2
    except OSError as exc:
        say(prog, f"{exc.filename + ': ' if exc.filename else ''}{exc.strerror or exc}")
        return 1


def say(prog: str, message: str) -> None:
    print(f"{prog}: {' '.join(message.split())}", file=sys.stderr)
