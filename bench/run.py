"""Benchmarks: each mover against the standard tool for its protocol, in the same run, on the same
local grid, as ratios (tool seconds / mover seconds: above 1 the mover is faster).

    scripts/bench.sh [--big-mib 1024] [--small 50] [--repeat 3]

Run inside the private network namespace (scripts/bench.sh does). Results go to stdout as a
table and to var/bench/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from pilot_movers.engine.settings import TransferSettings
from pilot_movers.registry import get_mover_class
from pilot_movers.testing.grid import LocalGrid
from pilot_movers.values import FileSpec, Location, Role


def timed(action: Callable[[], None], prepare: Callable[[], None], repeat: int) -> float:
    """Median wall time of ``action`` over ``repeat`` runs, ``prepare`` before each."""
    times = []
    for _ in range(repeat):
        prepare()
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run(command: list[str], env: dict[str, str]) -> None:
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def mover_copy(name: str, specs: list[FileSpec], download: bool) -> None:
    mover = get_mover_class(name)(TransferSettings())
    results = mover.stage_in(specs) if download else mover.stage_out(specs)
    failed = [r for r in results if not r.ok]
    if failed:
        raise RuntimeError(f"{name}: {failed[0].error}")


def fresh(*directories: Path) -> Callable[[], None]:
    def prepare() -> None:
        for directory in directories:
            shutil.rmtree(directory, ignore_errors=True)
            directory.mkdir(parents=True)
            if "xrootd" in str(directory):
                shutil.chown(directory, "nobody", "nogroup")

    return prepare


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--big-mib", type=int, default=1024, help="size of the big file in MiB")
    parser.add_argument("--small", type=int, default=50, help="how many 100 KB files")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--out", default="var/bench")
    args = parser.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, object]] = []

    with LocalGrid() as grid:
        env = {**os.environ, **grid.client_env(), "GFAL_PYTHONBIN": "/usr/bin/python3"}
        os.environ.update(grid.client_env())
        gsiftp, xroot = grid.servers["gridftp"].port, grid.servers["xrootd"].port
        local = out / "work"
        big = out / "big.bin"
        with open(big, "wb") as handle:
            for _ in range(args.big_mib):
                handle.write(os.urandom(1 << 20))
        size = big.stat().st_size
        small_dir = out / "small"
        shutil.rmtree(small_dir, ignore_errors=True)
        small_dir.mkdir()
        for i in range(args.small):
            (small_dir / f"f{i:03d}").write_bytes(os.urandom(100_000))
        names = [f"f{i:03d}" for i in range(args.small)]

        # Put the inputs on both servers.
        for base in (grid.gridftp_dir / "bench", grid.xrootd_dir / "bench"):
            base.mkdir(parents=True, exist_ok=True)
            shutil.copy(big, base / "big.bin")
            shutil.copytree(small_dir, base / "small", dirs_exist_ok=True)
            if base.is_relative_to(grid.xrootd_dir):
                for path in [base, *base.rglob("*")]:
                    shutil.chown(path, "nobody", "nogroup")
        urls = {
            "gridftp": lambda p: f"gsiftp://localhost:{gsiftp}{grid.gridftp_dir}/bench/{p}",
            "xrootd": lambda p: f"root://localhost:{xroot}/{grid.xrootd_dir}/bench/{p}",
        }
        up_dirs = {"gridftp": grid.gridftp_dir / "bench" / "up", "xrootd": grid.xrootd_dir / "bench" / "up"}

        def add(case: str, tool: str, tool_seconds: float, mover_seconds: float, unit: float, what: str) -> None:  # noqa: PLR0917
            rows.append(
                {
                    "case": case,
                    "tool": tool,
                    "tool_seconds": round(tool_seconds, 3),
                    "mover_seconds": round(mover_seconds, 3),
                    "ratio": round(tool_seconds / mover_seconds, 2),
                    "mover_rate": round(unit / mover_seconds, 1),
                    "rate_unit": what,
                }
            )
            print(
                f"{case:34} {tool:30} tool {tool_seconds:7.2f} s  mover {mover_seconds:7.2f} s  "
                f"ratio {tool_seconds / mover_seconds:5.2f}",
                flush=True,
            )

        mib = size / 1e6
        # -- one big file -------------------------------------------------------------------
        prepare = fresh(local)
        target = local / "big.bin"
        spec_local = [FileSpec("big.bin", Location.local(str(big)), Location.local(str(target)), Role.INPUT)]
        add(
            "local copy, 1 file",
            "cp",
            timed(lambda: run(["cp", str(big), str(target)], env), prepare, args.repeat),
            timed(lambda: mover_copy("local", spec_local, True), prepare, args.repeat),
            mib,
            "MB/s",
        )
        for name, tools in (
            (
                "gridftp",
                [["globus-url-copy", "{src}", "file://{dst}"], ["gfal-copy", "-K", "ADLER32", "{src}", "file://{dst}"]],
            ),
            ("xrootd", [["xrdcp", "-s", "-C", "adler32", "{src}", "{dst}"]]),
        ):
            source = urls[name]("big.bin")
            spec = [FileSpec("big.bin", Location.parse(source), Location.local(str(target)), Role.INPUT)]
            mover_time = timed(lambda spec=spec, name=name: mover_copy(name, spec, True), prepare, args.repeat)
            for tool in tools:
                command = [part.format(src=source, dst=target) for part in tool]
                add(
                    f"{name} download, 1 file",
                    " ".join(tool[:1] + tool[1:-2]),
                    timed(lambda command=command: run(command, env), prepare, args.repeat),
                    mover_time,
                    mib,
                    "MB/s",
                )
            destination = up_dirs[name]
            prepare_up = fresh(destination)
            up_url = urls[name]("up/big.bin")
            spec_up = [FileSpec("big.bin", Location.local(str(big)), Location.parse(up_url), Role.OUTPUT)]
            mover_up = timed(
                lambda spec_up=spec_up, name=name: mover_copy(name, spec_up, False), prepare_up, args.repeat
            )
            upload = (
                ["globus-url-copy", f"file://{big}", up_url]
                if name == "gridftp"
                else ["xrdcp", "-s", "-C", "adler32", str(big), up_url]
            )
            add(
                f"{name} upload, 1 file",
                upload[0],
                timed(lambda upload=upload: run(upload, env), prepare_up, args.repeat),
                mover_up,
                mib,
                "MB/s",
            )

        # -- many small files ---------------------------------------------------------------
        for name, per_file, batch in (
            ("gridftp", ["globus-url-copy", "{src}", "file://{dst}"], None),
            ("xrootd", ["xrdcp", "-s", "{src}", "{dst}"], ["xrdcp", "-s", "--parallel", "8"]),
        ):
            specs = [
                FileSpec(n, Location.parse(urls[name](f"small/{n}")), Location.local(str(local / n)), Role.INPUT)
                for n in names
            ]
            mover_time = timed(lambda specs=specs, name=name: mover_copy(name, specs, True), prepare, args.repeat)

            def loop(per_file: list[str] = per_file, name: str = name) -> None:
                for n in names:
                    run([p.format(src=urls[name](f"small/{n}"), dst=local / n) for p in per_file], env)

            add(
                f"{name} download, {len(names)} x 100 KB",
                f"{per_file[0]} per file",
                timed(loop, prepare, 1),
                mover_time,
                len(names),
                "files/s",
            )
            if batch is not None:
                command = batch + [urls[name](f"small/{n}") for n in names] + [str(local) + "/"]
                add(
                    f"{name} download, {len(names)} x 100 KB",
                    " ".join(batch),
                    timed(lambda command=command: run(command, env), prepare, args.repeat),
                    mover_time,
                    len(names),
                    "files/s",
                )
            else:
                listing = out / "gridftp-list.txt"
                listing.write_text("".join(f"{urls[name](f'small/{n}')} file://{local / n}\n" for n in names))
                command = ["globus-url-copy", "-cd", "-f", str(listing)]
                add(
                    f"{name} download, {len(names)} x 100 KB",
                    "globus-url-copy -f (one session)",
                    timed(lambda command=command: run(command, env), prepare, args.repeat),
                    mover_time,
                    len(names),
                    "files/s",
                )
                sources = out / "gfal-sources.txt"
                sources.write_text("".join(f"{urls[name](f'small/{n}')}\n" for n in names))
                command = ["gfal-copy", "-K", "ADLER32", "--from-file", str(sources), f"file://{local}/"]
                add(
                    f"{name} download, {len(names)} x 100 KB",
                    "gfal-copy -K --from-file (bulk)",
                    timed(lambda command=command: run(command, env), prepare, args.repeat),
                    mover_time,
                    len(names),
                    "files/s",
                )

    (out / "results.json").write_text(json.dumps(rows, indent=2))
    print(f"\n{'case':34} {'tool':34} {'ratio':>6}  mover")
    for row in rows:
        print(f"{row['case']:34} {row['tool']:34} {row['ratio']:6.2f}  {row['mover_rate']} {row['rate_unit']}")
    print(f"\nresults: {out / 'results.json'} (ratio = tool seconds / mover seconds; above 1 the mover is faster)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
