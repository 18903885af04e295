"""``pilot-movers cp``, ``ls`` and ``stat`` against a real DataHost, with the grid user's proxy
(mapped to the DataHost user ``griduser``): up, listed, stated with the recorded adler32, down."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

from tests.helpers import write_file


def command(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    program = shutil.which("pilot-movers", path=os.path.dirname(sys.executable))
    assert program, "the pilot-movers console script is installed beside this Python"
    return subprocess.run([program, *args], env=env, capture_output=True, text=True, timeout=120)


def test_cp_ls_and_stat_on_a_datahost(datahost, tmp_path: Path):
    grid = datahost.grid
    env = {**os.environ, **grid.client_env()}
    source = tmp_path / f"cp-{os.getpid()}.dat"
    write_file(source, 2_000_000, seed=3)
    here = f"datahost://{datahost.address}/griduser/"
    up = command("cp", str(source), here, env=env)
    assert up.returncode == 0 and "verified" in up.stdout, up.stderr
    listing = command("ls", here, "--json", env=env)
    assert listing.returncode == 0, listing.stderr
    listed = json.loads(listing.stdout)
    assert (source.name, 2_000_000) in [(e["name"], e["size"]) for e in listed], listed
    stat = command("stat", here + source.name, "--json", env=env)
    assert stat.returncode == 0, stat.stderr
    assert json.loads(stat.stdout)["checksum"]["value"] == f"{zlib.adler32(source.read_bytes()) & 0xFFFFFFFF:08x}"
    back = tmp_path / "back"
    back.mkdir()
    down = command("cp", here + source.name, f"{back}/", env=env)
    assert down.returncode == 0, down.stderr
    assert (back / source.name).read_bytes() == source.read_bytes()
    not_a_dir = command("ls", f"datahost://{datahost.address}/", env=env)
    assert not_a_dir.returncode == 2 and "datahost://HOST[:PORT]/USER/" in not_a_dir.stderr, not_a_dir.stderr
