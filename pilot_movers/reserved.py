"""The names the library owns: no job may name a file so, and only files named so are ever
removed as the library's own (a sweep of a work dir, a journal of temporary copies).

Every file the library makes next to a job's files carries ``MARK`` (``.pilot-movers-``):
temporary copies (``NAME.pilot-movers-a1-3f9c2e1b.part``), the user's proxy
(``.pilot-movers-proxy-*.pem``), a space probe; the report is ``REPORT_NAME``. A job that could
name one as an input or an output could make the library trust a file a payload wrote.
"""

from __future__ import annotations

import re

MARK = ".pilot-movers-"
#: The job report's name in the work dir.
REPORT_NAME = "pilot_movers_report.json"
#: A temporary copy: ``STEM.pilot-movers-a<attempt>-<8 hex>.part``.
TEMPORARY = re.compile(r"^.+\.pilot-movers-a[0-9]+-[0-9a-f]{8}\.part$")
#: A space probe (``.pilot-movers-space-<8 hex>.part``).
SPACE_PROBE = re.compile(r"^\.pilot-movers-space-[0-9a-f]{8}\.part$")


def is_reserved(name: str) -> bool:
    """Whether ``name`` (a file name, no directory) is one the library owns."""
    return MARK in name or name == REPORT_NAME


def is_temporary(name: str) -> bool:
    """Whether ``name`` is one of the library's temporary copies or space probes (what a sweep
    of a server removes; nothing else is ever removed as debris)."""
    return bool(TEMPORARY.match(name) or SPACE_PROBE.match(name))
