"""Who is calling: a person logged in with a password (session cookie) or a pilot presenting a
client certificate (an RFC 3820 proxy, mapped to a user by its DN).

Both arrive on the same port (``SSLVerifyClient optional``): a session wins when there is one;
otherwise a certificate Apache verified is looked up by DN; otherwise the request is refused
(401). A certificate whose DN maps to no user is refused (403), never ignored.

Cross-site request forgery: both credentials are ambient (a browser sends the cookie, and a
client certificate it holds, to any site that asks). Session writes need Django's CSRF token.
Certificate writes are refused when the request says a browser sent it from another site: an
``Origin`` that is not this site's (``null`` included), ``Sec-Fetch-Site`` other than
``same-origin``/``none``, or, without ``Origin``, a ``Referer`` from another site. Browsers set
these headers themselves on every cross-site POST (no page can remove them); a program such as
the 2010 design's ``curl -F file2xmit=@FILE`` sends none of them and passes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Optional
from urllib.parse import urlsplit

from django.http import HttpRequest
from django.middleware.csrf import CsrfViewMiddleware

from datahost_server.answers import ProtocolError
from datahost_server.identity import IdentityError, certificate_identity, verification_state
from datahost_server.models import CertificateDN

log = logging.getLogger(__name__)

SESSION, CERTIFICATE = "session", "certificate"


@dataclass(frozen=True)
class Caller:
    user: Any
    auth: str
    """``session`` or ``certificate``."""
    dn: Optional[str] = None


def identify(request: HttpRequest, *, write: bool = False, check_csrf: bool = True) -> Caller:
    """The caller of ``request``, or ProtocolError (401, 403).

    ``write``: the request changes something, so it must also pass the CSRF rules above (for a
    session, only when ``check_csrf``: the upload view checks the token itself, after installing
    its upload handler, because the token may be inside the multipart body)."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        caller = Caller(user, SESSION)
        if write and check_csrf:
            require_csrf_token(request)
        return caller
    caller = _certificate_caller(request)
    if write:
        sent_from = cross_site_origin(request)
        if sent_from is not None:
            raise ProtocolError(
                "forbidden",
                f"a browser sent this certificate-authenticated write from another site ({sent_from}): refused "
                "(cross-site request forgery protection); log in with a password to use the page",
            )
    return caller


def cross_site_origin(request: HttpRequest) -> Optional[str]:
    """The other site a browser says this request comes from, or None (same site, or no browser
    markers at all: a program)."""
    meta = request.META
    own = f"{request.scheme}://{request.get_host()}"
    origin = meta.get("HTTP_ORIGIN")
    if origin is not None:
        return None if origin == own else origin or "null"
    fetch_site = meta.get("HTTP_SEC_FETCH_SITE")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return f"Sec-Fetch-Site: {fetch_site}"
    referer = meta.get("HTTP_REFERER")
    if referer:
        parts = urlsplit(referer)
        if f"{parts.scheme}://{parts.netloc}" != own:
            return f"{parts.scheme}://{parts.netloc}"
    return None


def _certificate_caller(request: HttpRequest) -> Caller:
    state = verification_state(request.META)
    if state == "NONE":
        raise ProtocolError(
            "not_authenticated", "not authenticated: log in with a password or present a client certificate"
        )
    if state != "SUCCESS":
        raise ProtocolError("forbidden", f"the client certificate was not verified ({state})")
    try:
        identity = certificate_identity(request.META)
    except IdentityError as exc:
        raise ProtocolError("forbidden", str(exc)) from None
    if identity is None:  # pragma: no cover - SUCCESS always yields an identity or an error
        raise ProtocolError("not_authenticated", "not authenticated")
    mapping = CertificateDN.objects.select_related("user").filter(dn=identity.dn).first()
    if mapping is None or not mapping.user.is_active:
        log.info("refused certificate %s: DN not registered", identity.dn)
        raise ProtocolError(
            "unknown_certificate", f"the certificate DN {identity.dn} is not registered with any DataHost user"
        )
    return Caller(mapping.user, CERTIFICATE, identity.dn)


def require_csrf_token(request: HttpRequest) -> None:
    """Django's CSRF check (token and origin) for a view exempted from the middleware."""

    def _protected(request: HttpRequest) -> None:  # not marked csrf_exempt: the check runs
        return None

    refusal = CsrfViewMiddleware(_protected).process_view(request, _protected, (), {})
    if refusal is not None:
        raise ProtocolError(
            "csrf",
            "request refused: CSRF check failed; send the csrftoken cookie's value in X-CSRFToken "
            "and this site's address in Origin (or reload the page)",
        )
