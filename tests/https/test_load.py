"""200 pilots at once against one DataHost (ten times the 20 simultaneous requests the BdbServer++
request server held before it dropped and lost requests): each a whole Job with its own datahost
mover, downloading its inputs and uploading its output. Nothing may be lost, corrupted, or
answered with a server error, and nothing is retried. ``bench/datahost_load.py`` runs the full
version (several processes, larger files) and gives the figures in docs/datahost.md."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from pilot_movers_testkit.datahost_load import plan_pilots, run_and_check, seed_inputs

from pilot_movers import QueueConfig
from tests.helpers import assert_nothing_lost
from tests.https.conftest import DATAHOST_USER, user_credentials

PILOTS = 200
FILE_SIZE = 64 * 1024


def test_two_hundred_pilots_at_once_lose_nothing_corrupt_nothing_and_get_no_server_error(datahost, grid):
    workroot = Path("/tmp") / f"pilot-movers-load-{os.getpid()}"
    shutil.rmtree(workroot, ignore_errors=True)
    credentials = user_credentials(grid)
    prefix = f"load{time.monotonic_ns() % 10**9}"
    pilots = seed_inputs(
        plan_pilots(prefix, PILOTS, files_per_pilot=1),
        address=datahost.address,
        credentials=credentials,
        size=FILE_SIZE,
        scratch=workroot / "seed",
    )
    queue = QueueConfig.from_dict({"transfer": {"max_attempts": 3, "backoff_initial": 0.5, "concurrency": 2}})
    try:
        result = run_and_check(
            pilots,
            [datahost],
            user=DATAHOST_USER,
            credentials=credentials,
            workroot=workroot,
            queue=queue,
            file_size=FILE_SIZE,
        )
        assert_nothing_lost(result, files=2 * PILOTS)
    finally:
        shutil.rmtree(workroot, ignore_errors=True)
