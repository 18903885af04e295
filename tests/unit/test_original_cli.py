"""The 2010 DataHost command names' forms, turned into ``datahost`` arguments."""

from __future__ import annotations


def test_a_2010_command_with_a_file_named_like_an_option_passes_it_as_a_file():
    """Review: ``datahost-rm host user -v`` read the file name -v as an option."""
    from pilot_movers.https_datahost.original_cli import original_form

    form = original_form("datahost-rm", ["dh.example.org:8443", "alice", "-v"])
    assert form.argv[-2:] == ["--", "-v"], form.argv
