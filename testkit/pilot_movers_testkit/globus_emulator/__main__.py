"""``python -m pilot_movers_testkit.globus_emulator``: run the emulator in the foreground for a rehearsal,
or write a ``globusconnectpersonal`` launcher for the stand-in into a directory.

Serving needs Flask (a requirement of pilot-movers-testkit); without it the command says so in one
sentence, and the rest (``--help``, ``install-gcp``) still works.

Client secrets and refresh tokens come from a config file (never from the command line, where
``ps`` would show them); the ones the emulator makes are written to a 0600 credentials file.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any, Optional

from pilot_movers_testkit.globus_emulator.gcp import write_launcher
from pilot_movers_testkit.globus_emulator.service import Emulator, Settings

DISTRIBUTION = "pilot-movers-testkit"

EXAMPLE_CONFIG = """{
  "access_token_lifetime": 3600,
  "clients": [{"client_id": "pilot", "client_secret": "..."}],
  "refresh_tokens": [{"client_id": "pilot", "username": "mxp", "refresh_token": "...", "rotate": false}],
  "endpoints": [{"name": "mxp#MXP_BNL_TEST", "directory": "/srv/globus/bnl"}, {"name": "SITE1", "directory": "/data"}]
}"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=_prog(),
        description="A local Globus Transfer and Auth API emulator for the unmodified globus-sdk "
        "(docs/globus-emulator.md).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"config file example:\n{EXAMPLE_CONFIG}",
    )
    commands = parser.add_subparsers(dest="command")
    serve = commands.add_parser("serve", help="run the emulator (the default)")
    _serve_options(serve)
    install = commands.add_parser(
        "install-gcp", help="write a globusconnectpersonal launcher for the stand-in into DIR"
    )
    install.add_argument("directory", type=Path)
    _serve_options(parser)
    return parser


def _prog() -> str:
    """The console command's name, or how ``python -m`` runs this module."""
    name = Path(sys.argv[0]).name
    return "python -m pilot_movers_testkit.globus_emulator" if name in ("__main__.py", "-c", "") else name


def _serve_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="address to listen on (default: loopback, 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument("--config", type=Path, help="JSON: clients, refresh_tokens, endpoints, settings")
    parser.add_argument(
        "--endpoint", action="append", default=[], metavar="NAME=DIR", help="a mapped endpoint (repeatable)"
    )
    parser.add_argument(
        "--client",
        action="append",
        default=[],
        metavar="CLIENT_ID",
        help="a confidential client; its secret is made (repeatable)",
    )
    parser.add_argument(
        "--refresh-token",
        action="append",
        default=[],
        metavar="CLIENT_ID:USERNAME",
        help="make a refresh token (repeatable)",
    )
    parser.add_argument("--access-token-lifetime", type=float, help="seconds (default 3600)")
    parser.add_argument(
        "--gcp-heartbeat-timeout", type=float, help="seconds without a heartbeat before a GCP is disconnected"
    )
    parser.add_argument("--credentials-out", type=Path, help="where to write made secrets and tokens (0600 JSON)")
    parser.add_argument("--ready-file", type=Path, help="write the root URL here once listening")
    parser.add_argument("--verbose", action="store_true", help="log every request")


def configure(emulator: Emulator, config: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """Register what the config file and the options ask for; return the credentials made."""
    made: dict[str, Any] = {"clients": [], "refresh_tokens": []}
    for key in ("access_token_lifetime", "gcp_heartbeat_timeout"):
        if config.get(key) is not None:
            setattr(emulator, key, float(config[key]))
    if args.access_token_lifetime is not None:
        emulator.access_token_lifetime = args.access_token_lifetime
    if args.gcp_heartbeat_timeout is not None:
        emulator.gcp_heartbeat_timeout = args.gcp_heartbeat_timeout
    for entry in config.get("clients", []):
        emulator.register_client(entry.get("client_id"), entry.get("client_secret"), native=bool(entry.get("native")))
    for client_id in args.client:
        client = emulator.register_client(client_id)
        made["clients"].append({"client_id": client.client_id, "client_secret": client.secret})
    for entry in config.get("refresh_tokens", []):
        emulator.register_refresh_token(
            entry["client_id"],
            entry.get("username", "mxp"),
            token=entry.get("refresh_token"),
            rotate=bool(entry.get("rotate")),
        )
    for spec in args.refresh_token:
        client_id, _, username = spec.partition(":")
        token = emulator.register_refresh_token(client_id, username or "mxp")
        made["refresh_tokens"].append({"client_id": client_id, "username": username or "mxp", "refresh_token": token})
    endpoints = [(e["name"], e["directory"], e.get("id"), e.get("owner")) for e in config.get("endpoints", [])]
    endpoints += [(*spec.split("=", 1), None, None) for spec in args.endpoint]
    for name, directory, endpoint_id, owner in endpoints:
        emulator.add_endpoint(name, Path(directory).expanduser(), endpoint_id=endpoint_id, owner=owner)
    return made


def _write_credentials(made: dict[str, Any], path: Optional[Path]) -> Optional[Path]:
    if not made["clients"] and not made["refresh_tokens"]:
        return None
    if path is None:
        path = Path(tempfile.mkdtemp(prefix="globus-emulator-")) / "credentials.json"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(made, handle, indent=2)
    return path


def _flask_requirement() -> str:
    """How pilot-movers-testkit requires Flask (``flask>=3``), as its metadata says."""
    try:
        requirements = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        requirements = []
    return next((r.split(";")[0].strip() for r in requirements if r.lower().startswith("flask")), "flask")


def serve(args: argparse.Namespace) -> int:
    try:
        from pilot_movers_testkit.globus_emulator.server import DEFAULT_HOST, EmulatorServer
    except ModuleNotFoundError as exc:  # installed without its requirements: Flask and its werkzeug
        print(
            f"{_prog()}: serving the emulator needs the Python module {exc.name!r}, which is not installed: "
            f"pip install '{_flask_requirement()}' (a requirement of {DISTRIBUTION})",
            file=sys.stderr,
        )
        return 2
    config: dict[str, Any] = json.loads(args.config.read_text()) if args.config else {}
    emulator = Emulator(Settings())
    try:
        made = configure(emulator, config, args)
    except (KeyError, ValueError, OSError) as error:
        print(f"globus emulator: bad configuration: {error}", file=sys.stderr)
        return 2
    server = EmulatorServer(emulator, args.host or DEFAULT_HOST, args.port, quiet=not args.verbose).bind()
    credentials = _write_credentials(made, args.credentials_out)
    print(f"Globus emulator listening on {server.url}")
    for name, value in server.sdk_env().items():
        print(f"export {name}={value}")
    for endpoint in emulator.endpoints.all():
        print(f"endpoint {endpoint.canonical_name} id {endpoint.id} -> {endpoint.root}")
    if credentials is not None:
        print(f"client secrets and refresh tokens made: {credentials}")
    sys.stdout.flush()
    if args.ready_file is not None:
        args.ready_file.write_text(server.url + "\n")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "install-gcp":
        launcher = write_launcher(args.directory)
        print(f"wrote {launcher}; put {args.directory} on PATH and export GLOBUS_EMULATOR_URL")
        return 0
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
