"""``datahost-server`` (also ``python -m datahost_server``): start, stop and administer an
instance.

    datahost-server serve --dir DIR --port PORT --ca-dir X509_CERT_DIR --host-cert C --host-key K \\
        [--admin USER]            # password from $DATAHOST_ADMIN_PASSWORD or --admin-password-file
    datahost-server stop --dir DIR
    datahost-server user --dir DIR NAME [--dn DN]... [--quota BYTES] [--group G]...
    datahost-server group --dir DIR NAME --quota BYTES
    datahost-server manage --dir DIR -- DJANGO-ADMIN ARGS...   # createsuperuser, clearsessions, ...

Errors are one line on stderr and exit status 1 (2 for usage).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Optional, Sequence

from datahost_server import __version__, server
from datahost_server.config import InstanceConfig


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="datahost-server", description="Run a DataHost (Django behind Apache).")
    parser.add_argument("--version", action="version", version=f"datahost-server {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="prepare the instance in DIR and start its Apache")
    serve.add_argument("--dir", required=True, type=Path, help="the instance's directory (created if missing)")
    serve.add_argument("--port", type=int, default=8443)
    serve.add_argument("--listen", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--server-name", default="localhost", help="the host name clients use (in the host cert)")
    serve.add_argument(
        "--ca-dir", type=Path, default=Path(os.environ.get("X509_CERT_DIR", "/etc/grid-security/certificates"))
    )
    serve.add_argument("--host-cert", type=Path, default=Path("/etc/grid-security/hostcert.pem"))
    serve.add_argument("--host-key", type=Path, default=Path("/etc/grid-security/hostkey.pem"))
    serve.add_argument("--user", default="www-data", help="account the application runs as when started as root")
    serve.add_argument(
        "--admin", help="create or update this superuser ($DATAHOST_ADMIN_PASSWORD or --admin-password-file)"
    )
    serve.add_argument("--admin-password-file", type=Path)
    serve.add_argument("--session-idle", type=int, help="seconds of inactivity that end a person's session")
    serve.add_argument("--default-quota", type=int, help="bytes per user when the account sets none")
    serve.add_argument("--allowed-host", action="append", help="host name clients may use (repeatable)")
    serve.add_argument(
        "--pull-allow-private", action="store_true", help="let upload-from-URL reach private addresses (tests)"
    )
    serve.add_argument(
        "--storage", type=Path, help="the storage directory (default DIR/storage; several hosts share one)"
    )
    serve.add_argument("--config-file", type=Path, help="JSON merged into the instance configuration (e.g. databases)")
    serve.add_argument("--threads", type=int, default=16, help="application threads (concurrent requests)")
    serve.add_argument("--no-crl-check", action="store_true", help="do not check the CA dir's CRLs")
    serve.add_argument("--foreground", action="store_true", help="run Apache in the foreground (systemd, containers)")

    stop = commands.add_parser("stop", help="stop the instance's Apache and wait until it is gone")
    stop.add_argument("--dir", required=True, type=Path)

    user = commands.add_parser("user", help="create or update a user ($DATAHOST_USER_PASSWORD or --password-file)")
    user.add_argument("--dir", required=True, type=Path)
    user.add_argument("--user", default="www-data", help=argparse.SUPPRESS)
    user.add_argument("name")
    user.add_argument("--password-file")
    user.add_argument("--dn", action="append", default=[])
    user.add_argument("--quota", type=int)
    user.add_argument("--group", action="append", default=[])
    user.add_argument("--staff", action="store_true")

    group = commands.add_parser("group", help="create a group and set its quota")
    group.add_argument("--dir", required=True, type=Path)
    group.add_argument("--user", default="www-data", help=argparse.SUPPRESS)
    group.add_argument("name")
    group.add_argument("--quota", type=int)

    manage = commands.add_parser("manage", help="run a Django management command for the instance")
    manage.add_argument("--dir", required=True, type=Path)
    manage.add_argument("--user", default="www-data", help=argparse.SUPPRESS)
    manage.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def _instance(data_dir: Path) -> InstanceConfig:
    path = data_dir.resolve() / "conf" / "datahost.json"
    if not path.exists():
        raise server.ServerError(f"{data_dir} is not a DataHost instance (no conf/datahost.json): run serve first")
    return InstanceConfig.load(str(path))


def _serve(args: argparse.Namespace) -> None:
    data_dir = args.dir.resolve()
    existing = data_dir / "conf" / "datahost.json"
    base = json.loads(existing.read_text()) if existing.exists() else {}
    base["data_dir"] = str(data_dir)
    if args.config_file is not None:
        base.update(json.loads(args.config_file.read_text()))
    if args.session_idle is not None:
        base["session_idle_seconds"] = args.session_idle
    if args.default_quota is not None:
        base["default_quota_bytes"] = args.default_quota
    if args.allowed_host:
        base["allowed_hosts"] = args.allowed_host
    else:
        base.setdefault("allowed_hosts", sorted({"localhost", "127.0.0.1", args.server_name}))
    if args.pull_allow_private:
        base["pull_allow_private"] = True
    if args.storage is not None:
        base["storage"] = str(args.storage.resolve())
    config = InstanceConfig.from_dict(base)
    for label, path in (("CA dir", args.ca_dir), ("host certificate", args.host_cert), ("host key", args.host_key)):
        if not path.exists():
            raise server.ServerError(f"the {label} {path} does not exist")
    run_as = server.RunAs.for_current_process(args.user)
    server.prepare(config, run_as)
    server.manage(config, run_as, ["migrate", "--noinput"])
    server.manage(config, run_as, ["collectstatic", "--noinput", "--clear"])
    if args.admin:
        password = _admin_password(args.admin_password_file)
        server.manage(
            config, run_as, ["datahost_user", args.admin, "--staff"], env={"DATAHOST_USER_PASSWORD": password}
        )
    site = server.site_for(
        config,
        run_as,
        port=args.port,
        listen=args.listen,
        server_name=args.server_name,
        ca_dir=args.ca_dir.resolve(),
        host_cert=args.host_cert.resolve(),
        host_key=args.host_key.resolve(),
        threads=args.threads,
        check_crls=not args.no_crl_check,
    )
    if args.foreground:
        site.config_file.write_text(server.render(site), encoding="utf-8")
        site.wsgi_script.write_text(server.wsgi_script(config.config_file), encoding="utf-8")
        os.execvp(server.APACHE, [server.APACHE, "-f", str(site.config_file), "-DFOREGROUND"])
    server.start(site, config, run_as)
    print(f"DataHost serving https://{args.server_name}:{args.port}/datahost/ (instance {data_dir})")


def _admin_password(path: Optional[Path]) -> str:
    if path is not None:
        return path.read_text(encoding="utf-8").splitlines()[0] if path.read_text(encoding="utf-8") else ""
    password = os.environ.get("DATAHOST_ADMIN_PASSWORD", "")
    if not password:
        raise server.ServerError("--admin needs a password: set DATAHOST_ADMIN_PASSWORD or give --admin-password-file")
    return password


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            _serve(args)
        elif args.command == "stop":
            server.stop(args.dir.resolve())
        elif args.command == "user":
            command = ["datahost_user", args.name]
            command += [item for dn in args.dn for item in ("--dn", dn)]
            command += [item for group in args.group for item in ("--group", group)]
            if args.quota is not None:
                command += ["--quota", str(args.quota)]
            if args.password_file:
                command += ["--password-file", str(Path(args.password_file).resolve())]
            if args.staff:
                command.append("--staff")
            env = {"DATAHOST_USER_PASSWORD": os.environ.get("DATAHOST_USER_PASSWORD", "")}
            print(
                server.manage(
                    _instance(args.dir), server.RunAs.for_current_process(args.user), command, env=env
                ).strip()
            )
        elif args.command == "group":
            command = ["datahost_group", args.name] + (["--quota", str(args.quota)] if args.quota is not None else [])
            print(server.manage(_instance(args.dir), server.RunAs.for_current_process(args.user), command).strip())
        elif args.command == "manage":
            rest = args.args[1:] if args.args[:1] == ["--"] else args.args
            if not rest:
                raise server.ServerError("manage needs a Django command, e.g. manage --dir DIR -- clearsessions")
            server.manage(_instance(args.dir), server.RunAs.for_current_process(args.user), rest, interactive=True)
    except (server.ServerError, OSError, ValueError) as exc:
        print(f"datahost-server: {exc}", file=sys.stderr)
        return 1
    return 0
