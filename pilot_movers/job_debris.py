"""What a job finds left behind and what it leaves: the work dir made private and swept of an
earlier run's debris; the ledger's record of what the job holds; what killed jobs of the user
left (their proxies, temporary copies, work dirs, GCP processes and endpoints), removed or taken
over; the temporary copies a phase could not remove, tried again at the cleanup; and the
report's ``left_behind``: what could not be removed, once each."""

from __future__ import annotations

import logging
import os
import shutil
from contextlib import ExitStack
from pathlib import Path
from typing import Callable, Optional

from pilot_movers.base import Mover
from pilot_movers.credentials.myproxy import remove_proxy
from pilot_movers.engine.deadlines import RemoteCalls
from pilot_movers.errors import MoverError, ServiceUnavailable
from pilot_movers.holdings import LOCAL_KINDS, JobHoldings, remove_local
from pilot_movers.job_movers import JobMovers
from pilot_movers.ledger import JobRecord, Ledger
from pilot_movers.local_namespace import LOCAL
from pilot_movers.queue_config import QueueConfig
from pilot_movers.values import LeftBehind, Location
from pilot_movers.workdir import prepare_workdir, sweep_debris

log = logging.getLogger("pilot_movers.job")


class JobDebris:
    """``setup_notes`` and ``cleanup_notes`` are the report's, told of what was removed;
    ``unreachable_left`` is the job's list of what no mover could reach (shared with its movers)."""

    def __init__(
        self,
        queue: QueueConfig,
        workdir: str,
        job_id: str,
        *,
        movers: JobMovers,
        remote: RemoteCalls,
        setup_notes: list[str],
        cleanup_notes: list[str],
        unreachable_left: list[LeftBehind],
    ) -> None:
        self.queue = queue
        self.workdir = workdir
        self.job_id = job_id
        self._movers = movers
        self._remote = remote
        self._setup_notes = setup_notes
        self._cleanup_notes = cleanup_notes
        self.unreachable_left = unreachable_left
        #: Temporary copies a phase could not remove, with the mover that can: tried again at the cleanup.
        self.temporary_left: list[tuple[Mover, LeftBehind]] = []
        self.record: Optional[JobRecord] = None
        #: What the job's movers hold beyond files (a GCP process group, a worker endpoint), and
        #: what killed jobs left that only a mover can remove.
        self.holdings = JobHoldings(None)

    def left_behind(self) -> tuple[LeftBehind, ...]:
        """What the job made and could not remove: its movers' and the engine's, then what its
        record still holds (a mover left stopping: its worker endpoint, its GCP), once each."""
        found = self.unreachable_left + [item for _, item in self.temporary_left] + self._movers.left_behind()
        seen = {(item.kind, item.location) for item in found}
        held = self.record.held() if self.record is not None else []
        for kind, value in held:
            if kind in LOCAL_KINDS or (kind, value) in seen or value in self.holdings.left_by_dead_jobs(kind):
                continue  # a local one is the next job's on this node; a dead job's is listed by it
            found.append(
                LeftBehind(
                    kind, value, reason="still held when the job ended: the next job of this user here removes it"
                )
            )
        return tuple(found)

    def prepare(self, stack: ExitStack) -> None:
        """Private, and swept of an earlier run's debris (SIGKILL runs no cleanup)."""
        prepared = prepare_workdir(self.workdir)
        log.info("job %s: work dir %s", self.job_id or "(no id)", self.workdir)
        self._setup_notes.extend(self.queue.notes)
        if prepared.made_private:
            self._setup_notes.append(f"work dir {self.workdir} was writable by others: made private (0700)")
        for path in prepared.swept:
            log.warning("removed %s, left by an earlier run in this work dir", path)
            self._setup_notes.append(f"removed {path}, left by an earlier run")
        ledger = Ledger()
        self.record = ledger.record(self.workdir)
        self.holdings = JobHoldings(self.record)
        stack.callback(self.record.close)  # the first registered: closed last
        self._sweep_dead_jobs(ledger)

    def _sweep_dead_jobs(self, ledger: Ledger) -> None:
        """What jobs of this user that are gone (killed: no cleanup ran) left, wherever their
        work dir was: their user proxies and local temporary copies now, the work dirs the
        command made for them whole; their temporary copies on servers are taken over by this
        job's record (removed by ``_remove_earlier_remote_debris``)."""
        assert self.record is not None
        for dead in ledger.dead_records():
            if dead.forged:
                note = f"ignored {dead.forged} line(s) of {dead.path} not written by pilot-movers (forged or damaged)"
                log.warning("%s", note)
                self._setup_notes.append(note)
            for proxy in dead.proxies:
                if remove_proxy(Path(proxy)):
                    self._note_removed(proxy, "a user's proxy")
            scratch = dead.temporary_workdir()
            if scratch and os.path.realpath(scratch) != os.path.realpath(self.workdir) and os.path.isdir(scratch):
                shutil.rmtree(scratch, ignore_errors=True)
                self._note_removed(scratch, "a work dir")
            elif dead.workdir and os.path.isdir(dead.workdir) and dead.workdir != self.workdir:
                for path in sweep_debris(dead.workdir):
                    self._note_removed(path, "a temporary file")
            for url in dead.pending:
                self.record.add(url)  # taken over: removed by this job, or listed
            for kind, value in dead.held:
                if kind in LOCAL_KINDS:
                    removed = remove_local(kind, value)
                    if removed:
                        self._note_removed(removed, kind.replace("-", " "))
                else:  # only its mover can remove it: taken over, for this job's movers or the next job's
                    self.record.hold(kind, value)
                    self.holdings.orphans.setdefault(kind, []).append(value)
            dead.done([], ledger)

    def _note_removed(self, what: str, kind: str) -> None:
        log.warning("removed %s (%s), left by a job that was killed", what, kind)
        self._setup_notes.append(f"removed {what}, left by a job that was killed")

    def remove_earlier_remote(self) -> None:
        """Temporary copies jobs that were killed made and never removed (taken over from their
        records): removed now, local ones directly, remote ones with this job's movers and
        credentials; listed when they cannot be, and tried again at the end."""
        assert self.record is not None
        for url in self.record.pending():
            try:
                location = Location.parse(url)
                if location.is_local:
                    LOCAL.remove(location)
                    self._note_removed(location.path, "a temporary copy")
                    self.record.strike(url)
                    continue
                mover = self._movers.get(self._movers.for_scheme(location.scheme))
            except (MoverError, ValueError) as exc:  # no mover here can reach it
                log.warning("cannot remove %s, left by an earlier run: %s", url, exc)
                self.unreachable_left.append(LeftBehind("temporary-file", url, reason=f"left by an earlier run; {exc}"))
                continue
            try:
                self._remote.namespace(mover.namespace(location), location.server).remove(location)
            except MoverError as exc:
                log.warning("cannot remove %s, left by an earlier run: %s", url, exc)
                item = LeftBehind("temporary-file", url, reason=f"left by an earlier run; {exc}")
                self.temporary_left.append((mover, item))
                continue
            self._note_removed(url, "a temporary copy")
            self.record.strike(url)

    def remove_left(self, budget: Callable[[], float]) -> None:
        """Temporary copies a phase could not remove (their server was down): one more try at the
        end of the job, with the mover still open; what remains is listed in the report."""
        remaining = []
        for mover, item in self.temporary_left:
            try:
                location = Location.parse(item.location)
                left = budget()
                if left <= 0:
                    raise ServiceUnavailable(
                        f"the cleanup's {self.queue.transfer.cleanup_timeout:g} s (cleanup_timeout) ran out"
                    )
                namespace = self._remote.namespace(mover.namespace(location), location.server)
                self._remote.call(
                    location.server, f"removal of {location.url}", namespace.remove, location, timeout=left
                )
            except (MoverError, ValueError) as exc:
                log.warning("still cannot remove %s: %s", item.location, exc)
                remaining.append((mover, item))
            else:
                self._cleanup_notes.append(f"removed {item.location}, left by a failed attempt")
                if self.record is not None:
                    self.record.strike(item.location)
        self.temporary_left = remaining
