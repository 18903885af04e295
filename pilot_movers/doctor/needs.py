"""What a job of this queue (and of these job parameters, when given) needs on this node: its
movers, the servers it talks to, a MyProxy logon, room for its inputs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional
from urllib.parse import urlsplit

from pilot_movers.base import Mover
from pilot_movers.copyprefix import apply_copyprefix
from pilot_movers.credentials.myproxy import MyProxySettings
from pilot_movers.errors import MoverError, MoverUnavailable, Phase
from pilot_movers.job import Preflight
from pilot_movers.queue_config import QueueConfig
from pilot_movers.registry import get_mover_class, mover_for_scheme
from pilot_movers.values import Location, Role

#: MyProxy's port when the queue names none (the movers say theirs: ``Mover.default_ports``).
MYPROXY_PORT = 7512


@dataclass(frozen=True)
class Server:
    """A server a job would talk to, and why (``se``, ``stage-in of a.root``...)."""

    scheme: str
    host: str
    port: Optional[int]
    why: str

    @property
    def address(self) -> str:
        return f"{self.scheme}://{self.host}" + (f":{self.port}" if self.port else "")


@dataclass(frozen=True)
class Needs:
    queue: Optional[QueueConfig]
    movers: tuple[str, ...]
    """Movers the queue names or the job's plan uses (empty: no queue config given)."""
    servers: tuple[Server, ...]
    myproxy: Optional[MyProxySettings]
    """The MyProxy logon a job would make (None: none, or no user name is known without a job)."""
    workdir: str
    """The job's work dir, or where a temporary one would be made."""
    input_bytes: Optional[int]
    """What the job's inputs add up to, when the job says the size of each (``sizes-in``)."""
    inputs: int


def needs_of(queue: Optional[QueueConfig], preflight: Optional[Preflight], workdir: str) -> Needs:
    movers: list[str] = []
    servers: dict[tuple[str, str, Optional[int]], Server] = {}

    def add_server(url: str, why: str) -> None:
        parts = urlsplit(url)
        if not parts.hostname or parts.scheme == "file" or not _names_servers(parts.scheme):
            return
        port = parts.port or _default_port(parts.scheme)
        servers.setdefault((parts.scheme, parts.hostname, port), Server(parts.scheme, parts.hostname, port, why))

    if queue is not None:
        for phase in (Phase.STAGE_IN, Phase.STAGE_OUT):
            movers += [name for name in queue.mover_names(phase) if name not in movers]
            if queue.se:
                prefix = queue.copyprefix_for(phase)
                try:
                    add_server(apply_copyprefix(queue.se, prefix, queue.source) if prefix else queue.se, "se")
                except MoverError:  # checked when the queue config was loaded
                    pass
        for name, url in queue.storages.items():
            add_server(url, f"storage {name}")
    myproxy = preflight.myproxy if preflight is not None else None
    if myproxy is None and queue is not None and queue.myproxy.asked_for:
        try:
            myproxy = MyProxySettings.resolve(queue.myproxy)
        except MoverError:  # no user name without a job: its server is still looked at
            server = queue.myproxy.server or os.environ.get("MYPROXY_SERVER")
            if server:
                add_server(f"myproxy://{server}", "MyProxy")
    if myproxy is not None:
        add_server(f"myproxy://{myproxy.server}:{myproxy.port}", "MyProxy")
    input_sizes: list[Optional[int]] = []
    if preflight is not None:
        for phase, planned in preflight.plans.items():
            for item in planned:
                movers += [m.name for m in item.movers if m.name not in movers]
                for end in (item.spec.source, item.spec.destination, *item.spec.alternatives):
                    if not end.is_local:
                        add_server(_url(end), f"{phase.value} of {item.spec.name}")
                if item.spec.role is Role.INPUT:
                    input_sizes.append(item.spec.size)
    known = input_sizes and all(size is not None for size in input_sizes)
    return Needs(
        queue=queue,
        movers=tuple(movers),
        servers=tuple(servers.values()),
        myproxy=myproxy,
        workdir=os.path.abspath(workdir),
        input_bytes=sum(size or 0 for size in input_sizes) if known else None,
        inputs=len(input_sizes),
    )


def _url(location: Location) -> str:
    return f"{location.scheme}://{location.netloc}/"


def _default_port(scheme: str) -> Optional[int]:
    """The port the mover serving ``scheme`` says its URLs reach by default (None: none known)."""
    if scheme == "myproxy":
        return MYPROXY_PORT
    mover = _mover_of(scheme)
    return mover.default_ports.get(scheme) if mover is not None else None


def _names_servers(scheme: str) -> bool:
    """Whether ``scheme``'s locations name a server to dial: not a Globus endpoint's name, and not
    when the mover claiming the scheme cannot run here (its own finding says why; a guess at its
    port or at what its names are would be a second, wrong finding). A scheme no mover claims is
    looked at on the URL's own terms."""
    if scheme == "myproxy":
        return True
    try:
        return get_mover_class(mover_for_scheme(scheme)).names_servers
    except MoverUnavailable:
        return False
    except MoverError:
        return True


def _mover_of(scheme: str) -> Optional[type[Mover]]:
    try:
        return get_mover_class(mover_for_scheme(scheme))
    except MoverError:
        return None
