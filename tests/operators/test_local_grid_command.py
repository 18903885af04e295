"""``scripts/local-grid.sh``, the README's command that keeps the local grid up: the commands
the README shows (doctor, run --dry-run, proxy-info, cp, ls, and a whole job) work as written
in the environment it prints, and the grid is gone when the command ends."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SESSION = r"""
set -e
pilot-movers doctor --queue-config "$PILOT_MOVERS_QUEUE" --job-params "$JOB_PARAMS"
pilot-movers run --dry-run --queue-config "$PILOT_MOVERS_QUEUE" --job-params "$JOB_PARAMS"
pilot-movers proxy-info
pilot-movers cp "$GRIDFTP/user.mxp/input/events-1.dat" "$OUT/"
pilot-movers ls "$GRIDFTP/user.mxp/input/"
pilot-movers run --queue-config "$PILOT_MOVERS_QUEUE" --job-params "$JOB_PARAMS" --workdir "$OUT/job" -- sh run.sh
pilot-movers stat "$XROOTD/user.mxp/output/summary.txt"
echo "servers: $GRIDFTP $XROOTD $MYPROXY_SERVER"
"""


def test_the_readme_commands_work_in_the_local_grids_shell(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    grid = Path("/tmp") / f"pilot-movers-local-grid-{os.getpid()}"  # not under pytest's 0700 dirs: XRootD is nobody
    try:
        done = subprocess.run(
            [str(ROOT / "scripts" / "local-grid.sh"), "--dir", str(grid), "sh", "-c", SESSION],
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(tmp_path), "OUT": str(out)},
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        shutil.rmtree(grid, ignore_errors=True)
    assert done.returncode == 0, done.stdout + done.stderr
    said = done.stdout
    assert "export X509_USER_PROXY=" in said and "export PILOT_MOVERS_QUEUE=" in said  # the environment, printed
    assert "0 problem(s), 0 warning(s)" in said, said  # doctor: all is well
    assert "nothing was made or moved" in said  # the dry run
    assert "RFC 3820 compliant proxy" in said  # proxy-info
    assert (out / "events-1.dat").stat().st_size == 5_000_000  # cp
    assert "events-2.dat" in said and "run.sh" in said  # ls
    assert "job succeeded: 3 file(s) in, 1 out" in said, said  # a whole job, MyProxy logon included
    assert (out / "job" / "summary.txt").read_text().strip() == "7000000"
    servers = said.rsplit("servers: ", 1)[1].split()
    port = servers[0].split(":")[2].split("/")[0]
    probe = subprocess.run(["sh", "-c", f"exec 3<>/dev/tcp/127.0.0.1/{port}"], capture_output=True, check=False)
    assert probe.returncode != 0, "the grid's GridFTP server still answers after the command ended"
