"""Credentials a pilot can trust: proxy inspection and policy, MyProxy logon, the job's bundle."""

from pilot_movers.credentials.bundle import Credentials
from pilot_movers.credentials.myproxy import MyProxyOptions, MyProxySettings, RetrievedProxy, fetch_proxy
from pilot_movers.credentials.policy import CredentialPolicy, check_proxy, check_proxy_file, default_proxy_path
from pilot_movers.credentials.proxy_info import ProxyInfo, inspect_proxy
from pilot_movers.credentials.report import CredentialsReport

__all__ = [
    "CredentialPolicy",
    "Credentials",
    "CredentialsReport",
    "MyProxyOptions",
    "MyProxySettings",
    "ProxyInfo",
    "RetrievedProxy",
    "check_proxy",
    "check_proxy_file",
    "default_proxy_path",
    "fetch_proxy",
    "inspect_proxy",
]
