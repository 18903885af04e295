"""The transports' own libraries in the command's log: ``-v`` raises gfal2's, the XRootD
client's and requests/urllib3's verbosity and brings their lines into ours (stderr and
``--log-file``, in our format); ``-q`` keeps them to errors. A secret a library would print
(an Authorization header, a bearer token, a PEM block) is masked on the way.

The XRootD client (``libXrdCl``, which gfal2's xrootd plugin shares) reads its log settings from
the environment once, when it is loaded: ``XRD_LOGLEVEL`` and ``XRD_LOGFILE`` are set before
anything imports it, ``XRD_LOGFILE`` to a pipe this process reads (a site's own values win), and
the payload inherits neither (``process_env``).
"""

from __future__ import annotations

import logging
import os
import re
import threading
from typing import Optional

from pilot_movers.process_env import set_default

#: Python loggers of the transports' libraries (gfal2's binding logs to ``gfal2``).
PYTHON_LOGGERS = ("gfal2", "urllib3", "requests")
#: The logger the XRootD client's lines are logged under.
XROOTD_LOGGER = "XRootD"

_XRD_LEVELS = {
    "Dump": logging.DEBUG,
    "Debug": logging.DEBUG,
    "Info": logging.INFO,
    "Warning": logging.WARNING,
    "Error": logging.ERROR,
}
#: ``[2026-12-02 22:51:18.991920 +0000][Debug  ][Utility           ] text``
_XRD_LINE = re.compile(r"^\[[^\]]*\]\[(\w+)\s*\]\[(\w+)\s*\]\s?(.*)$")

#: What a secret's name looks like in ``NAME=value``, ``NAME: value`` or ``"name": "value"``:
#: any word that ends in one of these (``BEARER_TOKEN``, ``MYPROXY_PASSPHRASE``, ``client_secret``).
_SECRET_NAMES = r"[A-Za-z0-9_.-]*(?:token|authz|passphrase|password|passwd|secret|credential|cookie)"

_SECRETS = (
    (re.compile(r"-----BEGIN [A-Z0-9 ]+-----.*?(?:-----END [A-Z0-9 ]+-----|$)", re.DOTALL), "[PEM block masked]"),
    (re.compile(r"(?i)(authorization\s*[:=]\s*)[^\r\n,;]+"), r"\1[masked]"),
    (re.compile(r"(?i)\b(bearer)(\s+|%20)[A-Za-z0-9._~+/=-]+"), r"\1\2[masked]"),
    # JSON and dict reprs: "access_token": "...", 'client_secret': '...'
    (re.compile(rf"""(?i)(["']{_SECRET_NAMES}["']\s*:\s*["'])[^"']*(["'])"""), r"\1[masked]\2"),
    # NAME=value, NAME: value (environment variables, query strings, headers)
    (re.compile(rf"(?i)\b({_SECRET_NAMES})(\s*[=:]\s*)[^&\s,;\"']+"), r"\1\2[masked]"),
    # user:password@ in a URL
    (re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)[^/\s@]+@"), r"\1[masked]@"),
)


def mask_secrets(text: str) -> str:
    """``text`` with what looks like a credential replaced by ``[masked]``."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class MaskSecrets(logging.Filter):
    """A handler's filter: each record's text, and its traceback's, with its secrets masked
    (``mask_secrets``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        masked = mask_secrets(text)
        if masked != text:
            record.msg, record.args = masked, None
        if record.exc_info or record.exc_text:
            trace = record.exc_text or logging.Formatter().formatException(record.exc_info)  # type: ignore[arg-type]
            record.exc_text, record.exc_info = mask_secrets(trace), None
        return True


def raise_transport_verbosity() -> None:
    """``-v``: gfal2 at its debug level, the XRootD client at Debug through a pipe into our log,
    urllib3 and requests at DEBUG. Call before a mover is first used."""
    for name in PYTHON_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    _xrootd_into_our_log("Debug")
    try:
        import gfal2
    except ImportError:  # the gridftp mover is not installed: nothing of gfal2's to raise
        return
    gfal2.set_verbose(gfal2.verbose_level.debug)


def quiet_transports() -> None:
    """``-q``: the transports' Python loggers at ERROR (the XRootD client logs errors only by
    default, and its own way)."""
    for name in PYTHON_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


def _xrootd_into_our_log(level: str) -> Optional[threading.Thread]:
    """The XRootD client's log at ``level`` written to a pipe, each line logged under
    ``XROOTD_LOGGER`` at its own level; None when the site set XRD_LOGFILE itself."""
    if "XRD_LOGFILE" in os.environ:
        set_default("XRD_LOGLEVEL", level)
        return None
    reading, writing = os.pipe()
    set_default("XRD_LOGLEVEL", level)
    set_default("XRD_LOGFILE", f"/proc/self/fd/{writing}")
    reader = threading.Thread(target=_relay, args=(reading,), name="xrootd-log", daemon=True)
    reader.start()
    return reader


def _relay(descriptor: int) -> None:
    log = logging.getLogger(XROOTD_LOGGER)
    with os.fdopen(descriptor, "r", encoding="utf-8", errors="replace") as lines:
        for line in lines:
            line = line.rstrip("\n")
            found = _XRD_LINE.match(line)
            if found:
                log.log(_XRD_LEVELS.get(found.group(1), logging.DEBUG), "[%s] %s", found.group(2), found.group(3))
            elif line:
                log.debug("%s", line)
