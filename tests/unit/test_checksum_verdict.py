"""The engine alone judges a checksum that does not agree: movers say what they saw
(``ChecksumsDiffer``), ``engine.blame`` decides whose fault it is and whether a retry helps."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from pilot_movers.checksums import Checksum
from pilot_movers.engine.blame import blame
from pilot_movers.errors import (
    ChecksumMismatch,
    ChecksumsDiffer,
    ChecksumUnavailable,
    Phase,
    Scope,
    ServiceUnavailable,
    SizeMismatch,
    TransferFailed,
)
from pilot_movers.local_namespace import LocalNamespace
from tests.helpers import local_spec, write_file

ROOT = Path(__file__).resolve().parents[2]


class _Unreachable:
    """A source namespace whose server does not answer."""

    def checksum(self, location, algorithm):
        raise ServiceUnavailable("connection refused")

    def stat(self, location):
        raise ServiceUnavailable("connection refused")


class _Counting(LocalNamespace):
    def __init__(self) -> None:
        self.looks = 0

    def checksum(self, location, algorithm):
        self.looks += 1
        return super().checksum(location, algorithm)


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "a.dat"
    return path, write_file(path, 10_000)


def _judge(error, spec, namespace=None):
    namespace = namespace or LocalNamespace()
    return blame(error, spec, lambda _location: namespace)


def test_a_source_the_mover_saw_differ_is_permanent_without_another_look(source, tmp_path):
    path, _ = source
    namespace = _Counting()
    seen = ChecksumsDiffer("a.dat has adler32 1, the job expects 2", source_differs=True, errno=5)
    verdict = _judge(seen, local_spec(path, tmp_path / "out", checksum=Checksum("adler32", "2")), namespace)
    assert type(verdict) is ChecksumMismatch
    assert (verdict.scope, verdict.transient, verdict.errno) == (Scope.SOURCE, False, 5)
    assert namespace.looks == 0
    assert (
        verdict.message == f"the source {path.as_uri()} is not what the job expects (adler32:00000002): {seen.message}"
    )


def test_a_copy_that_differs_from_its_source_is_damage_on_the_way_and_retried(source, tmp_path):
    path, _ = source
    seen = ChecksumsDiffer("adler32 of the copy is 1, the source has 2", source_differs=False)
    verdict = _judge(seen, local_spec(path, tmp_path / "out"))
    assert type(verdict) is ChecksumMismatch
    assert (verdict.scope, verdict.transient) == (Scope.DESTINATION, True)
    assert verdict.message == seen.message


def test_with_an_expected_value_one_look_at_the_source_decides(source, tmp_path):
    path, actual = source
    wrong = Checksum("adler32", "00000001")
    seen = ChecksumsDiffer("adler32 of the copy is x, expected 00000001")
    verdict = _judge(seen, local_spec(path, tmp_path / "out", checksum=wrong))
    assert (verdict.scope, verdict.transient) == (Scope.SOURCE, False)
    assert f"has adler32 {actual.value}, the job expects 00000001" in verdict.message
    assert path.as_uri() in verdict.message or str(path) in verdict.message

    good = _judge(seen, local_spec(path, tmp_path / "out", checksum=actual))
    assert (good.scope, good.transient) == (Scope.DESTINATION, True)
    assert "the copy was damaged on the way" in good.message


class _NoChecksum:
    """A source whose storage keeps no checksum of it (a DataHost file with no valid record)."""

    def checksum(self, location, algorithm):
        raise ChecksumUnavailable("no valid adler32 recorded")


@pytest.mark.parametrize(
    ("source_differs", "namespace", "transient"),
    [
        (None, _Unreachable(), True),  # the look may succeed on the next round
        (None, _NoChecksum(), False),  # it never will: the copy is the source's picture
        (False, _NoChecksum(), True),  # the mover saw the copy differ from its source
    ],
)
def test_a_source_that_cannot_be_looked_at_leaves_the_movers_view(
    source, tmp_path, source_differs, namespace, transient
):
    path, actual = source
    seen = ChecksumsDiffer("adler32 of the copy is x, expected y", source_differs=source_differs)
    verdict = _judge(seen, local_spec(path, tmp_path / "out", checksum=actual), namespace)
    assert (type(verdict), verdict.transient) == (ChecksumMismatch, transient)
    assert verdict.scope is (Scope.DESTINATION if transient else Scope.SOURCE)
    assert "the source could not be checked: " in verdict.message


def test_the_verdict_keeps_the_algorithm_code_and_context(source, tmp_path):
    path, _ = source
    seen = ChecksumsDiffer("md5 differs", algorithm="md5", source_differs=False).bind(
        phase=Phase.STAGE_OUT, file="a.dat", endpoint="root://se"
    )
    verdict = _judge(seen, local_spec(path, tmp_path / "out"))
    assert (verdict.code, verdict.name, verdict.file, verdict.endpoint) == (
        1141,
        "PUTMD5MISMATCH",
        "a.dat",
        "root://se",
    )


def test_what_a_mover_saw_reads_as_the_mismatch_it_is_outside_the_engine():
    """The datahost command's client raises ``ChecksumsDiffer`` with no engine behind it: it is a
    ChecksumMismatch, retried only when the mover saw the copy differ from its source."""
    seen = ChecksumsDiffer("received bytes have adler32 1, the server recorded 2", phase=Phase.STAGE_IN)
    assert isinstance(seen, ChecksumMismatch)
    assert (seen.code, seen.name, seen.transient, seen.scope) == (1171, "GETADMISMATCH", False, Scope.DESTINATION)
    copy = ChecksumsDiffer("the copy differs", source_differs=False, transient=None, scope=None)
    assert (copy.transient, copy.scope) == (True, Scope.DESTINATION)
    source = ChecksumsDiffer("the source differs", source_differs=True)
    assert (source.transient, source.scope) == (False, Scope.SOURCE)


def test_other_errors_pass_unjudged(source, tmp_path):
    path, _ = source
    spec = local_spec(path, tmp_path / "out")
    error = TransferFailed("x", transient=True)
    assert _judge(error, spec) is error
    short = SizeMismatch("3 bytes arrived, the source has 4")
    assert _judge(short, spec) is short  # no expected size: nothing to look up


def _constructions(name: str) -> list[str]:
    found = []
    for package in ("pilot_movers", "job_params", "server", "testkit"):
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name:
                    found.append(str(path.relative_to(ROOT)))
    return found


def test_only_the_engine_makes_a_checksum_mismatch():
    assert _constructions("ChecksumMismatch") == ["pilot_movers/engine/blame.py"]
