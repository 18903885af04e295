"""JobParams -> job parameter text, the inverse of ``parse``."""

from __future__ import annotations

import builtins
import re
import shlex

from job_params.model import JobParams
from job_params.syntax import FLAGS, KEYS, LIST_KINDS

# shlex.quote's safe set plus '#', which only starts a shell comment at the start of a word:
# endpoint names such as mxp#MXP_BNL_TEST stay readable.
_SAFE = re.compile(r"^[\w@%+=:,./#-]+$")


def _quote(token: str) -> str:
    return token if _SAFE.fullmatch(token) and not token.startswith("#") else shlex.quote(token)


def format(params: JobParams) -> builtins.str:  # noqa: A001 - the name the API promises
    """Write ``params`` as one line of tokens that ``parse`` reads back to an equal value.

    Key=value tokens come first in a fixed order, then sendJob flags (one token per item),
    then the pass-through tokens in their original order.
    """
    tokens: list[str] = []
    for key, field in KEYS.items():
        value = getattr(params, field.attribute)
        if value is None or value == ():
            continue
        text = ",".join(map(str, value)) if field.kind in LIST_KINDS else value
        tokens.append(_quote(f"{key}={text}"))
    for flag, field in FLAGS.items():
        value = getattr(params, field.attribute)
        if value is None or value == ():
            continue
        for item in value if field.kind in LIST_KINDS else (value,):
            tokens.append(_quote(f"{flag}={item!s}"))
    tokens.extend(_quote(token) for token in params.passthrough)
    return " ".join(tokens)
