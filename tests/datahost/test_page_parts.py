"""Pure parts of the page, without a server: the expectation heuristic, the units the page
states, the name suggested for a file the DataHost cannot store under its own name."""

from __future__ import annotations

import datetime

import pytest
from datahost_server.expectation import Sample, expect
from datahost_server.names import suggest_name
from datahost_server.templatetags.datahost_units import mb_per_s, si_bytes

from pilot_movers.https_datahost.protocol import is_file_name

NOW = datetime.datetime(2026, 11, 1, 12, tzinfo=datetime.timezone.utc)


def _sample(rate: float, alongside: int = 0) -> Sample:
    return Sample("f", NOW, 10_000_000, rate, alongside)


def test_with_nothing_else_running_expect_the_median_of_recent_rates():
    result = expect("upload", [_sample(10), _sample(30), _sample(20)], running_now=0)
    assert result.typical_mb_per_s == 20
    assert result.expected_mb_per_s == 20


def test_more_transfers_running_than_usual_share_the_link():
    # typically 1 other ran alongside (2 sharing); now 3 run: 4 sharing, half each.
    result = expect("upload", [_sample(40, 1), _sample(40, 1), _sample(40, 1)], running_now=3)
    assert result.typical_alongside == 1
    assert result.expected_mb_per_s == pytest.approx(20)


def test_fewer_running_than_usual_never_promises_more_than_was_seen():
    result = expect("download", [_sample(12, 5), _sample(14, 5)], running_now=0)
    assert result.expected_mb_per_s == 13


def test_no_recent_transfer_gives_no_expectation():
    result = expect("download", [], running_now=2)
    assert result.expected_mb_per_s is None
    assert result.running_now == 2


def test_sizes_are_written_in_powers_of_1000_as_the_page_states():
    assert si_bytes(1_500_000) == "1.50 MB"
    assert si_bytes(999) == "999 B"
    assert si_bytes(2_000_000_000) == "2.00 GB"
    assert si_bytes(None) == ""


def test_rates_keep_three_significant_digits():
    assert mb_per_s(90.08) == "90.1"
    assert mb_per_s(0.01234) == "0.0123"
    assert mb_per_s(1234.5) == "1234"
    assert mb_per_s(0.00001) == "< 0.001"


@pytest.mark.parametrize(
    ("name", "suggested"),
    [
        ("données été.txt", "donnees_ete.txt"),
        ("Ærø résumé (2).pdf", "_r_resume_2_.pdf"),
        ("数据.root", "_.root"),
        (".hidden", "hidden"),
        ("plain-name.dat", "plain-name.dat"),
        ("数据", "_"),
    ],
)
def test_a_name_the_datahost_refuses_gets_a_storable_suggestion(name, suggested):
    result = suggest_name(name)
    assert result == suggested
    assert is_file_name(result)
