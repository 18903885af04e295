"""The one error job parameter parsing raises."""

from __future__ import annotations

from pilot_movers.errors import BadJobParameters


class JobParamsError(BadJobParameters, ValueError):
    """Job parameters that cannot be used; names the offending token and why.

    A ``pilot_movers.errors.MoverError`` (code 9001 BADJOBPARAMETERS, not transient), so a pilot
    wrapper catches every failure with one ``except MoverError``; also a ValueError.
    """

    def __init__(self, token: str, reason: str) -> None:
        super().__init__(f"bad job parameter {token!r}: {reason}")
        self.token = token
        self.reason = reason
