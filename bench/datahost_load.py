"""The DataHost under many pilots at once: files/s, MB/s, and that nothing is lost, corrupted or
answered with a server error. Runs inside the private network namespace, like the tests:

    scripts/in-private-network.sh .venv/bin/python bench/datahost_load.py \\
        --pilots 200 --processes 10 --files 2 --size 1000000 [--keep DIR] [--json OUT] \\
        [--postgresql] [--front-ends 2]

It starts a throwaway CA and a DataHost (Apache + mod_gridsite + mod_wsgi + Django, SQLite) on
127.0.0.1, registers the CA's test user, uploads every pilot's inputs, then starts the pilots:
``--processes`` Python processes with ``pilots / processes`` threads each, every pilot a whole
``Job`` (its own work dir and datahost mover) that downloads its inputs, writes an output and
uploads it, all released at the same moment. Then it checks every file where it landed, and
every answer in Apache's access log. Prints one JSON document (and writes it with ``--json``).

``--postgresql`` puts the DataHost on a throwaway PostgreSQL cluster (the testkit's);
``--front-ends N`` starts N instances sharing that database, one storage directory and one
secret key (N hosts behind a load balancer), and the processes take them in turn.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pilot_movers_testkit.datahost import DataHost
from pilot_movers_testkit.datahost_load import (
    LoadResult,
    Pilot,
    PilotOutcome,
    check,
    plan_pilots,
    result_to_json,
    run_pilots_in_threads,
    seed_inputs,
    user_storage,
)
from pilot_movers_testkit.grid import LocalGrid
from pilot_movers_testkit.postgresql import PostgreSQL

from pilot_movers import QueueConfig
from pilot_movers.credentials.bundle import Credentials

USER = "griduser"
#: The machine's 1-minute load average when the bench started (others' work shares the CPUs).
BEFORE_LOAD = os.getloadavg()[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pilots", type=int, default=200)
    parser.add_argument("--processes", type=int, default=10, help="pilots are spread over this many processes")
    parser.add_argument("--files", type=int, default=1, help="inputs per pilot (each pilot uploads one output)")
    parser.add_argument("--size", type=int, default=1_000_000, help="bytes per input file")
    parser.add_argument("--concurrency", type=int, default=2, help="each pilot's [transfer] concurrency")
    parser.add_argument("--threads", type=int, default=16, help="the DataHost application's threads")
    parser.add_argument("--postgresql", action="store_true", help="a PostgreSQL database instead of SQLite")
    parser.add_argument("--front-ends", type=int, default=1, help="instances sharing database and storage")
    parser.add_argument("--keep", type=Path, help="keep the DataHost and work dirs here")
    parser.add_argument("--json", type=Path, help="also write the result here")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return _worker(args.worker)
    if args.front_ends > 1 and not args.postgresql:
        parser.error("--front-ends above 1 needs --postgresql (front-ends share one database)")

    base = args.keep or Path(tempfile.mkdtemp(prefix="pilot-movers-load-", dir="/tmp"))
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    os.chmod(base, 0o755)
    grid = LocalGrid(base / "grid")
    grid.create_credentials()
    assert grid.user is not None
    database = PostgreSQL(base / "postgresql").start() if args.postgresql else None
    datahost = DataHost(
        grid,
        base / "datahost",
        threads=args.threads,
        databases=database.databases() if database else None,
        storage=base / "storage" if database else None,
    )
    front_ends = [datahost] + [datahost.front_end(base / f"datahost-{n}") for n in range(1, args.front_ends)]
    try:
        for front_end in front_ends:
            front_end.start()
        datahost.add_user(USER, None, dns=[grid.user.dn])
        credentials = Credentials(x509_proxy=str(grid.user_proxy), ca_dir=str(grid.cert_dir))
        pilots = seed_inputs(
            plan_pilots("bench", args.pilots, args.files),
            address=datahost.address,
            credentials=credentials,
            size=args.size,
            scratch=base / "seed",
        )
        workroot = base / "work"
        workroot.mkdir()
        log_offsets = [front_end.access_log.stat().st_size for front_end in front_ends]
        start_at = time.time() + 3.0 + 0.3 * args.processes  # every process imported and waiting
        shares = [pilots[i :: args.processes] for i in range(args.processes)]
        workers = []
        for number, share in enumerate(shares):
            job = base / f"worker-{number}.json"
            job.write_text(
                json.dumps(
                    {
                        "address": front_ends[number % len(front_ends)].address,
                        "proxy": str(grid.user_proxy),
                        "ca_dir": str(grid.cert_dir),
                        "workroot": str(workroot),
                        "concurrency": args.concurrency,
                        "start_at": start_at,
                        "pilots": [[p.index, list(map(list, p.inputs)), p.output] for p in share],
                    }
                )
            )
            workers.append((job, subprocess.Popen([sys.executable, __file__, "--worker", str(job)])))
        outcomes: list[PilotOutcome] = []
        for job, process in workers:
            process.wait()
            answer = job.with_suffix(".out.json")
            outcomes += [PilotOutcome(**o) for o in json.loads(answer.read_text())] if answer.exists() else []
        seconds = max(o.seconds for o in outcomes) if outcomes else 0.0
        result = LoadResult(args.pilots, args.files, args.size, seconds, outcomes)
        time.sleep(0.5)
        check(
            result,
            pilots,
            storage=user_storage(datahost.storage_dir, pilots[0].inputs[0][0]),
            workroot=workroot,
            access_log=datahost.access_log,
            log_offset=log_offsets[0],
            more_logs=list(zip((f.access_log for f in front_ends[1:]), log_offsets[1:])),
        )
        document = json.loads(result_to_json(result))
        document["setup"] = {
            "processes": args.processes,
            "pilots_per_process": -(-args.pilots // args.processes),
            "concurrency_per_pilot": args.concurrency,
            "datahost_threads": args.threads,
            "front_ends": len(front_ends),
            "database": "postgresql" if database else "sqlite",
            "machine": f"{os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}",
            "load_average_before": BEFORE_LOAD,
            "load_average_after": os.getloadavg()[0],
            "when": time.strftime("%Y-%m-%d %H:%M %Z"),
        }
        text = json.dumps(document, indent=2)
        print(text)
        if args.json:
            args.json.write_text(text + "\n")
        ok = not (result.failed or result.lost or result.corrupted or result.server_errors)
        return 0 if ok else 1
    finally:
        for front_end in front_ends:
            front_end.stop()
        if database is not None:
            database.stop()
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)


def _worker(job_file: Path) -> int:
    """One process's pilots, on threads, released at the common start time."""
    job = json.loads(job_file.read_text())
    pilots = [Pilot(index, tuple(tuple(pair) for pair in inputs), output) for index, inputs, output in job["pilots"]]
    queue = QueueConfig.from_dict({"transfer": {"max_attempts": 3, "concurrency": job["concurrency"]}})
    outcomes = run_pilots_in_threads(
        pilots,  # type: ignore[arg-type]
        address=job["address"],
        user=USER,
        credentials=Credentials(x509_proxy=job["proxy"], ca_dir=job["ca_dir"]),
        workroot=Path(job["workroot"]),
        queue=queue,
        start_at=job["start_at"],
    )
    job_file.with_suffix(".out.json").write_text(json.dumps([o.__dict__ for o in outcomes]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
