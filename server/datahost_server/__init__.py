"""The DataHost server: a Django application served over TLS by Apache (mod_ssl, mod_gridsite,
mod_wsgi, mod_xsendfile) where small VOs keep their data. People log in with a password; pilots
present X.509 proxies. ``datahost-server serve`` starts an instance; docs/datahost.md describes
the protocol."""

#: The version, with the pilot library's (they are released together).
__version__ = "0.1.0"
