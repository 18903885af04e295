"""Credentials a pilot can trust: proxy inspection and policy, MyProxy logon, the payload proxy."""

from pilot_movers.credentials.myproxy import MyProxySettings, RetrievedProxy, fetch_proxy
from pilot_movers.credentials.payload_proxy import PayloadProxy
from pilot_movers.credentials.policy import CredentialPolicy, check_proxy, check_proxy_file, default_proxy_path
from pilot_movers.credentials.proxy_info import ProxyInfo, inspect_proxy

__all__ = [
    "CredentialPolicy",
    "MyProxySettings",
    "PayloadProxy",
    "ProxyInfo",
    "RetrievedProxy",
    "check_proxy",
    "check_proxy_file",
    "default_proxy_path",
    "fetch_proxy",
    "inspect_proxy",
]
