"""This library's error codes as PanDA Pilot 3 expects them, and the trace state of each.

The codes are PanDA's already (``docs/errors.md``), so most pass unchanged. The exceptions:

* a missing input is MISSINGINPUTFILE (1331) to Pilot 3's copytools, NOSUCHFILE (1103) here;
* codes the installed Pilot 3 lacks (3.7 has no 1208 SIGINT, 1382 PROXYTOOSHORT or 1383
  STAGEOUTAUTHENTICATIONFAILURE) become the code it uses for that failure itself: KILLSIGNAL for
  SIGINT (its ``get_kill_signal_error_code``), VOMSPROXYABOUTTOEXPIRE for a proxy that will not
  last (its ATLAS proxy check), STAGEINAUTHENTICATIONFAILURE for a refused credential in either
  direction (what its ``transfer()`` reports for "Cannot authenticate");
* this library's own codes (9001-9005) and any other code it lacks become STAGEINFAILED (1099) or
  STAGEOUTFAILED (1137), what its copytools report for a failure they do not classify.

A code is kept only when Pilot 3 defines that number under the same name: a newer Pilot 3 that
has 1383 gets 1383.
"""

from __future__ import annotations

from typing import Any, Mapping

from pilot_movers.errors import MoverError, Phase, code_name

#: Our code -> the Pilot 3 name used instead, always.
PREFERRED: Mapping[int, str] = {1103: "MISSINGINPUTFILE"}
#: Our code -> the Pilot 3 name used when Pilot 3 has no code of our name and number.
SUBSTITUTES: Mapping[int, str] = {
    1208: "KILLSIGNAL",
    1382: "VOMSPROXYABOUTTOEXPIRE",
    1383: "STAGEINAUTHENTICATIONFAILURE",
}

#: Pilot 3 error name -> the trace ``clientState`` its copytools send with it.
TRACE_STATES: Mapping[str, str] = {
    "GETADMISMATCH": "AD_MISMATCH",
    "PUTADMISMATCH": "AD_MISMATCH",
    "GETMD5MISMATCH": "MD5_MISMATCH",
    "PUTMD5MISMATCH": "MD5_MISMATCH",
    "STAGEINTIMEOUT": "CP_TIMEOUT",
    "STAGEOUTTIMEOUT": "CP_TIMEOUT",
    "FILEEXISTS": "FILE_EXISTS",
    "MISSINGINPUTFILE": "MISSING_INPUT",
    "NOSUCHFILE": "NO_FILE",
    "MISSINGOUTPUTFILE": "MISSINGOUTPUTFILE",
    "NOLOCALSPACE": "NO_SPACE",
    "NOREMOTESPACE": "NO_SPACE",
    "NOPROXY": "CONTEXT_FAIL",
    "SERVICENOTAVAILABLE": "SERVICE_ERROR",
    "CHECKSUMCALCFAILURE": "CHECKSUMCALCULATIONFAILURE",
    "UNKNOWNCHECKSUMTYPE": "UNKNOWN_CHECKSUM_TYPE",
}


def pilot3_name(error: MoverError, codes: Any) -> str:
    """The name, in Pilot 3's ``ErrorCodes`` (``codes``), of the code it gets for ``error``."""
    preferred = PREFERRED.get(error.code)
    if preferred and isinstance(getattr(codes, preferred, None), int):
        return preferred
    ours = code_name(error.code)
    if getattr(codes, ours, None) == error.code:
        return ours
    substitute = SUBSTITUTES.get(error.code)
    if substitute and isinstance(getattr(codes, substitute, None), int):
        return substitute
    return "STAGEOUTFAILED" if error.phase is Phase.STAGE_OUT else "STAGEINFAILED"


def pilot3_code(error: MoverError, codes: Any) -> int:
    """The code Pilot 3 gets for ``error``."""
    return int(getattr(codes, pilot3_name(error, codes)))


def trace_state(error: MoverError, codes: Any) -> str:
    """The trace ``clientState`` for ``error``, as Pilot 3's copytools send it."""
    default = "STAGEOUT_ATTEMPT_FAILED" if error.phase is Phase.STAGE_OUT else "STAGEIN_ATTEMPT_FAILED"
    return TRACE_STATES.get(pilot3_name(error, codes), default)
