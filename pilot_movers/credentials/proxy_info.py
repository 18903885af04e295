"""What a proxy file holds, read with ``cryptography``: identity, issuer, expiry, kind.

The identity is the subject of the end-entity certificate the proxy chain starts from (the user's
certificate). For a DN with one CN this is what the 2012 dataPilot computed by cutting the proxy
subject at its second ``/CN=``; for DNs with several CNs (``.../CN=mxp/CN=123456/CN=Mark Person``)
only walking the chain gives the right answer, so that is what is done here.
"""

from __future__ import annotations

import datetime
import os
import re
from dataclasses import dataclass
from typing import Any, Optional, Union

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from pilot_movers.errors import NoProxy

#: RFC 3820 ProxyCertInfo, and the pre-RFC (Globus Toolkit 3 draft) one.
RFC3820_PROXY_CERT_INFO = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.14")
DRAFT_PROXY_CERT_INFO = x509.ObjectIdentifier("1.3.6.1.4.1.3536.1.222")
LEGACY_PROXY_CNS = ("proxy", "limited proxy")

_SHORT_NAMES = {
    NameOID.COUNTRY_NAME: "C",
    NameOID.STATE_OR_PROVINCE_NAME: "ST",
    NameOID.LOCALITY_NAME: "L",
    NameOID.ORGANIZATION_NAME: "O",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
    NameOID.COMMON_NAME: "CN",
    NameOID.DOMAIN_COMPONENT: "DC",
    NameOID.EMAIL_ADDRESS: "emailAddress",
    NameOID.USER_ID: "UID",
    NameOID.SERIAL_NUMBER: "serialNumber",
}


def dn_string(name: x509.Name) -> str:
    """``/C=XX/O=GridLab/OU=Users/CN=Test User``: the one-line form grid tools print."""
    parts = []
    for rdn in name.rdns:
        parts.append("+".join(f"{_SHORT_NAMES.get(a.oid, a.oid.dotted_string)}={a.value!s}" for a in rdn))
    return "".join(f"/{part}" for part in parts)


def proxy_kind(cert: x509.Certificate) -> str:
    """``rfc3820``, ``draft`` (GT3), ``legacy`` (GT2 ``CN=proxy``) or ``end-entity``."""
    oids = {extension.oid for extension in cert.extensions}
    if RFC3820_PROXY_CERT_INFO in oids:
        return "rfc3820"
    if DRAFT_PROXY_CERT_INFO in oids:
        return "draft"
    subject, issuer = list(cert.subject.rdns), list(cert.issuer.rdns)
    if len(subject) == len(issuer) + 1 and subject[:-1] == issuer:
        last = subject[-1].get_attributes_for_oid(NameOID.COMMON_NAME)
        if last and str(last[0].value) in LEGACY_PROXY_CNS:
            return "legacy"
    return "end-entity"


def datapilot_identity(dn: str) -> str:
    """The 2012 dataPilot's identity rule: the DN cut at its second ``/CN=`` (right for one-CN
    user DNs only; kept to compare with, not used)."""
    first = dn.find("/CN=")
    second = dn.find("/CN=", first + 1) if first >= 0 else -1
    return dn[:second] if second > 0 else dn


@dataclass(frozen=True)
class ProxyInfo:
    """Facts about a proxy file. ``not_after`` is the earliest expiry in its chain."""

    path: str
    subject: str
    issuer: str
    identity: str
    kind: str
    not_before: datetime.datetime
    not_after: datetime.datetime
    proxy_not_after: datetime.datetime
    key_bits: int
    chain_length: int
    expiring_subject: str
    """The certificate whose expiry is ``not_after`` (the proxy or one it was signed with)."""

    @property
    def is_proxy(self) -> bool:
        return self.kind != "end-entity"

    def time_left(self, now: Optional[datetime.datetime] = None) -> float:
        now = now or datetime.datetime.now(datetime.timezone.utc)
        return (self.not_after - now).total_seconds()

    def to_dict(self, now: Optional[datetime.datetime] = None) -> dict[str, Any]:
        """The facts as JSON; ``time_left_seconds`` as of ``now`` (default: this moment)."""
        return {
            "path": self.path,
            "subject": self.subject,
            "issuer": self.issuer,
            "identity": self.identity,
            "type": self.kind,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "time_left_seconds": max(0, int(self.time_left(now))),
            "key_bits": self.key_bits,
            "chain_length": self.chain_length,
        }


def inspect_proxy(path: Union[str, os.PathLike[str]]) -> ProxyInfo:
    """Read and check a proxy file: certificates, the private key, and that they belong together.

    Raises NoProxy (with the reason) for a missing, unreadable or malformed file.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise NoProxy(f"no proxy file at {path}") from None
    except OSError as exc:
        raise NoProxy(f"cannot read the proxy file {path}: {exc.strerror}") from None
    try:
        chain = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise NoProxy(f"{path} holds no PEM certificate") from None
    key = _private_key(data, path)
    first = chain[0]
    if key.public_key().public_numbers() != first.public_key().public_numbers():  # type: ignore[union-attr]
        raise NoProxy(f"the private key in {path} does not belong to its first certificate")
    identity_cert = next((c for c in chain if proxy_kind(c) == "end-entity"), None)
    identity = dn_string(identity_cert.subject) if identity_cert is not None else strip_proxy_cns(first.subject)
    expiring = min(chain, key=lambda c: c.not_valid_after_utc)
    return ProxyInfo(
        path=path,
        subject=dn_string(first.subject),
        issuer=dn_string(first.issuer),
        identity=identity,
        kind=proxy_kind(first),
        not_before=first.not_valid_before_utc,
        not_after=expiring.not_valid_after_utc,
        proxy_not_after=first.not_valid_after_utc,
        key_bits=key.key_size,
        chain_length=len(chain),
        expiring_subject=dn_string(expiring.subject),
    )


def _private_key(data: bytes, path: str) -> Union[rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey]:
    match = re.search(rb"-----BEGIN (?:RSA |EC )?PRIVATE KEY-----.*?-----END (?:RSA |EC )?PRIVATE KEY-----", data, re.S)
    if match is None:
        raise NoProxy(f"{path} holds no private key")
    try:
        key = serialization.load_pem_private_key(match.group(0), password=None)
    except (ValueError, TypeError):
        raise NoProxy(f"the private key in {path} cannot be read (encrypted or damaged)") from None
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise NoProxy(f"the private key in {path} is of an unsupported type")
    return key


def strip_proxy_cns(name: x509.Name) -> str:
    """A proxy's subject without its proxy CNs (numbers, ``proxy``, ``limited proxy``), when the
    user's certificate is not at hand: ``/C=XX/.../CN=Test User/CN=123/CN=proxy`` ->
    ``/C=XX/.../CN=Test User``. The one rule: the DataHost server maps proxies to users with it."""
    rdns = list(name.rdns)
    while len(rdns) > 1:
        values = rdns[-1].get_attributes_for_oid(NameOID.COMMON_NAME)
        value = str(values[0].value) if values else ""
        if not (value.isdigit() or value in LEGACY_PROXY_CNS):
            break
        rdns.pop()
    return dn_string(x509.Name(rdns))
