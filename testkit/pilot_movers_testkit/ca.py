"""A throwaway certificate authority for a grid on one machine: CA, host and user certificates,
RFC 3820 (and legacy) proxies, and a trust directory laid out as X509_CERT_DIR expects.

Everything is made fresh with ``cryptography``; no key is ever checked in.
"""

from __future__ import annotations

import datetime
import os
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pilot_movers.credentials.proxy_info import dn_string

#: id-pe-proxyCertInfo (RFC 3820) and the inherit-all policy language.
PROXY_CERT_INFO = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.14")
#: DER of ProxyCertInfo ::= SEQUENCE { proxyPolicy SEQUENCE { policyLanguage id-ppl-inheritAll } }
PROXY_CERT_INFO_INHERIT_ALL = bytes.fromhex("300c300a06082b06010505071501")

ORGANISATION = [("C", "XX"), ("O", "GridLab")]
_OIDS = {
    "C": NameOID.COUNTRY_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "CN": NameOID.COMMON_NAME,
}
_KEY_BITS = 2048
#: Host, user and proxy certificates sign (a user's signs proxies) and encipher keys.
LEAF_KEY_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=True,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=False,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)


def name_from_pairs(pairs: list[tuple[str, str]]) -> x509.Name:
    return x509.Name([x509.NameAttribute(_OIDS[k], v) for k, v in pairs])


@dataclass(frozen=True)
class Credential:
    """A certificate and key on disk (key mode 0600)."""

    cert: Path
    key: Path
    dn: str


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=_KEY_BITS)


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    os.chmod(path, 0o600)


def _key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


class ThrowawayCA:
    """A CA in ``directory``; ``cert_dir`` is the trust directory for X509_CERT_DIR."""

    def __init__(self, directory: Path, name: str = "GridLab Test CA") -> None:
        self.directory = Path(directory)
        self.cert_dir = self.directory / "certificates"
        self.name = name_from_pairs([*ORGANISATION, ("CN", name)])
        self.cert_path = self.directory / "ca.pem"
        self.key_path = self.directory / "ca.key"
        self._key: Optional[rsa.RSAPrivateKey] = None
        self._cert: Optional[x509.Certificate] = None

    @property
    def dn(self) -> str:
        return dn_string(self.name)

    def create(self) -> ThrowawayCA:
        self.directory.mkdir(parents=True, exist_ok=True)
        key = _new_key()
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(self.name)
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        self._key, self._cert = key, cert
        _write_private(self.key_path, _key_pem(key))
        self.cert_path.write_bytes(_cert_pem(cert))
        self._write_trust_dir()
        return self

    def _write_trust_dir(self) -> None:
        if self._cert is None or self._key is None:
            raise RuntimeError("create() the CA first")
        self.cert_dir.mkdir(parents=True, exist_ok=True)
        digest = subject_hash(self.cert_path)
        (self.cert_dir / f"{digest}.0").write_bytes(_cert_pem(self._cert))
        (self.cert_dir / f"{digest}.signing_policy").write_text(
            f"access_id_CA X509 '{self.dn}'\npos_rights globus CA:sign\n"
            f"cond_subjects globus '\"{dn_string(name_from_pairs(ORGANISATION))}/*\"'\n"
        )
        now = _now()
        crl = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.name)
            .last_update(now - datetime.timedelta(minutes=5))
            .next_update(now + datetime.timedelta(days=30))
            .sign(self._key, hashes.SHA256())
        )
        (self.cert_dir / f"{digest}.r0").write_bytes(crl.public_bytes(serialization.Encoding.PEM))

    def issue(
        self,
        pairs: list[tuple[str, str]],
        directory: Path,
        stem: str,
        *,
        host: Optional[str] = None,
        days: int = 30,
    ) -> Credential:
        """A certificate for ``pairs`` (a host certificate when ``host`` is given)."""
        if self._cert is None or self._key is None:
            raise RuntimeError("create() the CA first")
        key = _new_key()
        now = _now()
        name = name_from_pairs(pairs)
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                LEAF_KEY_USAGE,
                critical=True,
            )
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False)
        )
        if host is not None:
            import ipaddress

            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(host), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            )
        cert = builder.sign(self._key, hashes.SHA256())
        directory.mkdir(parents=True, exist_ok=True)
        cert_path, key_path = directory / f"{stem}cert.pem", directory / f"{stem}key.pem"
        cert_path.write_bytes(_cert_pem(cert))
        _write_private(key_path, _key_pem(key))
        return Credential(cert_path, key_path, dn_string(name))

    def host(self, directory: Path, hostname: str = "localhost") -> Credential:
        return self.issue([*ORGANISATION, ("CN", hostname)], directory, "host", host=hostname)

    def user(self, directory: Path, common_name: str, stem: str = "user") -> Credential:
        return self.issue([*ORGANISATION, ("OU", "Users"), ("CN", common_name)], directory, stem)


def make_proxy(
    user: Credential,
    out: Path,
    *,
    hours: float = 12,
    rfc: bool = True,
    not_before: Optional[datetime.datetime] = None,
) -> Path:
    """Sign a proxy with the user's key and write cert, key and user cert to ``out`` (0600).

    ``rfc=False`` makes a legacy (pre-RFC 3820) Globus proxy, ``CN=proxy`` and no ProxyCertInfo.
    """
    user_cert = x509.load_pem_x509_certificate(user.cert.read_bytes())
    user_key = serialization.load_pem_private_key(user.key.read_bytes(), password=None)
    key = _new_key()
    serial = secrets.randbits(31) | 1
    common_name = str(serial) if rfc else "proxy"
    subject = x509.Name([*user_cert.subject, x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = not_before or (_now() - datetime.timedelta(minutes=5))
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(user_cert.subject)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(minutes=5) + datetime.timedelta(hours=hours))
        .add_extension(
            LEAF_KEY_USAGE,
            critical=True,
        )
    )
    if rfc:
        builder = builder.add_extension(
            x509.UnrecognizedExtension(PROXY_CERT_INFO, PROXY_CERT_INFO_INHERIT_ALL), critical=True
        )
    cert = builder.sign(user_key, hashes.SHA256())  # type: ignore[arg-type]
    _write_private(out, _cert_pem(cert) + _key_pem(key) + user.cert.read_bytes())
    return out


def subject_hash(cert: Path) -> str:
    """OpenSSL's (new style) subject hash, the name of a CA's file in a trust directory."""
    return subprocess.run(
        ["openssl", "x509", "-hash", "-noout", "-in", str(cert)], check=True, capture_output=True, text=True
    ).stdout.strip()
