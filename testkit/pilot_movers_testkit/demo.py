"""The demo jobs: full pilot jobs on the local grid, end to end, then their reports.

Run it inside a private network namespace (``scripts/demo.sh`` does): it starts the grid
(throwaway CA, GridFTP, XRootD, MyProxy), stores the user's credential in MyProxy, puts the job's
inputs on the GridFTP server, then runs ``pilot-movers run`` as a pilot would: with the pilot's
own (robot) proxy, job parameters from the submitter and a queue config from the site. The job
fetches the user's proxy from MyProxy, stages the inputs in from GridFTP, runs the payload,
stages the outputs out to XRootD and cleans up. The demo checks the outputs arrived and the
pilot's proxy is untouched, prints the report and stops the grid.

Then the DataHost job (``--jobs`` picks them): a small VO's DataHost (Apache + mod_gridsite +
Django) on the same CA, where the user's DN is the DataHost user ``mxp``. The user puts the inputs
there with the ``datahost`` command line (``ssl-put``, the proxy as client certificate); the
pilot runs a job whose inputs come from the DataHost (``datahost://``) and whose output goes back
to it, again with the user's proxy fetched from MyProxy; the demo lists the user's DataHost
files (``datahost ls``) and checks the output against the job's copy.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from pilot_movers.checksums import file_checksum
from pilot_movers_testkit.datahost import DataHost
from pilot_movers_testkit.grid import LocalGrid

PAYLOAD = """\
set -e
echo "payload: $(ls -1 | wc -l) files in $(pwd)"
python3 - <<'EOF'
import hashlib
digest = hashlib.sha256()
for name in ("events-1.dat", "events-2.dat"):
    with open(name, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
with open("summary.txt", "w") as out:
    out.write(f"sha256 of the inputs: {digest.hexdigest()}\\n")
with open("histograms.dat", "wb") as out:
    out.write(digest.digest() * 100000)
EOF
echo "payload: done"
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", default="var/demo", help="where the grid, the job and the report live")
    parser.add_argument(
        "--jobs", default="grid,datahost", help="which jobs to run, in order: grid (GridFTP in, XRootD out), datahost"
    )
    args = parser.parse_args(argv)
    jobs = [job.strip() for job in args.jobs.split(",") if job.strip()]
    unknown = set(jobs) - {"grid", "datahost"}
    if unknown or not jobs:
        parser.error(f"--jobs takes grid and/or datahost, not {args.jobs!r}")
    base = Path(args.dir).resolve()
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)

    with LocalGrid(base / "grid") as grid:
        print(
            f"demo: grid up: gridftp :{grid.servers['gridftp'].port}, xrootd :{grid.servers['xrootd'].port}, "
            f"myproxy :{grid.myproxy_port}",
            flush=True,
        )
        grid.store_credential("mxp")  # no passphrase: for trusted retrievers such as the pilot
        status = 0
        for job in jobs:
            runner = grid_job if job == "grid" else datahost_job
            status = runner(grid, base) or status
        print(f"demo: {'all jobs succeeded' if status == 0 else 'a job failed'} ({', '.join(jobs)})")
        return status


def grid_job(grid: LocalGrid, base: Path) -> int:
    """Inputs from GridFTP, outputs to XRootD, the user's proxy from MyProxy."""
    pilot_proxy = grid.pilot_proxy
    pilot_proxy_hash = hashlib.sha256(pilot_proxy.read_bytes()).hexdigest()
    inputs = grid.gridftp_dir / "user.mxp" / "input"
    inputs.mkdir(parents=True)
    for index, size in ((1, 50_000_000), (2, 20_000_000)):
        with open(inputs / f"events-{index}.dat", "wb") as handle:
            handle.write(os.urandom(size))
    (inputs / "run.sh").write_text(PAYLOAD)
    outputs = grid.xrootd_dir / "user.mxp" / "output"

    params = (
        f"globus-user=mxp dir-in={grid.gridftp_url('user.mxp/input/')} "
        "files-in=events-1.dat,events-2.dat,run.sh "
        f"dir-out={grid.xrootd_url('user.mxp/output/')} files-out=summary.txt,histograms.dat"
    )
    queue = base / "queue.json"
    queue.write_text(
        json.dumps(
            {
                "copytoolin": "gridftp",
                "copytool": "xrootd",
                "transfer": {"max_attempts": 3, "concurrency": 4, "stall_timeout": 60},
                "myproxy": {"server": "localhost", "port": grid.myproxy_port, "retrieve_with": "pilot-proxy"},
                "credentials": {"min_lifetime": 3600},
            },
            indent=2,
        )
    )
    report = base / "report.json"
    command = [
        sys.executable,
        "-m",
        "pilot_movers",
        "run",
        "--job-params",
        params,
        "--queue-config",
        str(queue),
        "--workdir",
        str(base / "job"),
        "--report",
        str(report),
        "--job-id",
        "demo-1",
        "--",
        "sh",
        "run.sh",
    ]
    print(
        "demo: $ pilot-movers run --job-params '" + params + "' --queue-config " + str(queue) + " -- sh run.sh",
        flush=True,
    )
    # The pilot runs with its own robot proxy, which no storage server would accept.
    status = subprocess.call(command, env={**os.environ, **grid.client_env(proxy=pilot_proxy)})
    print(report.read_text(), flush=True)
    if status == 0:
        for name in ("summary.txt", "histograms.dat"):
            local, remote = base / "job" / name, outputs / name
            assert file_checksum(local) == file_checksum(remote), f"{name} differs at the destination"
        print(f"demo: outputs verified on the XRootD server in {outputs}")
    unchanged = hashlib.sha256(pilot_proxy.read_bytes()).hexdigest() == pilot_proxy_hash
    leftovers = sorted(p.name for p in (base / "job").glob(".pilot-movers-proxy-*"))
    print(f"demo: pilot proxy unchanged: {unchanged}; payload proxy left behind: {leftovers or 'none'}")
    if not unchanged or leftovers:
        status = status or 1
    print(f"demo: job exit status {status}; report in {report}")
    return status


def datahost_job(grid: LocalGrid, base: Path) -> int:
    """Inputs from a DataHost, output back to it: the original design's small-VO job."""
    assert grid.user is not None
    pilot_proxy = grid.pilot_proxy
    with DataHost(grid) as datahost:  # in /tmp: the application runs as www-data and must reach it
        datahost.add_user("mxp", None, dns=[grid.user.dn])  # certificate only: the user's DN
        print(f"demo: DataHost up at https://{datahost.address}/datahost/ (user mxp = {grid.user.dn})", flush=True)
        inputs = base / "datahost-inputs"
        inputs.mkdir()
        for name, size in (("calib.dat", 8_000_000), ("events.dat", 30_000_000)):
            with open(inputs / name, "wb") as handle:
                handle.write(os.urandom(size))
        # The user uploads the inputs with the datahost command line (the proxy as client certificate).
        user_cli = [*_datahost_command(), "--quiet", "--address", datahost.address]
        user_cli += ["--ca-dir", str(grid.cert_dir), "--cert", str(grid.user_proxy)]
        for name in ("calib.dat", "events.dat"):
            print(f"demo: $ datahost ssl-put {name}", flush=True)
            subprocess.run([*user_cli, "ssl-put", str(inputs / name)], check=True)
        where = f"datahost://{datahost.address}/mxp/"
        params = f"globus-user=mxp dir-in={where} files-in=calib.dat,events.dat dir-out={where} files-out=result.dat"
        queue = base / "datahost-queue.json"
        queue.write_text(
            json.dumps(
                {
                    "transfer": {"max_attempts": 3, "concurrency": 4, "stall_timeout": 60},
                    "myproxy": {"server": "localhost", "port": grid.myproxy_port, "retrieve_with": "pilot-proxy"},
                },
                indent=2,
            )
        )
        report = base / "datahost-report.json"
        workdir = base / "datahost-job"
        payload = "cat calib.dat events.dat | sha256sum > result.dat && cat events.dat >> result.dat"
        command = [sys.executable, "-m", "pilot_movers", "run", "--job-params", params]
        command += ["--queue-config", str(queue), "--workdir", str(workdir), "--report", str(report)]
        command += ["--job-id", "demo-datahost", "--", "sh", "-c", payload]
        print(
            f"demo: $ pilot-movers run --job-params '{params}' --queue-config {queue} -- sh -c '{payload}'", flush=True
        )
        status = subprocess.call(command, env={**os.environ, **grid.client_env(proxy=pilot_proxy)})
        print(report.read_text(), flush=True)
        print("demo: $ datahost ls", flush=True)
        subprocess.run([*user_cli, "ls"], check=False)
        if status == 0:
            stored = [p for p in datahost.files_on_disk() if p.name == "result.dat"]
            assert len(stored) == 1, "result.dat is not on the DataHost"
            assert file_checksum(stored[0]) == file_checksum(workdir / "result.dat"), "result.dat differs"
            print("demo: result.dat verified on the DataHost")
        leftovers = sorted(p.name for p in workdir.glob(".pilot-movers-proxy-*"))
        if leftovers:
            status = status or 1
        print(f"demo: DataHost job exit status {status}; report in {report}")
        return status


def _datahost_command() -> list[str]:
    """The ``datahost`` command installed next to this interpreter (the venv's)."""
    script = Path(sys.executable).with_name("datahost")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from pilot_movers.https_datahost.cli import main; sys.exit(main())"]


if __name__ == "__main__":
    sys.exit(main())
