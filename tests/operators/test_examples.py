"""examples/pilot_wrapper.py teaches the habits a pilot needs: it refuses an empty job, turns bad
input into exit 2 (not a traceback), and exits as ``pilot-movers run`` does (3 when a retry may
help). The happy path and examples/send_job.py run in tests/unit/test_job.py."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def wrapper(env: dict[str, str], workdir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / "pilot_wrapper.py"), "--workdir", str(workdir), "--", "true"],
        env={**{k: v for k, v in os.environ.items() if k not in ("JOB_PARAMS", "QUEUE_CONFIG")}, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_missing_job_params_is_refused_not_run_as_an_empty_job(tmp_path):
    done = wrapper({"QUEUE_CONFIG": str(EXAMPLES / "queues" / "local.json")}, tmp_path / "w")
    assert done.returncode == 2 and "JOB_PARAMS" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "w").exists()


def test_a_bad_token_and_a_bad_queue_config_are_exit_2_naming_what_is_wrong(tmp_path):
    queue = str(EXAMPLES / "queues" / "local.json")
    done = wrapper({"JOB_PARAMS": "in-mode=sideways", "QUEUE_CONFIG": queue}, tmp_path / "w")
    assert done.returncode == 2 and "in-mode=sideways" in done.stderr and "Traceback" not in done.stderr
    (tmp_path / "q.json").write_text(json.dumps({"copytool": "local", "transfer": {"retries": 3}}))
    done = wrapper(
        {"JOB_PARAMS": f"in-mode=local dir-in={tmp_path} files-in=a", "QUEUE_CONFIG": str(tmp_path / "q.json")},
        tmp_path / "w",
    )
    assert done.returncode == 2 and "retries" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "w").exists()


def test_a_missing_input_is_exit_1(tmp_path):
    (tmp_path / "in").mkdir()
    done = wrapper(
        {
            "JOB_PARAMS": f"in-mode=local dir-in={tmp_path}/in files-in=gone.dat",
            "QUEUE_CONFIG": str(EXAMPLES / "queues" / "local.json"),
        },
        tmp_path / "w",
    )
    assert done.returncode == 1 and "gone.dat" in done.stderr


def test_a_server_that_is_down_is_exit_3(tmp_path):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    (tmp_path / "q.json").write_text(
        json.dumps({"copytool": "gridftp", "transfer": {"max_attempts": 1, "stall_timeout": 10}})
    )
    done = wrapper(
        {
            "JOB_PARAMS": f"dir-in=gsiftp://127.0.0.1:{port}/data/ files-in=a.dat",
            "QUEUE_CONFIG": str(tmp_path / "q.json"),
        },
        tmp_path / "w",
    )
    assert done.returncode == 3, done.stderr
