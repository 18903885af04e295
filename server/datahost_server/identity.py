"""Who a client certificate speaks for, from the variables Apache's mod_ssl exports.

Apache (``SSLOptions +StdEnvVars +ExportCertData``) gives the verified leaf certificate in
``SSL_CLIENT_CERT`` and the rest of what the client sent in ``SSL_CLIENT_CERT_CHAIN_0..n``. For a
pilot the leaf is an RFC 3820 (or legacy) proxy: the identity is the first certificate in the
chain that is not a proxy, i.e. the user's, as ``pilot_movers.credentials.proxy_info`` does for
files. Nothing here trusts a variable unless ``SSL_CLIENT_VERIFY`` is ``SUCCESS``. (mod_gridsite's
``GRST_CRED_*`` variables are not used: on this Apache they describe the server, not the client.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional

from cryptography import x509

from pilot_movers.credentials.proxy_info import dn_string, proxy_kind, strip_proxy_cns

#: More chain variables than this are ignored (GridSiteGSIProxyLimit is 5; a CA or two more).
MAX_CHAIN = 16


@dataclass(frozen=True)
class CertificateIdentity:
    """The user DN a verified client certificate stands for, and what was presented."""

    dn: str
    subject: str
    """The presented (leaf) certificate's own DN, e.g. the proxy's."""
    kind: str
    """``rfc3820``, ``draft``, ``legacy`` or ``end-entity``."""


class IdentityError(ValueError):
    """The certificate variables are missing or do not form a proxy chain."""


def verification_state(environ: Mapping[str, Any]) -> str:
    """``SUCCESS``, ``NONE`` (no certificate presented) or mod_ssl's failure text."""
    return str(environ.get("SSL_CLIENT_VERIFY") or "NONE")


def certificate_identity(environ: Mapping[str, Any]) -> Optional[CertificateIdentity]:
    """The identity of a verified client certificate; None when no certificate was verified.

    Raises IdentityError when Apache verified a certificate but did not export it (a server
    configured without ``+ExportCertData``) or the chain is not a proxy chain.
    """
    if verification_state(environ) != "SUCCESS":
        return None
    leaf_pem = environ.get("SSL_CLIENT_CERT") or ""
    if not leaf_pem:
        raise IdentityError("the web server verified a client certificate but did not export it (+ExportCertData)")
    chain = [_load(leaf_pem)]
    for index in range(MAX_CHAIN):
        pem = environ.get(f"SSL_CLIENT_CERT_CHAIN_{index}")
        if not pem:
            break
        chain.append(_load(pem))
    return identity_of_chain(chain)


def identity_of_chain(chain: list[x509.Certificate]) -> CertificateIdentity:
    """Walk from the leaf through proxies to the first end-entity certificate."""
    leaf = chain[0]
    current = leaf
    for issuer in chain[1:]:
        if proxy_kind(current) == "end-entity":
            break
        if current.issuer != issuer.subject:
            raise IdentityError(f"the proxy {dn_string(current.subject)} was not issued by the next certificate")
        current = issuer
    # Without the user certificate in what the client sent: drop the proxy CNs.
    end_entity = proxy_kind(current) == "end-entity"
    dn = dn_string(current.subject) if end_entity else strip_proxy_cns(current.subject)
    return CertificateIdentity(dn=dn, subject=dn_string(leaf.subject), kind=proxy_kind(leaf))


def _load(pem: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem.encode("ascii"))
    except ValueError as exc:
        raise IdentityError(f"a client certificate exported by the web server cannot be read: {exc}") from None
