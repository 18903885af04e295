"""Where a file is on a deterministic Rucio storage element, under the element's URL prefix.

Rucio's default ``hash`` algorithm: ``SCOPE/XX/YY/NAME``, where ``XXYY`` are the first four hex
digits of ``md5("SCOPE:NAME")``, and the dots of ``user.*`` and ``group.*`` scopes become
directories (``user.jdoe`` -> ``user/jdoe``). Pilot 3 (``StageOutClient.get_path``) turns every
scope's dots into directories, which differs for other dotted scopes; Rucio's rule is the one
that says where the replicas are.
"""

from __future__ import annotations

import hashlib


def rucio_path(scope: str, name: str) -> str:
    """``user.jdoe``, ``f.root`` -> ``user/jdoe/XX/YY/f.root``."""
    digest = hashlib.md5(f"{scope}:{name}".encode(), usedforsecurity=False).hexdigest()
    directory = scope.replace(".", "/") if scope.startswith(("user", "group")) else scope
    return f"{directory}/{digest[0:2]}/{digest[2:4]}/{name}"
