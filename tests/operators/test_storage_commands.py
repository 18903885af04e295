"""``pilot-movers cp``, ``ls`` and ``stat`` from a shell against the real local grid (GridFTP,
XRootD's root:// and https://): verified copies both ways, the storage's view of them, and each
way a copy must fail (a file already there, a missing source, a remote-to-remote copy, a stop)
without leaving anything behind."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
from pilot_movers_testkit.grid import LocalGrid

from tests.helpers import write_file


def command(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    program = shutil.which("pilot-movers", path=os.path.dirname(sys.executable))
    assert program, "the pilot-movers console script is installed beside this Python"
    return subprocess.run([program, *args], env=env, capture_output=True, text=True, timeout=timeout)


def adler32(path: Path) -> str:
    return f"{zlib.adler32(path.read_bytes()) & 0xFFFFFFFF:08x}"


@pytest.fixture(params=["gridftp", "xrootd", "https"])
def storage(request: pytest.FixtureRequest, grid: LocalGrid) -> str:
    """A directory URL of one of the grid's storages, new for each test."""
    name = f"cp-{request.node.name.split('[')[0][-20:]}-{time.monotonic_ns()}/"
    return {"gridftp": grid.gridftp_url, "xrootd": grid.xrootd_url, "https": grid.https_url}[request.param](name)


def test_a_file_goes_up_and_comes_back_verified(grid, storage, tmp_path):
    source = tmp_path / "data.bin"
    write_file(source, 3_000_000, seed=11)
    up = command("cp", str(source), storage, "--json")
    assert up.returncode == 0, up.stderr
    (report,) = json.loads(up.stdout)["files"]
    assert report["status"] == "done" and report["bytes"] == 3_000_000, report
    assert report["checksum"] == f"adler32:{adler32(source)}" and report["verified"], report

    stat = command("stat", storage + "data.bin", "--json")
    assert stat.returncode == 0, stat.stderr
    found = json.loads(stat.stdout)
    assert found["size"] == 3_000_000 and not found["is_dir"], found
    if "checksum" in found:  # XrdHttp computes none on request; GridFTP and root:// do
        assert found["checksum"]["value"] == adler32(source)
    else:
        assert storage.startswith("https") and found["checksum_unavailable"], found

    listing = command("ls", storage, "--json")
    assert listing.returncode == 0, listing.stderr
    assert [(e["name"], e["size"]) for e in json.loads(listing.stdout)] == [("data.bin", 3_000_000)]

    back = tmp_path / "back"
    back.mkdir()
    down = command("cp", storage + "data.bin", str(back))
    assert down.returncode == 0, down.stderr
    assert "verified" in down.stdout, down.stdout
    assert (back / "data.bin").read_bytes() == source.read_bytes()
    assert os.listdir(back) == ["data.bin"]  # no temporary name left


def test_several_files_into_a_directory_and_a_file_already_there(grid, storage, tmp_path):
    names = ["a.dat", "b.dat", "c.dat"]
    for seed, name in enumerate(names):
        write_file(tmp_path / name, 100_000 + seed, seed=seed)
    done = command("cp", *(str(tmp_path / n) for n in names), storage)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("verified") == 3, done.stdout

    write_file(tmp_path / "a.dat", 5, seed=99)  # a different a.dat: the stored one must stay
    again = command("cp", str(tmp_path / "a.dat"), storage)
    assert again.returncode == 1, again.stderr
    assert "FILEEXISTS (1221)" in again.stderr, again.stderr
    stat = json.loads(command("stat", storage + "a.dat", "--json", "--checksum", "none").stdout)
    assert stat["size"] == 100_000, stat
    listed = json.loads(command("ls", storage, "--json").stdout)
    assert [e["name"] for e in listed] == names  # nothing else: no temporary copy left
    assert "cp -f replaces it" in again.stderr
    forced = command("cp", "-f", str(tmp_path / "a.dat"), storage)
    assert forced.returncode == 0, forced.stderr
    assert json.loads(command("stat", storage + "a.dat", "--json").stdout)["size"] == 5


def test_a_missing_source_is_nosuchfile_and_leaves_nothing(grid, storage, tmp_path):
    done = command("cp", storage + "no-such-file.dat", str(tmp_path))
    assert done.returncode == 1, done.stderr
    assert "NOSUCHFILE (1103)" in done.stderr and "what to do:" in done.stderr, done.stderr
    assert os.listdir(tmp_path) == []
    gone = command("stat", storage + "no-such-file.dat")
    assert gone.returncode == 1 and "NOSUCHFILE" not in gone.stdout and "no such file" in gone.stderr.lower()


def test_usage_errors_copy_nothing(grid, tmp_path):
    both_remote = command("cp", grid.gridftp_url("a.dat"), grid.xrootd_url("a.dat"))
    assert both_remote.returncode == 2 and "both ends are remote" in both_remote.stderr
    several = command("cp", str(tmp_path / "x"), str(tmp_path / "y"), grid.gridftp_url("file.dat"))
    assert several.returncode == 2 and "needs a directory" in several.stderr
    missing = command("cp", str(tmp_path / "nothing.dat"), grid.gridftp_url("cp-usage/"))
    assert missing.returncode == 2 and "no such local file" in missing.stderr
    unknown = command("ls", "s3://bucket/key")
    assert unknown.returncode == 2 and "s3://" in unknown.stderr and "Traceback" not in unknown.stderr


def test_sigterm_stops_an_upload_and_removes_its_temporary_copy(grid, tmp_path):
    source = tmp_path / "big.bin"
    write_file(source, 60_000_000, seed=5)
    target = grid.gridftp_url(f"cp-stopped-{time.monotonic_ns()}/")
    with grid.throttled("40mbit"):  # 12 s for the file: the signal lands mid-transfer
        program = shutil.which("pilot-movers", path=os.path.dirname(sys.executable))
        assert program
        copy = subprocess.Popen([program, "cp", str(source), target, "--json"], stdout=subprocess.PIPE, text=True)
        time.sleep(4)
        copy.send_signal(signal.SIGTERM)
        started = time.monotonic()
        out, _ = copy.communicate(timeout=60)
        stopped_in = time.monotonic() - started
    assert copy.returncode == 128 + signal.SIGTERM, out
    answer = json.loads(out)
    assert answer["stopped"] == "SIGTERM" and answer["left_behind"] == [], answer
    listed = command("ls", target, "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout) == [], listed.stdout  # no partial file
    print(f"cp stopped {stopped_in:.1f} s after SIGTERM")


@pytest.mark.parametrize("mode", ["move", "symlink"])
def test_a_queue_that_moves_or_links_local_files_still_makes_cp_copy(tmp_path, mode):
    """Review of issue 24's cp: the queue's [mover:local] mode reached cp, which then deleted the
    user's file (move) or left a link to it (symlink), and ``cp -f a a`` destroyed ``a``."""
    queue = tmp_path / "queue.json"
    queue.write_text(json.dumps({"copytool": "local", "movers": {"local": {"mode": mode}}}))
    source = tmp_path / "keep.txt"
    source.write_text("the user's data\n")
    out = tmp_path / "out"
    out.mkdir()
    done = command("cp", "--queue-config", str(queue), str(source), str(out))
    assert done.returncode == 0, done.stderr
    assert source.read_text() == "the user's data\n"  # still there
    assert not (out / "keep.txt").is_symlink() and (out / "keep.txt").read_text() == "the user's data\n"
    same = command("cp", "-f", "--queue-config", str(queue), str(source), str(source))
    assert same.returncode == 2 and "same file" in same.stderr, same.stderr
    linked = tmp_path / "link.txt"
    linked.symlink_to(source)
    onto_link = command("cp", "-f", str(source), str(linked))
    assert onto_link.returncode == 2 and "same file" in onto_link.stderr
    assert source.read_text() == "the user's data\n" and sorted(p.name for p in tmp_path.iterdir()) == [
        "keep.txt",
        "link.txt",
        "out",
        "queue.json",
    ]


def test_a_stop_after_some_files_reports_them_and_exits_with_the_signal(grid, tmp_path):
    """Review: a stopped cp reported no file, even those it had renamed into place."""
    small = tmp_path / "small.bin"
    write_file(small, 1000, seed=1)
    big = tmp_path / "big.bin"
    write_file(big, 60_000_000, seed=2)
    target = grid.gridftp_url(f"cp-partly-{time.monotonic_ns()}/")
    queue = tmp_path / "queue.json"
    queue.write_text(json.dumps({"copytool": "gridftp", "transfer": {"concurrency": 1}}))
    with grid.throttled("40mbit"):
        program = shutil.which("pilot-movers", path=os.path.dirname(sys.executable))
        assert program
        copy = subprocess.Popen(
            [program, "cp", "--queue-config", str(queue), str(small), str(big), target, "--json"],
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(5)
        copy.send_signal(signal.SIGTERM)
        out, _ = copy.communicate(timeout=60)
    assert copy.returncode == 128 + signal.SIGTERM, out
    answer = json.loads(out)
    assert [(f["name"], f["status"]) for f in answer["files"]] == [("small.bin", "done")], answer
    listed = json.loads(command("ls", target, "--json").stdout)
    assert [e["name"] for e in listed] == ["small.bin"]  # and no partial big.bin
