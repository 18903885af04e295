"""The trust dir (X509_CERT_DIR) every X.509 connection verifies servers with: present and
holding hashed CA certificates, or the job cannot verify a single server."""

from __future__ import annotations

import os
import re
from typing import Optional

#: Where grid clients look when X509_CERT_DIR is not set.
DEFAULT_CA_DIR = "/etc/grid-security/certificates"
#: What a site does about a missing or empty trust dir.
INSTALL_HINT = (
    "install the IGTF CA bundle and fetch-crl (EGI: ca-policy-egi-core; OSG: osg-ca-certs) "
    "or set X509_CERT_DIR to the trust dir"
)
HASHED_CERT = re.compile(r"^[0-9a-f]{8}\.\d+$")


def trust_dir_problem(path: Optional[str]) -> Optional[str]:
    """What is wrong with the trust dir ``path`` (None: X509_CERT_DIR is not set, the default
    applies), in a few words, or None when it holds at least one hashed CA certificate."""
    directory = path or DEFAULT_CA_DIR
    where = f"X509_CERT_DIR ({directory})" if path else f"X509_CERT_DIR is not set and {DEFAULT_CA_DIR}"
    if not os.path.isdir(directory):
        return f"{where} is not a directory"
    try:
        names = os.listdir(directory)
    except OSError as exc:
        return f"{where} cannot be read: {exc.strerror}"
    if not any(HASHED_CERT.match(name) for name in names):
        return f"{where} holds no hashed CA certificate (HASH.0)"
    return None
