"""The Globus demo: the seed's sendJob job, end to end, against the emulated Globus, then its report.

Run it inside a private network namespace (``scripts/demo-globus.sh`` does): it starts the Globus
emulator (Transfer and Auth APIs on 127.0.0.1, endpoints SITE1, mxp#MXP_BNL_TEST, mxp#MXP_OU_TEST
mapped to directories), registers the pilot's OAuth2 client and writes its credentials file, puts
the job's input on SITE1, then runs ``pilot-movers run`` as a pilot would, with the 2012 job
parameters, a queue config naming the ``globus`` copytool and a ``[globus]`` section, and the
stand-in ``globusconnectpersonal`` as the node's GCP. The job creates the worker endpoint OSGDEV,
starts GCP restricted to its work dir, stages the input in, runs a payload that writes a 10 MB
file, stages it out to SITE1, and removes the endpoint. The demo checks the output arrived, the
endpoint is gone, GCP is stopped and no secret reached the logs, and prints the report.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from pilot_movers.checksums import file_checksum
from pilot_movers_testkit.globus import LocalGlobus

SENDJOB = (
    "--StageinGOsrc=SITE1:/home/osg_data/panda/0064.file --OutputGO=SITE1:/home/osg_data/panda/ "
    "--WorkingendpointGO=OSGDEV --Data=10mb-file.bin"
)
PAYLOAD = "import os; open('10mb-file.bin', 'wb').write(os.urandom(10_000_000)); print('payload: wrote 10mb-file.bin')"
QUEUE = """\
[queue]
copytool = globus

[transfer]
max_attempts = 2
stall_timeout = 60

[globus]
credentials_file = {credentials}
gcp_path = {gcp}
poll_interval = 0.5
gcp_connect_timeout = 60
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", default="var/demo-globus", help="where Globus, the job and the report live")
    args = parser.parse_args(argv)
    base = Path(args.dir).resolve()
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    node_tmp = Path(tempfile.mkdtemp(prefix="demo-node-", dir="/tmp"))  # the worker node's /tmp
    try:
        with LocalGlobus(base / "globus", ("mxp#MXP_BNL_TEST", "mxp#MXP_OU_TEST", "SITE1")) as globus:
            return _run(globus, base, node_tmp)
    finally:
        shutil.rmtree(node_tmp, ignore_errors=True)


def _run(globus: LocalGlobus, base: Path, node_tmp: Path) -> int:
    print(f"demo: Globus emulator at {globus.url}; endpoints {', '.join(globus.endpoints)}", flush=True)
    site1 = globus.endpoints["SITE1"].directory
    source = site1 / "home" / "osg_data" / "panda" / "0064.file"
    source.parent.mkdir(parents=True)
    source.write_bytes(os.urandom(20_000_000))
    credentials = base / "globus-credentials.json"
    descriptor = os.open(credentials, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump({"client_id": globus.client_id, "client_secret": globus.client_secret}, handle)
    queue = base / "queue.ini"
    queue.write_text(QUEUE.format(credentials=credentials, gcp=globus.gcp_bin / "globusconnectpersonal"))
    workdir, report = base / "job", base / "report.json"
    command = [
        sys.executable,
        "-m",
        "pilot_movers",
        "run",
        "--job-params",
        SENDJOB,
        "--queue-config",
        str(queue),
        "--workdir",
        str(workdir),
        "--report",
        str(report),
        "--job-id",
        "demo-globus-1",
        "--",
        sys.executable,
        "-c",
        PAYLOAD,
    ]
    print(f"demo: $ pilot-movers run --job-params '{SENDJOB}' --queue-config {queue} -- python3 -c ...", flush=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GLOBUS_CLIENT", "GLOBUS_REFRESH", "X509_"))}
    env.update(globus.node_env(node_tmp))
    done = subprocess.run(command, env=env, stderr=subprocess.PIPE, text=True, check=False)
    sys.stderr.write(done.stderr)
    print(report.read_text())
    status = done.returncode
    if status == 0:
        output = site1 / "home" / "osg_data" / "panda" / "10mb-file.bin"
        assert file_checksum(output) == file_checksum(workdir / "10mb-file.bin"), "the output differs on SITE1"
        assert file_checksum(workdir / "0064.file") == file_checksum(source), "the input differs in the work dir"
        print(f"demo: input verified in {workdir}, output verified on SITE1 in {output.parent}")
    personal = [e.display_name for e in globus.emulator.endpoints.all() if e.is_globus_connect]
    gcp = subprocess.run(
        [str(globus.gcp_bin / "globusconnectpersonal"), "-status"], env=env, capture_output=True, check=False
    )
    leaked = [s for s in globus.emulator.issued_secrets() if s in done.stderr or s in report.read_text()]
    print(
        f"demo: worker endpoints left: {personal or 'none'}; GCP running: {gcp.returncode == 0}; "
        f"secrets in the log or report: {len(leaked)}"
    )
    if personal or gcp.returncode == 0 or leaked:
        status = status or 1
    print(f"demo: job exit status {status}; report in {report}")
    return status


if __name__ == "__main__":
    sys.exit(main())
