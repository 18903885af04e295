"""The Globus demo (``scripts/demo-globus.sh``) runs the seed's sendJob job to the end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_the_globus_demo_runs_a_globus_job(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pilot_movers_testkit.globus_demo", "--dir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "worker endpoints left: none; GCP running: False; secrets in the log or report: 0" in done.stdout
    report = json.loads((tmp_path / "demo" / "report.json").read_text())
    assert report["error"] is None and report["left_behind"] == []
