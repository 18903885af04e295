"""The one error job parameter parsing raises."""

from __future__ import annotations


class JobParamsError(ValueError):
    """Job parameters that cannot be used; names the offending token and why.

    ``code``/``name`` match pilot-movers' BADJOBPARAMETERS so a pilot can report it like any
    other job failure.
    """

    code = 9001
    name = "BADJOBPARAMETERS"

    def __init__(self, token: str, reason: str) -> None:
        self.token = token
        self.reason = reason
        super().__init__(f"bad job parameter {token!r}: {reason}")
