"""Side by side: PanDA Pilot 3's own copytools and the movers, on the same files of the local grid,
in the same run, each file checked against the same expected (catalogue) checksum.

    scripts/bench-pilot3.sh [--small 1000] [--big-mib 1024] [--repeat 3] [--wrong 10]

Pilot 3's ``xrdcp`` and ``gfal`` copytool modules (from the installed ``panda-pilot``) are called
directly, as its StageInClient calls them: on its own FileSpecs, ``turl`` set, a catalogue checksum
(``ad:...``) on each, a trace-report stand-in. The movers are called the same way, through their
Pilot 3 copytool face (``pilot_movers.integrations.pilot3``), one registration per mover. When a
Pilot 3 copytool raises for a file (it stops at the first failure), the files it did not move are
given to it again, as a pilot's fallback would; the reruns are counted.

After each run every landed file is checksummed here and compared with the catalogue value
(``landed ok``). ``wrong caught``: of ``--wrong`` files catalogued with a wrong checksum, how many
each tool refused. Results go to stdout and var/bench/pilot3_side_by_side.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from pilot_movers_testkit.grid import LocalGrid

from pilot_movers.checksums import Checksum, file_checksum

os.environ.setdefault("PILOT_USE_RUCIO_TRACES", "False")  # Pilot 3 would POST traces to CERN


class TraceStandIn(dict):  # type: ignore[type-arg]
    """What Pilot 3's copytools need of a trace report: update, get_value, send."""

    def get_value(self, key: str) -> Any:
        return self.get(key)

    def send(self) -> bool:
        return True


@dataclass
class Entry:
    """One file on a server, with its catalogue checksum."""

    name: str
    url: str
    size: int
    checksum: Checksum


@dataclass
class Outcome:
    seconds: float
    reruns: int
    landed_ok: int
    refused: int
    reasons: Counter[str]


def pilot_filespecs(entries: list[Entry]) -> list[Any]:
    from pilot.info import FileSpec

    specs = []
    for number, entry in enumerate(entries):
        spec = FileSpec(
            filetype="input",
            lfn=entry.name,
            scope="bench",
            guid=f"00000000-0000-0000-0000-{number:012d}",
            filesize=entry.size,
            checksum=f"ad:{entry.checksum.value}",
            ddmendpoint="LOCAL_DATADISK",
            dataset="bench",
        )
        spec.turl = entry.url
        specs.append(spec)
    return specs


def run_copytool(
    module: Any, entries: list[Entry], workdir: Path, max_reruns: int, reasons: Optional[Counter[str]] = None
) -> tuple[int, int]:
    """Call a copytool module's ``copy_in`` until every file moved (or was refused
    ``max_reruns`` times). Returns (reruns, files refused in the end); counts each failure's
    last line in ``reasons``."""
    from pilot.common.exception import PilotException

    files = pilot_filespecs(entries)
    reruns = 0
    tries: dict[str, int] = {}
    pending = files
    while pending:
        try:
            module.copy_in(pending, workdir=str(workdir), trace_report=TraceStandIn())
        except PilotException as exc:
            reruns += 1
            if reasons is not None:
                reasons[(str(exc).strip().splitlines() or ["?"])[-1][-120:]] += 1
            if all(spec.status is None for spec in pending):  # refused the call itself
                for spec in pending:
                    spec.status = "failed"
        for spec in pending:
            if spec.status != "transferred" and spec.status is not None:
                tries[spec.lfn] = tries.get(spec.lfn, 0) + 1
        pending = [f for f in files if f.status != "transferred" and tries.get(f.lfn, 0) < max_reruns]
        for spec in pending:
            spec.status = None
    return reruns, sum(1 for f in files if f.status != "transferred")


def landed_ok(entries: list[Entry], workdir: Path) -> int:
    return sum(
        1
        for entry in entries
        if (workdir / entry.name).is_file() and file_checksum(workdir / entry.name) == entry.checksum
    )


def fresh(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)


def measure(module: Any, entries: list[Entry], workdir: Path, repeat: int, max_reruns: int) -> Outcome:
    times, reruns, refused, reasons = [], 0, 0, Counter[str]()
    for _ in range(repeat):
        fresh(workdir)
        started = time.perf_counter()
        reruns, refused = run_copytool(module, entries, workdir, max_reruns, reasons)
        times.append(time.perf_counter() - started)
    return Outcome(statistics.median(times), reruns, landed_ok(entries, workdir), refused, reasons)


def put_files(grid: LocalGrid, names_sizes: list[tuple[str, int]], seed: int) -> dict[str, dict[str, Entry]]:
    """The same files on both servers; their catalogue checksums."""
    rng = random.Random(seed)
    entries: dict[str, dict[str, Entry]] = {"xrootd": {}, "gridftp": {}}
    bases = {"xrootd": grid.xrootd_dir / "pilot3-bench", "gridftp": grid.gridftp_dir / "pilot3-bench"}
    for base in bases.values():
        base.mkdir(parents=True, exist_ok=True)
    for name, size in names_sizes:
        path = bases["gridftp"] / name
        adler = 1
        with open(path, "wb") as handle:
            left = size
            while left:
                block = rng.randbytes(min(left, 1 << 20))
                adler = zlib.adler32(block, adler)
                handle.write(block)
                left -= len(block)
        checksum = Checksum.adler32_of_int(adler)
        shutil.copy(path, bases["xrootd"] / name)
        entries["gridftp"][name] = Entry(name, grid.gridftp_url(f"pilot3-bench/{name}"), size, checksum)
        entries["xrootd"][name] = Entry(name, grid.xrootd_url(f"pilot3-bench/{name}"), size, checksum)
    for path in [bases["xrootd"], *bases["xrootd"].iterdir()]:
        shutil.chown(path, "nobody", "nogroup")
    return entries


def machine() -> dict[str, str]:
    def first_line(command: list[str]) -> str:
        try:
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            return (done.stdout or done.stderr).strip().splitlines()[0]
        except (OSError, IndexError):
            return "?"

    cpu = "?"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    from importlib import metadata

    return {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "cpu": f"{cpu}, {os.cpu_count()} cores",
        "kernel": platform.release(),
        "python": platform.python_version(),
        "panda-pilot": metadata.version("panda-pilot"),
        "xrdcp": first_line(["xrdcp", "--version"]),
        "gfal-copy": first_line(["gfal-copy", "--version"]),
        "xrootd (python)": metadata.version("xrootd"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=1000, help="how many 100 KB files")
    parser.add_argument("--big-mib", type=int, default=1024, help="size of the big file in MiB")
    parser.add_argument("--repeat", type=int, default=3, help="runs of the big file per tool (median)")
    parser.add_argument("--wrong", type=int, default=10, help="files catalogued with a wrong checksum")
    parser.add_argument("--max-reruns", type=int, default=3, help="times a refused file is given again")
    parser.add_argument("--out", default="var/bench")
    args = parser.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    # Both sides log every failed file (the wrong-checksum round fails on purpose): to a file.
    logging.basicConfig(filename=out / "pilot3_side_by_side.log", level=logging.INFO, force=True)
    os.environ["GFAL_PYTHONBIN"] = "/usr/bin/python3"  # gfal-copy needs the interpreter gfal2 is built for

    from pilot.copytool import gfal, xrdcp

    from pilot_movers.integrations import pilot3

    facts = machine()
    for key, value in facts.items():
        print(f"{key:16} {value}")
    rows: list[dict[str, Any]] = []
    with LocalGrid() as grid:
        os.environ.update(grid.client_env())
        small = [(f"s{i:04d}.root", 100_000) for i in range(args.small)]
        big = [("big.root", args.big_mib << 20)]
        wrong = [(f"w{i:03d}.root", 100_000) for i in range(args.wrong)]
        files = put_files(grid, small + big + wrong, seed=11)
        tools: list[tuple[str, str, Any]] = [
            ("xrootd", "Pilot 3 xrdcp copytool", xrdcp),
            ("xrootd", "pilot-movers xrootd", pilot3.register("bench_xrootd", movers=["xrootd"])),
            ("gridftp", "Pilot 3 gfal copytool", gfal),
            ("gridftp", "pilot-movers gridftp", pilot3.register("bench_gridftp", movers=["gridftp"])),
        ]
        workdir = out / "pilot3-work"
        cases: list[tuple[str, list[tuple[str, int]], int, Callable[[float], str]]] = [
            (f"{args.small} x 100 KB in", small, 1, lambda s: f"{args.small / s:.1f} files/s"),
            (f"1 x {args.big_mib} MiB in", big, args.repeat, lambda s: f"{(args.big_mib << 20) / 1e6 / s:.0f} MB/s"),
        ]
        for case, chosen, repeat, rate in cases:
            for protocol, tool, module in tools:
                entries = [files[protocol][name] for name, _ in chosen]
                outcome = measure(module, entries, workdir, repeat, args.max_reruns)
                row = {
                    "case": case,
                    "protocol": protocol,
                    "tool": tool,
                    "seconds": round(outcome.seconds, 3),
                    "rate": rate(outcome.seconds),
                    "reruns": outcome.reruns,
                    "landed_ok": f"{outcome.landed_ok}/{len(entries)}",
                    "runs": repeat,
                    "rerun_reasons": dict(outcome.reasons.most_common(5)),
                }
                rows.append(row)
                print(
                    f"{case:22} {tool:26} {outcome.seconds:9.2f} s  {row['rate']:>14}  "
                    f"reruns {outcome.reruns:3}  landed ok {row['landed_ok']}",
                    flush=True,
                )
        for protocol, tool, module in tools:
            entries = []
            for name, _ in wrong:
                good = files[protocol][name]
                bad = Checksum.adler32_of_int(int(good.checksum.value, 16) ^ 0x5A5A5A5A)
                entries.append(Entry(name, good.url, good.size, bad))
            refused = 0
            for entry in entries:  # one call per file: a copytool stops at its first failure
                fresh(workdir)
                _, count = run_copytool(module, [entry], workdir, 1)
                refused += count
            rows.append(
                {
                    "case": "wrong catalogue checksum",
                    "protocol": protocol,
                    "tool": tool,
                    "caught": f"{refused}/{len(entries)}",
                }
            )
            print(f"{'wrong checksum':22} {tool:26} caught {refused}/{len(entries)}", flush=True)
    result = {"machine": facts, "rows": rows}
    (out / "pilot3_side_by_side.json").write_text(json.dumps(result, indent=2))
    print(f"\nresults: {out / 'pilot3_side_by_side.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
