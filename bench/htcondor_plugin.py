"""The HTCondor plugin's figures (docs/htcondor.md): 100 files of 100 KB and one 1 GiB file
downloaded through ``pilot-movers-condor-plugin`` in one call, as HTCondor's starter calls it,
against ``curl_plugin``'s way over HTTPS (one ``curl`` per file, one after the other, with the
proxy as client certificate), on the local grid's XRootD HTTPS port; and the plugin alone on
GridFTP and root://. Medians of ``--repeat`` runs; every copy is checked byte for byte.

    scripts/in-private-network.sh .venv/bin/python bench/htcondor_plugin.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from pilot_movers_testkit.grid import LocalGrid

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.htcondor.starter import Call  # noqa: E402

SMALL, COUNT, LARGE = 100_000, 100, 1 << 30


def write_random(path: Path, size: int) -> None:
    with open(path, "wb") as handle:
        left = size
        while left:
            chunk = os.urandom(min(left, 8 << 20))
            handle.write(chunk)
            left -= len(chunk)


def fresh(directory: Path) -> Path:
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    return directory


def plugin(grid: LocalGrid, urls: list[str], sandbox: Path) -> float:
    env = {**os.environ, **grid.client_env()}
    call = Call(fresh(sandbox), [(url, str(sandbox / url.rsplit("/", 1)[1])) for url in urls], env=env)
    started = time.monotonic()
    status, results, stderr = call.run(timeout=1800)
    seconds = time.monotonic() - started
    failed = [ad for ad in results if not ad.get("TransferSuccess")]
    if status != 0 or failed or len(results) != len(urls):
        raise SystemExit(f"plugin failed ({status}): {stderr[-500:]} {failed[:1]}")
    return seconds


def curl_each(grid: LocalGrid, urls: list[str], sandbox: Path) -> float:
    fresh(sandbox)
    proxy = str(grid.user_proxy)
    started = time.monotonic()
    for url in urls:
        target = sandbox / url.rsplit("/", 1)[1]
        subprocess.run(
            [
                "curl",
                "-sS",
                "-f",
                "--capath",
                str(grid.cert_dir),
                "--cert",
                proxy,
                "--key",
                proxy,
                "-o",
                str(target),
                url,
            ],
            check=True,
        )
    return time.monotonic() - started


def check(source: Path, sandbox: Path, names: list[str]) -> None:
    for name in names:
        if not filecmp.cmp(source / name, sandbox / name, shallow=False):
            raise SystemExit(f"{name} differs after the copy")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", default=str(ROOT / "var" / "bench-htcondor"))
    args = parser.parse_args(argv)
    work = fresh(Path(args.work).resolve())
    rows: list[tuple[str, str, float, float]] = []
    with LocalGrid(work / "grid") as grid:
        small_names = [f"small-{i:03d}.dat" for i in range(COUNT)]
        for directory in (grid.gridftp_dir, grid.xrootd_dir):
            (directory / "bench").mkdir(parents=True, exist_ok=True)
        source = grid.xrootd_dir / "bench"
        for name in small_names:
            write_random(source / name, SMALL)
        write_random(source / "large.dat", LARGE)
        for name in [*small_names, "large.dat"]:
            shutil.copy(source / name, grid.gridftp_dir / "bench" / name)
        subprocess.run(["chmod", "-R", "a+rX", str(grid.xrootd_dir)], check=True)
        cases = [
            (f"{COUNT} x 100 KB", small_names, COUNT * SMALL),
            ("1 x 1 GiB", ["large.dat"], LARGE),
        ]
        url_of = {
            "https": lambda name: grid.https_url(f"bench/{name}"),
            "gridftp": lambda name: grid.gridftp_url(f"bench/{name}"),
            "root": lambda name: grid.xrootd_url(f"bench/{name}"),
        }
        for label, names, total in cases:
            for how, run, scheme in (
                ("plugin, one call", plugin, "https"),
                ("curl per file", curl_each, "https"),
                ("plugin, one call", plugin, "gridftp"),
                ("plugin, one call", plugin, "root"),
            ):
                urls = [url_of[scheme](name) for name in names]
                times = []
                for _ in range(args.repeat):
                    sandbox = work / "sandbox"
                    times.append(run(grid, urls, sandbox))
                    check(source, sandbox, names)
                median = statistics.median(times)
                rows.append((label, f"{scheme}: {how}", median, total / median / 1e6))
                print(
                    f"{label:12} {scheme + ': ' + how:28} {median:8.2f} s {total / median / 1e6:9.1f} MB/s", flush=True
                )
    shutil.rmtree(work, ignore_errors=True)
    print("\n| files | how | seconds (median) | MB/s |\n|---|---|---|---|")
    for label, how, seconds, rate in rows:
        print(f"| {label} | {how} | {seconds:.2f} | {rate:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
