"""What the pilot's process lets out to the programs it runs: its own memory and environment
hidden from its payload (same uid), and each child program given only the variables it needs.

A payload runs under the pilot's uid, so it can read ``/proc/<pilot>/environ`` and ``mem`` (the
MyProxy passphrase, the Globus client secret, the pilot's bearer token) unless the pilot's
process is not dumpable: ``prctl(PR_SET_DUMPABLE, 0)`` makes those files unreadable to other
processes of the uid and forbids attaching to it with ptrace. It also means no core dump of the
pilot (a core would hold the same secrets). ``execve`` sets the flag back for children, so it
protects the pilot's process only: secrets are kept out of children's environments too
(``child_environment``). Root can still read everything.
"""

from __future__ import annotations

import ctypes
import logging
import os
from typing import Iterable, Mapping, Optional

from pilot_movers.credentials.oauth import SECRET_VARIABLES

log = logging.getLogger(__name__)

PR_SET_DUMPABLE = 4
PR_GET_DUMPABLE = 3
#: Variables a program started by the library may get from the pilot's environment.
BASICS = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TMPDIR",
    "LD_LIBRARY_PATH",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
)
BASIC_PREFIXES = ("LC_",)
#: Never given to a child the library starts, whatever it asks for.
NEVER = (*SECRET_VARIABLES, "BEARER_TOKEN", "MYPROXY_PASSPHRASE")


def hide_this_process() -> bool:
    """Make this process undumpable (see the module's notes); whether it now is."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
        return bool(libc.prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0)
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        log.warning("cannot make the pilot's process unreadable to its payload (prctl unavailable)")
        return False


def child_environment(
    extra: Mapping[str, str],
    *,
    keep: Iterable[str] = (),
    keep_prefixes: Iterable[str] = (),
    withhold: Iterable[str] = (),
    environ: Optional[Mapping[str, str]] = None,
) -> dict[str, str]:
    """The environment of a program the library starts (globus-url-copy, Globus Connect
    Personal): the basics (PATH, HOME, locale, proxies...), the pilot's variables named in
    ``keep`` or starting with ``keep_prefixes``, then ``extra``; never a secret (``NEVER``,
    ``withhold``) unless ``extra`` gives it on purpose."""
    source = os.environ if environ is None else environ
    names = set(BASICS) | set(keep)
    prefixes = tuple(BASIC_PREFIXES) + tuple(keep_prefixes)
    blocked = set(NEVER) | set(withhold)
    env = {k: v for k, v in source.items() if (k in names or k.startswith(prefixes)) and k not in blocked}
    env.update(extra)
    return env
