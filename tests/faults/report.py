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
    conformance: dict[tuple[str, str], list[dict[str, object]]] = {}
    for line in FIGURES.read_text().splitlines():
        entry = json.loads(line)
        if entry.get("suite") == "conformance":
            conformance.setdefault((entry["fault"], entry["protocol"]), []).append(entry)
        else:
            records[(entry["fault"], entry["protocol"])] = entry
    stamps = [float(e["at"]) for e in records.values()]  # type: ignore[arg-type]
    stamps += [float(e["at"]) for runs in conformance.values() for e in runs]  # type: ignore[arg-type]
    newest = max(stamps)
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
    if conformance:
        out += _conformance_table(conformance)
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


def _conformance_table(cases: dict[tuple[str, str], list[dict[str, object]]]) -> list[str]:
    """The mover conformance fault suite (``tests/conformance``), run ``CONFORMANCE_RUNS`` times:
    each case's passes, and the worst of what it measured."""
    runs = max(len(entries) for entries in cases.values())
    out = [
        "",
        "## Slow links, frozen servers, full disks: the conformance fault suite",
        "",
        f"`tests/conformance/` (the kit `pilot_movers_testkit.conformance`), run {runs} time(s) by",
        "`scripts/faults.sh` (`CONFORMANCE_RUNS`), each case through the real `pilot-movers run`: loopback",
        "slowed to 32 Mbit/s (`tc tbf`), `stall_timeout` 2 s, `operation_timeout` 2 s, `cancel_grace` 1 s,",
        "`cleanup_timeout` 4 s, 3 attempts; a 32 MB file; the server frozen with SIGSTOP once 2 MB moved.",
        "Times are the worst of the runs; *bound* is `TransferSettings.unresponsive_server_bound()` plus",
        "4 s for the command to start and stop.",
        "",
        "| case | mover, direction | passed | worst figures |",
        "|---|---|---|---|",
    ]
    for (case, protocol), entries in sorted(cases.items()):
        passed = sum(1 for e in entries if e.get("passed"))
        worst: dict[str, object] = {}
        for entry in entries:
            for key, value in entry.items():
                if key in ("fault", "protocol", "runs", "at", "suite", "passed"):
                    continue
                before = worst.get(key)
                if isinstance(value, (int, float)) and isinstance(before, (int, float)):
                    worst[key] = max(value, before)
                else:
                    worst.setdefault(key, value)
        figures = ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in worst.items())
        out.append(f"| {case} | {protocol} | {passed} of {len(entries)} | {figures} |")
    return out


if __name__ == "__main__":
    sys.exit(main())
