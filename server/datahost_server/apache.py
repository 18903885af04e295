"""The private Apache configuration of one DataHost instance (text only; server.py runs it).

One TLS port serves people and pilots: ``SSLVerifyClient optional`` asks every client for a
certificate during the handshake (TLS 1.3 has no renegotiation, so it cannot be asked for later
on some paths only). A browser without one still connects and logs in with a password; a pilot's
RFC 3820 proxy is accepted because mod_gridsite is loaded (plain mod_ssl under OpenSSL 3 refuses
proxies); a certificate that fails verification ends the handshake. Django decides per request
what the verified certificate, or its absence, may do (access.py).

Downloads are sent by Apache itself: mod_xsendfile serves the files the application names in
``X-Sendfile``, only below ``storage/``, with Range, ETag and Last-Modified. Apache logs each one
to ``logs/transfers.log`` so the application can tell the user its bandwidth.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

MODULES_DIR = Path("/usr/lib/apache2/modules")
#: (module name, file) Apache must load; log_config, logio, unixd and so are built in.
MODULES = [
    ("mpm_event_module", "mod_mpm_event.so"),
    ("authz_core_module", "mod_authz_core.so"),
    ("mime_module", "mod_mime.so"),
    ("alias_module", "mod_alias.so"),
    ("socache_shmcb_module", "mod_socache_shmcb.so"),
    ("ssl_module", "mod_ssl.so"),
    ("gridsite_module", "mod_gridsite.so"),
    ("wsgi_module", "mod_wsgi.so"),
    ("xsendfile_module", "mod_xsendfile.so"),
]


#: One line per request in logs/transfers.log: the download's token (the response header the
#: application sets), status, body bytes sent, microseconds taken, connection state (X: aborted).
TRANSFER_LOG_FORMAT = "%{X-DataHost-Transfer}o %>s %B %D %X"


#: Largest request body Apache relays to any address but uploads (bytes).
OTHER_BODY_LIMIT = 2 << 20


@dataclass(frozen=True)
class ApacheSite:
    """What the configuration needs to know about an instance and this machine."""

    data_dir: Path
    port: int
    ca_dir: Path
    host_cert: Path
    host_key: Path
    python_path: Path
    """The directory that holds the ``datahost_server`` package."""
    python_home: Optional[Path] = None
    """The venv mod_wsgi runs the application in (it must be built on the interpreter
    mod_wsgi was compiled for: Debian's /usr/bin/python3)."""
    listen: str = "127.0.0.1"
    server_name: str = "localhost"
    run_user: Optional[str] = None
    """Apache's workers and the application run as this user when Apache starts as root."""
    run_group: Optional[str] = None
    threads: int = 16
    verify_client: str = "optional"
    check_crls: bool = True
    modules_dir: Path = MODULES_DIR
    storage_dir: Optional[Path] = None
    """Where the files are, when not ``data_dir/storage`` (shared by several front-ends)."""

    @property
    def config_file(self) -> Path:
        return self.data_dir / "conf" / "httpd.conf"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "run" / "httpd.pid"

    @property
    def wsgi_script(self) -> Path:
        return self.data_dir / "conf" / "datahost.wsgi"

    @property
    def error_log(self) -> Path:
        return self.data_dir / "logs" / "error.log"

    @property
    def access_log(self) -> Path:
        return self.data_dir / "logs" / "access.log"


def render(site: ApacheSite) -> str:
    """The httpd.conf text of ``site``."""
    data = site.data_dir
    run, logs, static, conf = data / "run", data / "logs", data / "static", data / "conf"
    storage = site.storage_dir or data / "storage"
    lines = [
        "# Written by datahost-server serve; rewritten at every start.",
        f"ServerRoot {data}",
        *(f"LoadModule {name} {site.modules_dir / so}" for name, so in MODULES),
        *([f"User {site.run_user}", f"Group {site.run_group or site.run_user}"] if site.run_user else []),
        f"Listen {site.listen}:{site.port}",
        f"ServerName {site.server_name}",
        f"PidFile {site.pid_file}",
        f"DefaultRuntimeDir {run}",
        f"Mutex file:{run} default",
        f"ErrorLog {site.error_log}",
        "LogLevel warn",
        "TypesConfig /etc/mime.types",
        'LogFormat "%a \\"%{SSL_CLIENT_S_DN}x\\" %t \\"%r\\" %>s %B %D %X" datahost_access',
        f"CustomLog {site.access_log} datahost_access",
        f'LogFormat "{TRANSFER_LOG_FORMAT}" datahost_transfers',
        f"CustomLog {logs / 'transfers.log'} datahost_transfers",
        "ServerTokens Prod",
        "ServerSignature Off",
        "TraceEnable Off",
        "Timeout 300",
        "KeepAlive On",
        "KeepAliveTimeout 15",
        "LimitRequestBody 0",  # Apache 2.4.53+ caps bodies at 1 GiB by default; quotas limit uploads
        # Requests Apache holds at once, each waiting for one of the application's threads. A
        # child process whose workers are all busy closes its idle keep-alive connections, which
        # clients see as "closed without response" on their next request: few children with many
        # threads each keep room for 200 pilots at once (bench/datahost_load.py).
        "StartServers 1",
        "ServerLimit 2",
        "ThreadLimit 512",
        "ThreadsPerChild 512",
        "MaxRequestWorkers 1024",
        "MinSpareThreads 64",
        "MaxSpareThreads 1024",
        f"SSLSessionCache shmcb:{run / 'ssl_scache'}(512000)",
        "SSLProtocol all -SSLv3 -TLSv1 -TLSv1.1",
        "SSLHonorCipherOrder off",
        f"WSGISocketPrefix {run / 'wsgi'}",
        "WSGIRestrictEmbedded On",
        f"DocumentRoot {static}",
        "<Directory />",
        "    Require all denied",
        "    AllowOverride None",
        "    Options None",
        "</Directory>",
        f"<VirtualHost {site.listen}:{site.port}>",
        "    SSLEngine on",
        f"    SSLCertificateFile {site.host_cert}",
        f"    SSLCertificateKeyFile {site.host_key}",
        f"    SSLCACertificatePath {site.ca_dir}",
        *(
            [f"    SSLCARevocationPath {site.ca_dir}", "    SSLCARevocationCheck chain no_crl_for_cert_ok"]
            if site.check_crls
            else []
        ),
        f"    SSLVerifyClient {site.verify_client}",
        "    SSLVerifyDepth 10",
        "    SSLOptions +StdEnvVars +ExportCertData",
        "    GridSiteEnvs on",
        "    GridSiteAuth off",
        "    GridSiteGSIProxyLimit 5",
        "    XSendFile on",
        f"    XSendFilePath {storage}",
        "    " + _daemon(site),
        "    WSGIProcessGroup datahost",
        "    WSGIApplicationGroup %{GLOBAL}",
        f"    Alias /static/ {static}/",
        f"    WSGIScriptAlias / {site.wsgi_script}",
        # Only uploads have large bodies: every other address is answered 413 past this, before
        # a byte reaches the application (whose own limit for form fields is 1 MiB).
        '    <LocationMatch "^/(?!datahost/transmit/)">',
        f"        LimitRequestBody {OTHER_BODY_LIMIT}",
        "    </LocationMatch>",
        f"    <Directory {conf}>",
        "        <Files datahost.wsgi>",
        "            Require all granted",
        "        </Files>",
        "    </Directory>",
        f"    <Directory {static}>",
        "        Require all granted",
        "    </Directory>",
        "</VirtualHost>",
    ]
    return "\n".join(lines) + "\n"


def _daemon(site: ApacheSite) -> str:
    options = [
        "WSGIDaemonProcess datahost",
        "processes=1",
        f"threads={site.threads}",
        "display-name=%{GROUP}",
        # Requests waiting for an application thread queue on the daemon's socket: room for every
        # Apache worker (mod_wsgi's default, 100, answers 503 beyond that).
        "listen-backlog=1024",
        f"python-path={site.python_path}",
        f"home={site.data_dir}",
        "lang=C.UTF-8",
        "locale=C.UTF-8",
        "shutdown-timeout=10",
    ]
    if site.python_home is not None:
        options.append(f"python-home={site.python_home}")
    if site.run_user:
        options += [f"user={site.run_user}", f"group={site.run_group or site.run_user}"]
    return " ".join(options)


def wsgi_script(config_file: Path) -> str:
    """The instance's WSGI entry: names its configuration, then loads the application."""
    return (
        '"""DataHost instance entry point for mod_wsgi (written by datahost-server serve)."""\n'
        "import os\n"
        f"os.environ['DATAHOST_CONFIG'] = {str(config_file)!r}\n"
        "os.environ['DJANGO_SETTINGS_MODULE'] = 'datahost_server.settings'\n"
        "from datahost_server.wsgi import application  # noqa: E402,F401\n"
    )
