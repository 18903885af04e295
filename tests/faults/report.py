"""``python -m tests.faults.report``: the fault suite's figures (``var/faults/figures.jsonl``, the
latest record of each fault and protocol) as ``docs/reliability.md``."""

from __future__ import annotations

import datetime
import json
import os
import platform
import sys

from tests.faults.conftest import FIGURES, ROOT

COLUMNS = {
    "server killed mid-transfer, restarted": ("killed", "completed", "partial_files_left"),
    "source corrupted against the expected checksum": ("detected", "landed"),
    "secrets in log lines": ("lines_scanned", "secrets_found"),
}


def main() -> int:
    records: dict[tuple[str, str], dict[str, object]] = {}
    for line in FIGURES.read_text().splitlines():
        entry = json.loads(line)
        records[(entry["fault"], entry["protocol"])] = entry
    newest = max(float(e["at"]) for e in records.values())  # type: ignore[arg-type]
    when = datetime.datetime.fromtimestamp(newest, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    fuzz = os.environ.get("FUZZ_EXAMPLES", "10000")
    out = [
        "# Reliability: the fault suite's figures",
        "",
        "`scripts/faults.sh` (the suite `tests/faults/`, each fault injected `FAULT_RUNS` times into the real",
        f"local grid, then `python -m tests.faults.report`), last run {when} on {platform.machine()},",
        f"{os.cpu_count()} cores. CI runs the same suite with `FAULT_RUNS=3`; the job parameter property test",
        f"(`tests/unit/test_job_params_fuzz.py`, {fuzz} generated strings: only `JobParamsError` escapes, no",
        "accepted name leaves the work dir or forges a log line) runs in every CI run.",
        "",
        "| fault | protocol | runs | outcome |",
        "|---|---|---|---|",
    ]
    for (fault, protocol), entry in sorted(records.items()):
        counts = {k: v for k, v in entry.items() if k not in ("fault", "protocol", "runs", "at")}
        outcome = ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in counts.items())
        out.append(f"| {fault} | {protocol} | {entry['runs']} | {outcome} |")
    out += [
        "",
        "Signals are SIGTERM, SIGINT and SIGQUIT in turn, sent to the real `pilot-movers run` in the named",
        "phase over a link slowed to 100 Mbit/s; *left behind* counts temporary files on either side, user",
        "proxies in the work dir and payload processes still running afterwards. A server is killed with",
        "SIGKILL (no shutdown) once a quarter of a 300 MB download has arrived, and restarted half a second",
        "later. Secrets are every line of every private key and proxy of the grid, searched for in every log",
        "record of the suite and in the CLI's own DEBUG log.",
    ]
    (ROOT / "docs" / "reliability.md").write_text("\n".join(out) + "\n")
    print(f"docs/reliability.md written from {len(records)} records")
    return 0


if __name__ == "__main__":
    sys.exit(main())
