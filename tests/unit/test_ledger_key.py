"""The ledger's key when many jobs of a user start at once on a fresh node: none reads a key
another is still writing (the DataHost load test through two front-ends met "the ledger key ...
is damaged" with 100 pilots started together)."""

from __future__ import annotations

import os
import secrets
import threading
from pathlib import Path

import pytest

from pilot_movers.errors import ConfigurationError
from pilot_movers.ledger import KEY_NAME, RECORDS, Ledger


def test_a_job_starting_while_another_writes_the_key_reads_a_whole_one(tmp_path: Path, monkeypatch):
    directory = str(tmp_path / "state")
    writing, go_on = threading.Event(), threading.Event()
    real = secrets.token_bytes
    calls: list[int] = []

    def slow_first_key(size: int) -> bytes:  # the first job is descheduled while it makes its key
        calls.append(size)
        if len(calls) == 1:
            writing.set()
            go_on.wait(10)
        return real(size)

    monkeypatch.setattr("pilot_movers.ledger.secrets.token_bytes", slow_first_key)
    keys: dict[str, bytes] = {}
    one = threading.Thread(target=lambda: keys.setdefault("first", Ledger(directory)._key))
    one.start()
    assert writing.wait(10)
    keys["second"] = Ledger(directory)._key  # the old code: an empty key file, "damaged: remove it"
    go_on.set()
    one.join(10)
    assert keys["first"] == keys["second"] == (Path(directory) / KEY_NAME).read_bytes()
    assert sorted(os.listdir(directory)) == sorted([KEY_NAME, RECORDS])  # no scratch file left


def test_a_damaged_key_is_still_said(tmp_path: Path):
    directory = tmp_path / "state"
    Ledger(str(directory))
    (directory / KEY_NAME).write_bytes(b"short")
    with pytest.raises(ConfigurationError, match="damaged"):
        Ledger(str(directory))


def test_a_file_system_without_hard_links_still_gets_a_key(tmp_path: Path, monkeypatch):
    """Review: the key's link into place needs hard links (vboxsf, some FUSE mounts have none)."""
    import errno

    def no_links(source: str, target: str) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr("pilot_movers.ledger.os.link", no_links)
    directory = tmp_path / "state"
    key = Ledger(str(directory))._key
    assert len(key) == 32 and (directory / KEY_NAME).read_bytes() == key == Ledger(str(directory))._key
    assert sorted(os.listdir(directory)) == sorted([KEY_NAME, RECORDS])


def test_a_scratch_key_a_killed_job_left_is_removed_by_the_next(tmp_path: Path):
    directory = tmp_path / "state"
    Ledger(str(directory))
    stale = directory / f"{KEY_NAME}.4242.abcd1234.scratch"
    stale.write_bytes(b"x" * 32)
    os.utime(stale, (1, 1))
    fresh = directory / f"{KEY_NAME}.4343.abcd1234.scratch"  # a job writing its key right now
    fresh.write_bytes(b"y" * 32)
    Ledger(str(directory))
    assert not stale.exists() and fresh.exists()
