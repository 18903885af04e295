"""One mover run, in a process of its own: ``python -m bench.mover_once SPEC.json``.

The benchmark runs the mover here so that its peak memory (``ru_maxrss``) is its own, and times
only the transfer (``stage_in``/``stage_out`` of an opened mover), not the interpreter's start.
Prints one JSON line: seconds, files done, files verified, its own peak RSS in KiB.
"""

from __future__ import annotations

import json
import resource
import sys
import time

from pilot_movers import Credentials, FileSpec, Location, Role, TransferSettings
from pilot_movers.registry import get_mover_class


def peak_rss_kib() -> int:
    """This process's own peak resident memory (``VmHWM``). Not ``ru_maxrss``: a process that
    subprocess started with vfork inherits its parent's peak in it at exec, so a benchmark
    process grown large (reading a server log) would be charged to every mover after it."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main() -> int:
    spec = json.loads(open(sys.argv[1], encoding="utf-8").read())  # noqa: SIM115 - read once
    settings = TransferSettings(**spec.get("settings", {}))
    mover = get_mover_class(spec["mover"])(settings, **spec.get("options", {}))
    role = Role.INPUT if spec["direction"] == "in" else Role.OUTPUT
    files = [
        FileSpec(pair["name"], Location.parse(pair["source"]), Location.parse(pair["target"]), role)
        for pair in spec["pairs"]
    ]
    mover.start(Credentials.from_environment())
    try:
        started = time.perf_counter()
        reports = mover.stage_in(files) if role is Role.INPUT else mover.stage_out(files)
        seconds = time.perf_counter() - started
    finally:
        mover.stop()
    failed = [r for r in reports if not r.ok]
    print(
        json.dumps(
            {
                "seconds": seconds,
                "done": len(reports) - len(failed),
                "verified": sum(1 for r in reports if r.verified),
                "failed": [str(r.error) for r in failed[:3]],
                "rss_kib": peak_rss_kib(),
            }
        )
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
