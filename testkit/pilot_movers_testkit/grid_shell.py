"""``pilot-movers-grid``: the local grid kept up, to try the commands by hand.

Starts the grid the demo and the tests use (a throwaway CA, GridFTP, XRootD with root:// and
https://, MyProxy on loopback), stores the user ``mxp``'s credential in MyProxy (passphrase in
``MYPROXY_PASSPHRASE``), puts two input files and a payload on the GridFTP server, writes a queue
config, prints the environment that reaches all of it, and then runs COMMAND in that
environment, or an interactive shell when none is given. The grid stops when the command or the
shell ends. ``scripts/local-grid.sh`` runs it in the private loopback-only network namespace the
servers need, so COMMAND (or the shell) must run in there too.

    scripts/local-grid.sh                       # a shell: try doctor, run --dry-run, cp, ...
    scripts/local-grid.sh pilot-movers doctor --queue-config '$PILOT_MOVERS_QUEUE'
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from pilot_movers_testkit.grid import GridError, LocalGrid

USER = "mxp"
PASSPHRASE = "local-grid-passphrase"
PAYLOAD = "#!/bin/sh\nset -e\ncat events-1.dat events-2.dat | wc -c > summary.txt\n"


def environment(grid: LocalGrid, base: Path) -> dict[str, str]:
    """What a shell on this grid needs: credentials, the servers' URLs, a queue config, a job."""
    inputs = grid.gridftp_url(f"user.{USER}/input/")
    outputs = grid.xrootd_url(f"user.{USER}/output/")
    return {
        **grid.client_env(),  # the user's proxy: every server of the grid accepts it
        "MYPROXY_SERVER": f"localhost:{grid.myproxy_port}",
        "MYPROXY_PASSPHRASE": PASSPHRASE,
        # directory URLs without the last slash: "$GRIDFTP/user.mxp/input/" reads as written
        "GRIDFTP": grid.gridftp_url("").rstrip("/"),
        "XROOTD": grid.xrootd_url("").rstrip("/"),
        "XROOTD_HTTPS": grid.https_url("").rstrip("/"),
        "PILOT_MOVERS_QUEUE": str(base / "queue.json"),
        "JOB_PARAMS": (
            f"globus-user={USER} dir-in={inputs} files-in=events-1.dat,events-2.dat,run.sh "
            f"dir-out={outputs} files-out=summary.txt"
        ),
    }


def prepare(grid: LocalGrid, base: Path) -> None:
    """The user's credential in MyProxy, the job's inputs on GridFTP, the queue config."""
    grid.store_credential(USER, PASSPHRASE)
    inputs = grid.gridftp_dir / f"user.{USER}" / "input"
    inputs.mkdir(parents=True, exist_ok=True)
    for index, size in ((1, 5_000_000), (2, 2_000_000)):
        (inputs / f"events-{index}.dat").write_bytes(os.urandom(size))
    (inputs / "run.sh").write_text(PAYLOAD)
    (base / "queue.json").write_text(
        json.dumps(
            {
                "copytoolin": "gridftp",
                "copytool": "xrootd",
                "se": grid.gridftp_url(""),
                "myproxy": {
                    "server": "localhost",
                    "port": grid.myproxy_port,
                    "username": USER,
                    "passphrase_env": "MYPROXY_PASSPHRASE",
                },
                "credentials": {"min_lifetime": 600},
            },
            indent=2,
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="pilot-movers-grid",
        description="Start the local grid, print its environment, run COMMAND (default: a shell) in it, stop it.",
    )
    parser.add_argument(
        "--dir",
        default="var/grid",
        help="where the grid and its queue config live (emptied first; XRootD runs as nobody and must reach it)",
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND", help="run this instead of a shell")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    base = Path(args.dir).resolve()
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    try:
        return _keep_up(base, command)
    except GridError as exc:
        print(f"pilot-movers-grid: cannot start the local grid: {exc}", file=sys.stderr)
        return 1


def _keep_up(base: Path, command: list[str]) -> int:
    with LocalGrid(base / "grid") as grid:
        prepare(grid, base)
        env = environment(grid, base)
        lines = [f"export {name}={shlex.quote(value)}" for name, value in env.items()]
        (base / "env.sh").write_text("\n".join(lines) + "\n")
        print("pilot-movers-grid: the local grid is up; its environment (also in " + str(base / "env.sh") + "):")
        print("\n".join(lines), flush=True)
        if not command:
            print(
                "pilot-movers-grid: try  pilot-movers doctor --queue-config $PILOT_MOVERS_QUEUE --job-params "
                '"$JOB_PARAMS"  or  pilot-movers cp "$GRIDFTP/user.mxp/input/events-1.dat" /tmp/ ; exit stops '
                "the grid",
                flush=True,
            )
            command = [os.environ.get("SHELL") or "/bin/bash", "-i"]
        try:
            return subprocess.call(command, env={**os.environ, **env})
        except FileNotFoundError:
            print(f"pilot-movers-grid: {command[0]}: no such program", file=sys.stderr)
            return 127
        except KeyboardInterrupt:
            return 130


if __name__ == "__main__":
    sys.exit(main())
