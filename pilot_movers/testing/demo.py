"""The demo job: a full pilot job on the local grid, end to end, then its report.

Run it inside a private network namespace (``scripts/demo.sh`` does): it starts the grid
(throwaway CA, GridFTP, XRootD, MyProxy), stores the user's credential in MyProxy, puts the job's
inputs on the GridFTP server, then runs ``pilot-movers run`` as a pilot would: with the pilot's
own (robot) proxy, job parameters from the submitter and a queue config from the site. The job
fetches the user's proxy from MyProxy, stages the inputs in from GridFTP, runs the payload,
stages the outputs out to XRootD and cleans up. The demo checks the outputs arrived and the
pilot's proxy is untouched, prints the report and stops the grid.
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
from pilot_movers.testing.grid import LocalGrid

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
    args = parser.parse_args(argv)
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
        print(report.read_text())
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


if __name__ == "__main__":
    sys.exit(main())
