"""Benchmarks: every mover against the standard tools of its protocol, in the same run, on the
same files, on the local grid; ratios only (tool seconds / mover seconds: above 1 the mover is
faster), medians of ``--repeat`` runs with min and max.

    scripts/bench.sh                      # everything; writes docs/benchmarks.md
    scripts/bench.sh --quick              # a smaller set, to check the harness
    scripts/bench.sh --protocols gridftp --sizes 1GiB --repeat 7

For each protocol (local, gridftp, xrootd): 1000 x 100 KB in and out, 10 / 100 / 1000 files in,
one file of each ``--sizes`` in and out; against the per-file loop (how pilot 3 works), the best
one-session tool, and the raw transfer without verification; the mover's peak RSS; the cost of
verification; GridFTP control commands and XRootD requests per file, counted at the server or
by the client library. Run inside the private network namespace (scripts/bench.sh does).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from pilot_movers_testkit.grid import LocalGrid

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SIZES = {"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}
SMALL = 100_000
Commands = Callable[[], list[list[str]]]


# -- measuring -----------------------------------------------------------------------------


@dataclass
class Timing:
    runs: list[float] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    def span(self) -> str:
        return f"{self.median:.3f} ({min(self.runs):.3f}-{max(self.runs):.3f})"


class Failed(Exception):
    """A tool or the mover failed a run: the row says so, and the benchmark goes on."""


@dataclass
class Row:
    protocol: str
    case: str
    tool: str
    mover: Optional[Timing]
    other: Optional[Timing]
    files: int
    bytes: int
    failure: str = ""

    @property
    def ratio(self) -> Optional[float]:
        if self.mover is None or self.other is None:
            return None
        return self.other.median / self.mover.median

    def as_dict(self) -> dict[str, object]:
        return {
            "protocol": self.protocol,
            "case": self.case,
            "tool": self.tool,
            "mover_seconds": self.mover.runs if self.mover else None,
            "tool_seconds": self.other.runs if self.other else None,
            "ratio": round(self.ratio, 3) if self.ratio is not None else None,
            "files": self.files,
            "bytes": self.bytes,
            "mover_peak_rss_kib": max(self.mover.rss_kib) if self.mover and self.mover.rss_kib else None,
            "failure": self.failure or None,
        }


class Bench:
    def __init__(self, grid: LocalGrid, work: Path, repeat: int) -> None:
        self.grid = grid
        self.work = work
        self.repeat = repeat
        self.env = {**os.environ, **grid.client_env(), "GFAL_PYTHONBIN": "/usr/bin/python3"}
        self.rows: list[Row] = []
        self.done = 0
        self.requests: list[tuple[str, str, float, str, float]] = []

    # where files are, per protocol
    def base(self, protocol: str) -> Path:
        return {"gridftp": self.grid.gridftp_dir, "xrootd": self.grid.xrootd_dir, "local": self.work / "shared"}[
            protocol
        ] / "bench"

    def url(self, protocol: str, relative: str) -> str:
        if protocol == "gridftp":
            return self.grid.gridftp_url(f"bench/{relative}")
        if protocol == "xrootd":
            return self.grid.xrootd_url(f"bench/{relative}")
        return f"file://{self.base('local')}/{relative}"

    def own(self, protocol: str, path: Path) -> None:
        if protocol == "xrootd":
            for item in [path, *path.rglob("*")] if path.is_dir() else [path]:
                shutil.chown(item, "nobody", "nogroup")

    def fresh(self, protocol: str, *directories: Path) -> Callable[[], None]:
        def prepare() -> None:
            for directory in directories:
                shutil.rmtree(directory, ignore_errors=True)
                directory.mkdir(parents=True)
                self.own(protocol, directory)
            subprocess.run(["sync"], check=False)

        return prepare

    def mover(
        self,
        protocol: str,
        direction: str,
        pairs: list[tuple[str, str, str]],
        prepare: Callable[[], None],
        *,
        options: Optional[dict[str, object]] = None,
        settings: Optional[dict[str, object]] = None,
    ) -> Timing:
        timing = Timing()
        spec = self.work / "spec.json"
        spec.write_text(
            json.dumps(
                {
                    "mover": protocol,
                    "direction": direction,
                    "options": options or {},
                    "settings": settings or {},
                    "pairs": [{"name": n, "source": s, "target": t} for n, s, t in pairs],
                }
            )
        )
        for _ in range(self.repeat):
            prepare()
            done = subprocess.run(
                [sys.executable, str(HERE / "mover_once.py"), str(spec)],
                env=self.env,
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                raise Failed(f"the {protocol} mover failed: {_tail(done.stdout + done.stderr)}")
            answer = json.loads(done.stdout.strip().splitlines()[-1])
            timing.runs.append(answer["seconds"])
            timing.rss_kib.append(answer["rss_kib"])
        return timing

    def tool(
        self, commands: Callable[[], list[list[str]]], prepare: Callable[[], None], repeat: Optional[int] = None
    ) -> Timing:
        timing = Timing()
        for _ in range(repeat or self.repeat):
            prepare()
            argv_list = commands()
            started = time.perf_counter()
            for argv in argv_list:
                done = subprocess.run(
                    argv, check=False, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
                )
                if done.returncode != 0:
                    raise Failed(f"`{' '.join(argv[:6])}...` exited {done.returncode}: {_tail(done.stderr)}")
            timing.runs.append(time.perf_counter() - started)
        return timing

    def measure(self, what: Callable[[], Timing]) -> tuple[Optional[Timing], str]:
        """A timing, or None and why not (a failure becomes a row, it does not end the run)."""
        try:
            return what(), ""
        except Failed as failure:
            return None, str(failure)

    def add(self, row: Row) -> None:
        self.rows.append(row)
        self.done += 1
        if row.ratio is None:
            print(
                f"bench [{self.done}] {row.protocol:8} {row.case:20} vs {row.tool:44} FAILED: {row.failure}", flush=True
            )
            return
        assert row.mover is not None
        assert row.other is not None
        print(
            f"bench [{self.done}] {row.protocol:8} {row.case:20} vs {row.tool:44} "
            f"mover {row.mover.median:8.3f} s  tool {row.other.median:8.3f} s  ratio {row.ratio:6.2f}",
            flush=True,
        )


def _tail(text: str, limit: int = 300) -> str:
    """The end of a failure's output, on one line, printable (xrdcp's carries NUL bytes)."""
    printable = "".join(c if c.isprintable() else " " for c in text)
    return " ".join(printable.split())[-limit:]


# -- the cases -----------------------------------------------------------------------------


def write_random(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    block = os.urandom(min(size, 4 << 20) or 1)
    with open(path, "wb") as handle:
        left = size
        while left:
            n = min(left, len(block))
            handle.write(block[:n])
            left -= n


def small_files(bench: Bench, protocol: str, count: int, direction: str, tools: bool) -> None:
    name = f"small-{count}"
    local_src = bench.work / "data" / name
    if not local_src.exists():
        for index in range(count):
            write_random(local_src / f"f{index:04d}", SMALL)
    remote_dir = bench.base(protocol) / name
    if direction == "in" and not remote_dir.exists():
        shutil.copytree(local_src, remote_dir)
        bench.own(protocol, remote_dir)
    names = [f"f{index:04d}" for index in range(count)]
    local_dst = bench.work / "dst" / name
    up_dir = bench.base(protocol) / f"up-{name}"
    if direction == "in":
        pairs = [(n, bench.url(protocol, f"{name}/{n}"), f"file://{local_dst}/{n}") for n in names]
        prepare = bench.fresh(protocol, local_dst)
    else:
        pairs = [(n, f"file://{local_src}/{n}", bench.url(protocol, f"up-{name}/{n}")) for n in names]
        prepare = bench.fresh(protocol, up_dir)
    # As many files in flight as the one-session tools it is compared with: xrdcp --parallel 8,
    # globus-url-copy -cc 4 (the mover's default concurrency), cp (one at a time, but the mover's
    # engine overlaps its own bookkeeping).
    settings = {"concurrency": 8} if protocol == "xrootd" else None
    mover, failed = bench.measure(lambda: bench.mover(protocol, direction, pairs, prepare, settings=settings))
    case = f"{count} x 100 KB {direction}"
    for tool, commands, repeat in small_file_tools(
        bench, protocol, pairs, direction=direction, local_dst=local_dst, up_dir=up_dir, everything=tools
    ):
        other, tool_failed = bench.measure(lambda c=commands, r=repeat: bench.tool(c, prepare, r))
        bench.add(Row(protocol, case, tool, mover, other, count, count * SMALL, failed or tool_failed))


def small_file_tools(
    bench: Bench,
    protocol: str,
    pairs: list[tuple[str, str, str]],
    *,
    direction: str,
    local_dst: Path,
    up_dir: Path,
    everything: bool,
) -> list[tuple[str, Commands, Optional[int]]]:
    listing = bench.work / "list"
    sources = [s for _, s, _ in pairs]
    targets = [t for _, _, t in pairs]
    loop_repeat = 1 if len(pairs) >= 100 else None  # a per-file loop of 1000 takes minutes

    def lines(text: str) -> Path:
        listing.write_text(text)
        return listing

    if protocol == "local":
        src = [s[len("file://") :] for s in sources]
        dst_dir = local_dst if direction == "in" else up_dir
        out = [
            ("one cp -t", lambda: [["cp", "-t", str(dst_dir), *src]], None),
        ]
        if everything:
            out.insert(0, ("cp per file", lambda: [["cp", s, str(dst_dir)] for s in src], loop_repeat))
        return out
    if protocol == "gridftp":
        pairs_text = "".join(f"{s} {t}\n" for s, t in zip(sources, targets))
        sources_text = "".join(f"{s}\n" for s in sources)
        destination = f"file://{local_dst}/" if direction == "in" else bench.url("gridftp", up_dir.name) + "/"
        out = [
            (
                "globus-url-copy -pp -cc 4 -f (unverified)",
                lambda: [["globus-url-copy", "-pp", "-cc", "4", "-cd", "-f", str(lines(pairs_text))]],
                None,
            ),
        ]
        if everything:
            out.insert(
                0,
                (
                    "globus-url-copy per file (unverified)",
                    lambda: [["globus-url-copy", "-cd", s, t] for s, t in zip(sources, targets)],
                    loop_repeat,
                ),
            )
            out.append(
                (
                    "gfal-copy -K --from-file (verified)",
                    lambda: [
                        ["gfal-copy", "-p", "-K", "ADLER32", "--from-file", str(lines(sources_text)), destination]
                    ],
                    None,
                )
            )
        return out
    # xrootd
    dst_dir = str(local_dst) if direction == "in" else bench.url("xrootd", up_dir.name) + "/"
    list_text = "".join(f"{s}\n" for s in sources)
    out = [
        (
            "xrdcp --parallel 8 -I (unverified)",
            lambda: [["xrdcp", "-s", "--parallel", "8", "-I", str(lines(list_text)), dst_dir]],
            None,
        ),
    ]
    if everything:
        out.insert(
            0,
            (
                "xrdcp per file, -C adler32 (verified)",
                lambda: [["xrdcp", "-s", "-C", "adler32", s, t] for s, t in zip(sources, targets)],
                loop_repeat,
            ),
        )
        out.append(
            (
                "xrdcp --parallel 8 -C adler32 (verified)",
                lambda: [["xrdcp", "-s", "-C", "adler32", "--parallel", "8", "-I", str(lines(list_text)), dst_dir]],
                None,
            )
        )
    return out


NARROW_FILES = 300


def narrow_port_range(bench: Bench) -> None:
    """GridFTP behind a site firewall that opens 101 data ports: 300 x 100 KB downloaded. Each
    contender gets a server of its own on ports nobody used before (a data connection the server
    closed keeps its port in TIME_WAIT for a minute)."""
    case = f"{NARROW_FILES} x 100 KB in, 101 data ports"
    names = [f"f{index:04d}" for index in range(NARROW_FILES)]
    local_dst = bench.work / "dst" / "narrow"
    prepare = bench.fresh("gridftp", local_dst)
    ranges = iter(range(20000, 30000, 200))

    def with_server(measure: Callable[[LocalGrid, list[tuple[str, str, str]]], Timing]) -> Callable[[], Timing]:
        def run() -> Timing:
            first = next(ranges)
            root = bench.work / f"narrow-{first}"
            narrow = bench.grid.sibling(root, gridftp_port_range=(first, first + 100))
            for name in names:
                write_random(narrow.gridftp_dir / "narrow" / name, SMALL)
            narrow.start("gridftp")
            try:
                pairs = [(n, narrow.gridftp_url(f"narrow/{n}"), f"file://{local_dst}/{n}") for n in names]
                return measure(narrow, pairs)
            finally:
                narrow.stop()
                shutil.rmtree(root, ignore_errors=True)

        return run

    def listing(pairs: list[tuple[str, str, str]]) -> Path:
        path = bench.work / "narrow-list"
        path.write_text("".join(f"{s} {t}\n" for _, s, t in pairs))
        return path

    mover, failed = bench.measure(with_server(lambda _, pairs: bench.mover("gridftp", "in", pairs, prepare)))
    tools = [
        ("globus-url-copy -cc 4 -f (unverified)", ["-cc", "4"]),
        ("globus-url-copy -pp -cc 4 -f (unverified)", ["-pp", "-cc", "4"]),
    ]
    for tool, flags in tools:
        other, tool_failed = bench.measure(
            with_server(
                lambda _, pairs, f=flags: bench.tool(
                    lambda: [["globus-url-copy", *f, "-cd", "-f", str(listing(pairs))]], prepare
                )
            )
        )
        bench.add(Row("gridftp", case, tool, mover, other, NARROW_FILES, NARROW_FILES * SMALL, failed or tool_failed))


def large_file(bench: Bench, protocol: str, size: int, label: str, direction: str) -> None:
    name = f"large-{label}"
    local_src = bench.work / "data" / name
    if not local_src.exists():
        write_random(local_src, size)
    remote = bench.base(protocol) / name
    if direction == "in" and not remote.exists():
        remote.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(local_src, remote)
        bench.own(protocol, remote)
    local_dst = bench.work / "dst" / name
    up_dir = bench.base(protocol) / f"up-{name}"
    if direction == "in":
        source, target = bench.url(protocol, name), f"file://{local_dst}/{name}"
        prepare = bench.fresh(protocol, local_dst)
    else:
        source, target = f"file://{local_src}", bench.url(protocol, f"up-{name}/{name}")
        prepare = bench.fresh(protocol, up_dir)
    mover, failed = bench.measure(lambda: bench.mover(protocol, direction, [(name, source, target)], prepare))
    case = f"1 x {label} {direction}"
    for tool, argv in large_file_tools(protocol, source, target):
        other, tool_failed = bench.measure(lambda argv=argv: bench.tool(lambda: [argv], prepare))
        bench.add(Row(protocol, case, tool, mover, other, 1, size, failed or tool_failed))


def large_file_tools(protocol: str, source: str, target: str) -> list[tuple[str, list[str]]]:
    if protocol == "local":
        return [("cp", ["cp", source[len("file://") :], target[len("file://") :]])]
    if protocol == "gridftp":
        return [
            ("globus-url-copy (unverified)", ["globus-url-copy", "-cd", source, target]),
            (
                # it knows MD5 only: asked for ADLER32 it exits 1 (seen here with Debian 12's client)
                "globus-url-copy -verify-checksum MD5 (verified)",
                ["globus-url-copy", "-cd", "-verify-checksum", source, target],
            ),
            ("gfal-copy -K ADLER32 (verified)", ["gfal-copy", "-p", "-K", "ADLER32", source, target]),
        ]
    return [
        ("xrdcp (unverified)", ["xrdcp", "-s", source, target]),
        ("xrdcp -C adler32 (verified)", ["xrdcp", "-s", "-C", "adler32", source, target]),
    ]


def requests_per_file(bench: Bench, protocol: str, count: int = 100) -> None:
    """Requests each file costs the server: GridFTP control commands from the server's log (each
    a round trip unless pipelined), XRootD requests from the client library's own log; the mover
    against the best one-session tool, downloading ``count`` files."""
    name = f"small-{count}"
    local_src = bench.work / "data" / name
    if not local_src.exists():
        for index in range(count):
            write_random(local_src / f"f{index:04d}", SMALL)
    remote_dir = bench.base(protocol) / name
    if not remote_dir.exists():
        shutil.copytree(local_src, remote_dir)
        bench.own(protocol, remote_dir)
    names = [f"f{index:04d}" for index in range(count)]
    local_dst = bench.work / "dst" / name
    pairs = [(n, bench.url(protocol, f"{name}/{n}"), f"file://{local_dst}/{n}") for n in names]
    prepare = bench.fresh(protocol, local_dst)
    if protocol == "gridftp":
        log = bench.grid.logs / "gridftp.log"

        def count_requests(action: Callable[[], object]) -> int:
            before = log.read_text(errors="replace").count("[CLIENT]:")
            action()
            return log.read_text(errors="replace").count("[CLIENT]:") - before

        listing = bench.work / "list"
        listing.write_text("".join(f"{s} {t}\n" for _, s, t in pairs))
        tool = "globus-url-copy -pp -cc 4 -f"
        tool_argv = ["globus-url-copy", "-pp", "-cc", "4", "-cd", "-f", str(listing)]
        what = "control commands"
    elif protocol == "xrootd":
        client_log = bench.work / "xrd.log"

        def count_requests(action: Callable[[], object]) -> int:
            client_log.unlink(missing_ok=True)
            action()
            return client_log.read_text(errors="replace").count("MsgHandler created") if client_log.exists() else 0

        listing = bench.work / "list"
        listing.write_text("".join(f"{s}\n" for _, s, _ in pairs))
        tool = "xrdcp --parallel 8 -I"
        tool_argv = ["xrdcp", "-s", "--parallel", "8", "-I", str(listing), str(local_dst)]
        what = "requests"
        bench.env.update({"XRD_LOGLEVEL": "Debug", "XRD_LOGFILE": str(client_log)})
    else:
        return
    try:
        prepare()
        mover = count_requests(lambda: bench.mover(protocol, "in", pairs, prepare))
        prepare()
        other = count_requests(lambda: subprocess.run(tool_argv, env=bench.env, check=True, capture_output=True))
    except (Failed, subprocess.CalledProcessError) as failure:
        print(f"bench: {protocol} {what} per file: not counted, a run failed: {failure}", flush=True)
        return
    finally:
        bench.env.pop("XRD_LOGLEVEL", None)
        bench.env.pop("XRD_LOGFILE", None)
    bench.requests.append((protocol, "mover", mover / count / bench.repeat, what, 0))
    bench.requests.append((protocol, tool, other / count, what, 0))
    print(f"bench: {protocol} {what} per file: mover {mover / count / bench.repeat:.1f}, {tool} {other / count:.1f}")


# -- report ----------------------------------------------------------------------------------


def machine() -> str:
    cores = os.cpu_count()
    memory = ""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            total = int(handle.readline().split()[1])
        memory = f", {total / 1024 / 1024:.0f} GiB memory"
    except OSError:
        pass
    disk = shutil.disk_usage(ROOT)
    load = os.getloadavg()
    return (
        f"{platform.machine()}, {cores} cores{memory}, {platform.system()} {platform.release()}; "
        f"disk {disk.total / 1e9:.0f} GB ({disk.free / 1e9:.0f} GB free); load average at the start "
        f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}; Python {platform.python_version()}"
    )


def verification_costs(rows: list[Row]) -> list[str]:
    """What verification costs: for each case with an unverified raw tool, the mover's time and
    each verified tool's time over the unverified tool's (1.00 = free)."""
    lines: list[str] = []
    cases: dict[tuple[str, str], list[Row]] = {}
    for row in rows:
        cases.setdefault((row.protocol, row.case), []).append(row)
    for (protocol, case), group in cases.items():
        raw = next((r for r in group if "unverified" in r.tool and "per file" not in r.tool and r.other), None)
        if raw is None or raw.other is None:
            continue
        base = raw.other.median
        mover = f"{group[0].mover.median / base:.2f}" if group[0].mover else "failed"
        verified = [
            f"{r.tool}: {r.other.median / base:.2f}"
            for r in group
            if r.other and "(verified)" in r.tool and "per file" not in r.tool
        ]
        lines.append(f"| {protocol} | {case} | {raw.tool} | {mover} | {'; '.join(verified)} |")
    if not lines:
        return []
    return [
        "",
        "Verification cost: seconds over the unverified raw tool's in the same case (1.00 = free).",
        "The mover verifies every file; the verified tools are the same tools asked to verify.",
        "",
        "| protocol | case | unverified tool | mover | verified tools |",
        "|---|---|---|---|---|",
        *lines,
    ]


def markdown(bench: Bench, started: str, seconds: float, args: argparse.Namespace, about: str) -> str:
    out = [
        "# Benchmarks",
        "",
        f"Measured {started} by `scripts/bench.sh {' '.join(args.argv)}` in {seconds / 60:.0f} min, on: {about}.",
        "Every server runs on loopback on the same machine (the local grid of `testkit/pilot_movers_testkit`), so",
        "these are the client's costs, not a network's. Each figure is the median of "
        f"{args.repeat} runs (min-max beside it;",
        "per-file loops of 100 files or more: 1 run). **ratio** = tool seconds / mover seconds: above 1",
        "the mover is faster. The mover always verifies every file end to end (checksum and size) and",
        "places it atomically; tools marked *unverified* do neither. **RSS**: the mover's peak resident",
        "memory for the run (its own process).",
        "",
        "| protocol | case | against | mover s | tool s | ratio | mover rate | mover RSS |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in bench.rows:
        mover = row.mover.span() if row.mover else "failed"
        other = row.other.span() if row.other else "failed"
        if row.ratio is None:
            out.append(f"| {row.protocol} | {row.case} | {row.tool} | {mover} | {other} | - | {row.failure} | |")
            continue
        assert row.mover is not None
        rate = (
            f"{row.files / row.mover.median:.0f} files/s"
            if row.files > 1
            else f"{row.bytes / row.mover.median / 1e6:.0f} MB/s"
        )
        rss = f"{max(row.mover.rss_kib) / 1024:.0f} MB" if row.mover.rss_kib else ""
        out.append(
            f"| {row.protocol} | {row.case} | {row.tool} | {mover} | {other} | {row.ratio:.2f} | {rate} | {rss} |"
        )
    out += verification_costs(bench.rows)
    if bench.requests:
        out += [
            "",
            "Requests each downloaded file costs the server, 100 x 100 KB (GridFTP: control commands in the",
            "server's log, each a round trip unless pipelined; XRootD: requests the client library logs).",
            "On a wide-area link each round trip costs tens of milliseconds; loopback hides it.",
            "",
            "| protocol | client | per file |",
            "|---|---|---|",
        ]
        out += [f"| {p} | {who} | {n:.1f} {what} |" for p, who, n, what, _ in bench.requests]
    return "\n".join(out) + "\n"


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--protocols", default="local,gridftp,xrootd")
    parser.add_argument("--counts", default="10,100,1000", help="numbers of 100 KB files, downloaded")
    parser.add_argument("--sizes", default="1MiB,100MiB,1GiB,4GiB", help="single files, in and out")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="a small set: counts 10,100, sizes 1MiB,100MiB, 3 runs")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks-table.md"))
    parser.add_argument("--work", default=str(ROOT / "var" / "bench"))
    args = parser.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else argv
    if args.quick:
        args.counts, args.sizes, args.repeat = "10,100", "1MiB,100MiB", 3
    protocols = [p for p in args.protocols.split(",") if p]
    counts = [int(c) for c in args.counts.split(",") if c]
    sizes = []
    for text in args.sizes.split(","):
        number, unit = re.fullmatch(r"(\d+)(KiB|MiB|GiB)", text.strip()).groups()  # type: ignore[union-attr]
        sizes.append((text.strip(), int(number) * SIZES[unit]))
    work = Path(args.work).resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    about = machine()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    began = time.monotonic()
    with LocalGrid(work / "grid", gridftp_log_level="ALL") as grid:
        bench = Bench(grid, work, args.repeat)
        biggest = max(counts) if counts else 0
        for protocol in protocols:
            for count in counts:
                small_files(bench, protocol, count, "in", tools=count == biggest)
            if biggest:
                small_files(bench, protocol, biggest, "out", tools=True)
            for label, size in sizes:
                for direction in ("in", "out"):
                    large_file(bench, protocol, size, label, direction)
                    shutil.rmtree(work / "dst", ignore_errors=True)
            if protocol == "gridftp" and biggest:
                narrow_port_range(bench)
            requests_per_file(bench, protocol)
    text = markdown(bench, started, time.monotonic() - began, args, about)
    Path(args.out).write_text(text)
    (work / "results.json").write_text(json.dumps([r.as_dict() for r in bench.rows], indent=2))
    print(f"bench: table in {args.out}, raw figures in {work / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
