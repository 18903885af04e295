"""The trust dir (X509_CERT_DIR): present, holding hashed CA certificates, CRLs not expired."""

from __future__ import annotations

import datetime
import os
import re
from typing import Callable, Optional

from cryptography import x509

from pilot_movers.credentials.trust import DEFAULT_CA_DIR, HASHED_CERT, INSTALL_HINT, trust_dir_problem
from pilot_movers.doctor.findings import Finding, ok, problem, warning

CHECK = "CA dir"
_INSTALL = INSTALL_HINT
_HASHED_CRL = re.compile(r"^[0-9a-f]{8}\.r\d+$")


def check_ca_dir(path: Optional[str], *, needed: bool, now: Optional[datetime.datetime] = None) -> list[Finding]:
    """``path``: X509_CERT_DIR (None: the default). ``needed``: a mover or MyProxy of the queue
    verifies servers with it (else what is wrong is a warning)."""
    directory = path or DEFAULT_CA_DIR
    flag: Callable[..., Finding] = problem if needed else warning
    trouble = trust_dir_problem(path)
    if trouble is not None:
        return [flag(CHECK, trouble, _INSTALL)]
    now = now or datetime.datetime.now(datetime.timezone.utc)
    names = sorted(os.listdir(directory))
    certificates = [n for n in names if HASHED_CERT.match(n)]
    crls = [n for n in names if _HASHED_CRL.match(n)]
    expired_cas = [n for n in certificates if _expired_certificate(os.path.join(directory, n), now)]
    findings = []
    if expired_cas:
        findings.append(
            warning(CHECK, f"{directory}: {len(expired_cas)} expired CA certificate(s): {_some(expired_cas)}", _INSTALL)
        )
    else:
        findings.append(ok(CHECK, f"{directory}: {len(certificates)} CA certificate(s)"))
    findings.append(_crl_finding(directory, crls, now, flag))
    return findings


def _crl_finding(directory: str, crls: list[str], now: datetime.datetime, flag: Callable[..., Finding]) -> Finding:
    check = "CRLs"
    fix = "run fetch-crl (its cron job or timer must be enabled on the node)"
    if not crls:
        return warning(check, f"{directory} holds no CRL (HASH.r0): revoked certificates would be accepted", fix)
    stale: list[tuple[str, datetime.datetime]] = []
    unreadable: list[str] = []
    for name in crls:
        next_update = _next_update(os.path.join(directory, name))
        if next_update is None:
            unreadable.append(name)
        elif next_update < now:
            stale.append((name, next_update))
    if stale:
        oldest = min(stale, key=lambda item: item[1])
        message = (
            f"{len(stale)} of {len(crls)} CRL(s) in {directory} expired "
            f"(oldest: {oldest[0]}, at {oldest[1]:%Y-%m-%d %H:%M} UTC): servers of those CAs are refused"
        )
        return flag(check, message, fix)
    if unreadable:
        return warning(check, f"{len(unreadable)} CRL(s) in {directory} cannot be read: {_some(unreadable)}", fix)
    return ok(check, f"{len(crls)} CRL(s), none expired")


def _expired_certificate(path: str, now: datetime.datetime) -> bool:
    try:
        with open(path, "rb") as handle:
            certificate = x509.load_pem_x509_certificate(handle.read())
    except (OSError, ValueError):
        return False  # not ours to judge: a file OpenSSL may still read
    return certificate.not_valid_after_utc < now


def _next_update(path: str) -> Optional[datetime.datetime]:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
        crl = x509.load_pem_x509_crl(data) if b"-----BEGIN" in data else x509.load_der_x509_crl(data)
    except (OSError, ValueError):
        return None
    return crl.next_update_utc


def _some(names: list[str], most: int = 3) -> str:
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")
