"""Every error code says what a pilot operator does about it: one sentence per code, in the
code's table, the error, its report record and docs/errors.md alike (issue 24)."""

from __future__ import annotations

import re
from pathlib import Path

from pilot_movers.errors import (
    CODE_ADVICE,
    CODE_NAMES,
    UNKNOWN_ADVICE,
    ChecksumMismatch,
    JobTerminated,
    Phase,
    PhaseFailed,
    SourceNotFound,
    code_advice,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "errors.md"


def test_every_code_has_one_sentence_of_advice_and_no_code_is_advised_without_a_name():
    assert set(CODE_ADVICE) == set(CODE_NAMES)
    for code, sentence in CODE_ADVICE.items():
        assert sentence[:1].isupper() and sentence.endswith("."), (code, sentence)
        assert ". " not in sentence and "\n" not in sentence, f"{code}: one sentence, one line: {sentence!r}"
        assert "|" not in sentence, f"{code}: a | would break the docs' table"


def test_advice_of_the_same_failure_differs_by_the_code_its_phase_gives_it():
    missing_in = SourceNotFound("gone", phase=Phase.STAGE_IN)
    missing_out = SourceNotFound("gone", phase=Phase.STAGE_OUT)
    assert (missing_in.code, missing_out.code) == (1103, 1165)
    assert missing_in.advice == CODE_ADVICE[1103] and missing_out.advice == CODE_ADVICE[1165]
    assert missing_in.advice != missing_out.advice
    md5 = ChecksumMismatch("differs", algorithm="md5", phase=Phase.STAGE_OUT)
    assert md5.advice == CODE_ADVICE[1141]
    assert JobTerminated("SIGINT").advice == CODE_ADVICE[1208]
    assert code_advice(4242) == UNKNOWN_ADVICE


def test_the_report_record_of_an_error_and_of_a_failed_phase_carries_the_advice():
    first = SourceNotFound("gone", phase=Phase.STAGE_IN, file="a.dat")
    phase = PhaseFailed(Phase.STAGE_IN, [first, SourceNotFound("gone too", file="b.dat")], 3)
    assert first.to_dict()["advice"] == CODE_ADVICE[1103]
    assert phase.to_dict()["advice"] == CODE_ADVICE[1103] and phase.total == 3


def _documented() -> dict[int, tuple[str, str]]:
    text = DOC.read_text()
    start = text.index("<!-- advice table:")
    table = text[start : text.index("<!-- end of advice table -->")]
    rows = re.findall(r"^\| (\d+) \| (\w+) \| (.+) \|$", table, flags=re.MULTILINE)
    assert rows, "docs/errors.md has no advice table"
    assert len(rows) == len({int(code) for code, _, _ in rows}), "a code is listed twice"
    return {int(code): (name, sentence) for code, name, sentence in rows}


def test_docs_errors_md_lists_the_same_advice_as_the_code():
    assert _documented() == {code: (CODE_NAMES[code], CODE_ADVICE[code]) for code in CODE_NAMES}, (
        "docs/errors.md's advice table differs from pilot_movers.errors.CODE_ADVICE"
    )
