"""``pilot-movers ls`` and ``stat`` against the Globus Transfer API emulator, through the real
globus-sdk with the pilot's OAuth2 client; ``cp`` says why it does not copy through Globus
(files on the node are reached through a worker endpoint, which only a job sets up)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.globus.pilots import Site


def command(site: Site, *args: str) -> subprocess.CompletedProcess[str]:
    queue = site.write_queue()
    return subprocess.run(
        [sys.executable, "-m", "pilot_movers", *args, "--queue-config", str(queue)],
        env=site.env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_ls_and_stat_of_a_globus_endpoint(site, tmp_path):
    site.put("SITE1", "/data/a.bin", b"a" * 1000)
    site.put("SITE1", "/data/sub/b.bin", b"b" * 10)
    listing = command(site, "ls", "SITE1:/data/", "--json")
    assert listing.returncode == 0, listing.stderr
    assert [(e["name"], e["size"], e["is_dir"]) for e in json.loads(listing.stdout)] == [
        ("a.bin", 1000, False),
        ("sub", json.loads(listing.stdout)[1]["size"], True),
    ]
    stat = command(site, "stat", "SITE1:/data/a.bin", "--json")
    assert stat.returncode == 0, stat.stderr
    found = json.loads(stat.stdout)
    assert found["size"] == 1000 and "checksum" not in found and found["checksum_unavailable"], found
    missing = command(site, "stat", "SITE1:/data/none.bin")
    assert missing.returncode == 1 and "no such file" in missing.stderr, missing.stderr
    assert site.personal_endpoints() == []  # looking registers no endpoint


def test_cp_through_globus_is_refused_with_the_reason(site, tmp_path):
    site.put("SITE1", "/data/a.bin", b"a" * 1000)
    done = command(site, "cp", "SITE1:/data/a.bin", str(tmp_path))
    assert done.returncode == 1, done.stderr
    assert "BADJOBPARAMETERS (9001)" in done.stderr and "worker endpoint" in done.stderr, done.stderr
    assert not (tmp_path / "a.bin").exists()
    assert site.personal_endpoints() == [] and not site.gcp_running()
