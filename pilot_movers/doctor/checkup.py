"""``pilot-movers doctor``: every check a job's needs call for, in the order a site admin reads
them (what the job is, then the node: credentials, trust, movers, servers, work dir)."""

from __future__ import annotations

import os
import tempfile
from typing import TYPE_CHECKING, Mapping, Optional

from pilot_movers.doctor.ca import check_ca_dir
from pilot_movers.doctor.findings import MOVER_INSTALL_FIX, Finding, ok, problem
from pilot_movers.doctor.leftovers import check_leftovers
from pilot_movers.doctor.movers import check_mover, check_node
from pilot_movers.doctor.myproxy import check_logon
from pilot_movers.doctor.needs import needs_of
from pilot_movers.doctor.proxy import check_proxy_file
from pilot_movers.doctor.servers import TLS_SCHEMES, check_server
from pilot_movers.doctor.workdir import check_workdir
from pilot_movers.engine.contract import CredentialKind
from pilot_movers.errors import MoverError, MoverUnavailable
from pilot_movers.ledger import STATE_DIR_VARIABLE
from pilot_movers.registry import get_mover_class

if TYPE_CHECKING:
    from pilot_movers.job import Preflight
    from pilot_movers.queue_config import QueueConfig

#: Seconds a server has to accept a connection and finish a handshake.
SERVER_TIMEOUT = 10.0


def examine(
    *,
    queue_config: Optional[str] = None,
    job_params: Optional[str] = None,
    workdir: Optional[str] = None,
    environ: Optional[Mapping[str, str]] = None,
    server_timeout: float = SERVER_TIMEOUT,
    panda_queue: Optional[str] = None,
) -> list[Finding]:
    """What a job of this queue (with these job parameters) would find on this node, one finding
    per check. Makes nothing but a MyProxy logon's proxy in a private temporary dir, removed at once."""
    from pilot_movers.credentials.policy import default_proxy_path
    from pilot_movers.queue_config import QueueConfig

    environ = os.environ if environ is None else environ
    findings: list[Finding] = []
    workdir = workdir or os.path.join(tempfile.gettempdir(), "pilot-movers-job-check")
    queue: Optional[QueueConfig] = None
    if queue_config:
        try:
            queue = QueueConfig.load(queue_config, queue=panda_queue)
            findings.append(ok("queue config", f"{queue_config} loads"))
        except MoverUnavailable as exc:  # the queue config is sound: this node lacks a mover's library
            findings.append(problem("queue config", exc.message, MOVER_INSTALL_FIX))
        except MoverError as exc:
            findings.append(
                problem("queue config", exc.message, "fix the queue config (pilot-movers run says the same)")
            )
    checked: Optional[Preflight] = None
    if job_params is not None:
        checked = _plan(job_params, queue, queue_config, workdir, findings)
    needs = needs_of(queue, checked, workdir)

    kinds: set[CredentialKind] = set()
    rfc3820 = queue.credentials.require_rfc3820 if queue is not None else False
    for name in needs.movers:
        finding = check_mover(name)
        findings.append(finding)
        try:
            mover = get_mover_class(name)
        except MoverError:
            continue
        capabilities = mover.capabilities
        kinds.add(mover.credential_for(queue.mover_options(name) if queue is not None else None))
        rfc3820 = rfc3820 or capabilities.requires_rfc3820
    logon_with_it = needs.myproxy is not None and needs.myproxy.retrieve_with == "pilot-proxy"
    uses_proxy = CredentialKind.X509_PROXY in kinds or logon_with_it
    proxy_path = default_proxy_path(environ)
    proxy_finding = check_proxy_file(
        proxy_path,
        # a MyProxy logon brings the job's own proxy, unless the pilot's is what logs on
        needed=(uses_proxy and needs.myproxy is None) or logon_with_it,
        min_lifetime=queue.credentials.min_lifetime if queue is not None and not logon_with_it else 0.0,
        require_rfc3820=rfc3820 and not logon_with_it,
        unneeded_because=(
            "jobs get the user's from MyProxy" if needs.myproxy is not None else "no mover of this queue needs it"
        ),
        needed_for="the MyProxy logon ([myproxy] retrieve_with = pilot-proxy)" if logon_with_it else "",
    )
    findings.append(proxy_finding)
    proxy = proxy_path if proxy_finding.status.value == "ok" else None
    ca_dir = environ.get("X509_CERT_DIR")
    tls = any(server.scheme in TLS_SCHEMES for server in needs.servers)
    findings += check_ca_dir(ca_dir, needed=uses_proxy or tls or needs.myproxy is not None)
    for server in needs.servers:
        findings.append(check_server(server, proxy=proxy, ca_dir=ca_dir, timeout=server_timeout))
    if needs.myproxy is not None:
        usable = proxy is not None
        findings.append(check_logon(needs.myproxy, pilot_proxy=proxy_path, pilot_proxy_ok=usable, ca_dir=ca_dir))
    for name in needs.movers:  # what each mover needs of the node besides its library (Globus: a client, GCP)
        findings += check_node(name, queue.mover_options(name) if queue is not None else None, environ)
    findings += check_workdir(needs.workdir, needs.input_bytes, needs.inputs)
    findings += check_leftovers(environ.get(STATE_DIR_VARIABLE))
    return findings


def _plan(
    text: str, queue: Optional[QueueConfig], queue_config: Optional[str], workdir: str, findings: list[Finding]
) -> Optional[Preflight]:
    """The job's plan for the work dir's path, whatever the work dir's state (its own check judges
    that): its files and movers, then its MyProxy logon, each fault a finding of its own."""
    import job_params as job_params_module
    from pilot_movers.credentials.myproxy import MyProxySettings
    from pilot_movers.job import Preflight, plan_job

    try:
        params = job_params_module.parse(text)
    except MoverError as exc:
        findings.append(problem("job", exc.message, "fix the job parameters"))
        return None
    if queue is None:
        if not queue_config:
            findings.append(ok("job", "the job parameters parse (give --queue-config to plan them)"))
        return None
    path = os.path.abspath(workdir)
    try:
        plans = plan_job(params, queue, path)
    except MoverUnavailable as exc:  # the plan is sound: this node lacks a mover's library
        findings.append(problem("job", exc.message, MOVER_INSTALL_FIX))
        plans = {}
    except MoverError as exc:
        findings.append(problem("job", exc.message, "fix the job parameters or the queue config"))
        plans = {}
    else:
        files = sum(len(p) for p in plans.values())
        findings.append(ok("job", f"the job parameters plan: {files} file(s)"))
    try:
        myproxy = MyProxySettings.resolve(queue.myproxy, job_server=params.myproxy_server, job_user=params.globus_user)
    except MoverError as exc:
        findings.append(problem("MyProxy settings", exc.message, "fix [myproxy] in the queue config or the job's"))
        myproxy = None
    return Preflight(path, plans, myproxy)
