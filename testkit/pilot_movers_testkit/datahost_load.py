"""Many pilots at once against one DataHost: each one a whole ``Job`` (its own work dir, its own
datahost mover and session) that downloads its inputs from the DataHost, makes an output from
them, and uploads it back. Then every file is checked where it landed.

The BdbServer++ request server before the DataHost held 20 simultaneous requests and then
dropped and lost some; this drives ten times that many. Used by the load test (threads in one
process) and by ``bench/datahost_load.py`` (several processes of threads, the full figures).

A pilot's "payload" runs in the pilot's thread (the output is its inputs' bytes with its own
index appended), so what is measured is the data movement, not process start-up.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional, Sequence, Union

import job_params
from pilot_movers.checksums import Checksum, file_checksum
from pilot_movers.credentials.bundle import Credentials
from pilot_movers.errors import MoverError
from pilot_movers.job import Job
from pilot_movers.queue_config import QueueConfig
from pilot_movers.values import Status
from pilot_movers_testkit.datahost import DataHost

#: ``"METHOD /path HTTP/1.1" STATUS`` in the DataHost's access log.
_REQUEST_STATUS = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[0-9.]+" (?P<status>\d{3}) ')


@dataclass(frozen=True)
class Pilot:
    """One pilot's files: its inputs on the DataHost (names and adler32) and its output's name."""

    index: int
    inputs: tuple[tuple[str, str], ...]
    output: str


@dataclass
class PilotOutcome:
    index: int
    ok: bool
    seconds: float
    bytes: int = 0
    files: int = 0
    attempts: int = 0
    """Attempts over all its files (one each when nothing was retried)."""
    error: Optional[str] = None
    output_adler32: Optional[str] = None
    """The output's adler32 as the pilot computed it before upload."""


@dataclass
class LoadResult:
    pilots: int
    files_per_pilot: int
    file_size: int
    seconds: float
    outcomes: list[PilotOutcome] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    corrupted: list[str] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)
    retried: int = 0

    @property
    def failed(self) -> list[PilotOutcome]:
        return [o for o in self.outcomes if not o.ok]

    @property
    def files_moved(self) -> int:
        return sum(o.files for o in self.outcomes)

    @property
    def bytes_moved(self) -> int:
        return sum(o.bytes for o in self.outcomes)

    @property
    def files_per_second(self) -> float:
        return self.files_moved / self.seconds if self.seconds else 0.0

    @property
    def mb_per_second(self) -> float:
        return self.bytes_moved / self.seconds / 1e6 if self.seconds else 0.0

    def summary(self) -> dict[str, object]:
        return {
            "pilots": self.pilots,
            "inputs_per_pilot": self.files_per_pilot,
            "outputs_per_pilot": 1,
            "file_size": self.file_size,
            "seconds": round(self.seconds, 3),
            "files_moved": self.files_moved,
            "bytes_moved": self.bytes_moved,
            "files_per_second": round(self.files_per_second, 1),
            "mb_per_second": round(self.mb_per_second, 1),
            "failed_pilots": len(self.failed),
            "lost": len(self.lost),
            "corrupted": len(self.corrupted),
            "server_errors": len(self.server_errors),
            "retried_attempts": self.retried,
        }


def plan_pilots(prefix: str, pilots: int, files_per_pilot: int) -> list[Pilot]:
    return [
        Pilot(
            index,
            tuple((f"{prefix}-p{index:04d}-in{k}.dat", "") for k in range(files_per_pilot)),
            f"{prefix}-p{index:04d}-out.dat",
        )
        for index in range(pilots)
    ]


def seed_inputs(
    pilots: list[Pilot], *, address: str, credentials: Credentials, size: int, scratch: Path, workers: int = 16
) -> list[Pilot]:
    """Upload every pilot's inputs (random bytes) to the DataHost; the pilots with their inputs'
    adler32 filled in."""
    from concurrent.futures import ThreadPoolExecutor

    from pilot_movers.https_datahost.client import DataHostClient

    names = [name for pilot in pilots for name, _ in pilot.inputs]
    local = threading.local()
    scratch.mkdir(parents=True, exist_ok=True)

    def upload(name: str) -> tuple[str, str]:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = DataHostClient(
                address, ca_dir=credentials.ca_dir, cert=credentials.x509_proxy, use_env_proxies=False
            )
        path = scratch / name
        path.write_bytes(os.urandom(size))
        try:
            return name, client.put(path, name).adler32
        finally:
            path.unlink()

    with ThreadPoolExecutor(workers) as pool:
        checksums = dict(pool.map(upload, names))
    return [Pilot(p.index, tuple((n, checksums[n]) for n, _ in p.inputs), p.output) for p in pilots]


def run_pilot(
    pilot: Pilot,
    *,
    address: str,
    user: str,
    credentials: Credentials,
    workroot: Path,
    queue: QueueConfig,
    start: Optional[threading.Barrier] = None,
    start_at: Optional[float] = None,
) -> PilotOutcome:
    """One pilot: a Job that stages its inputs in from the DataHost, writes its output, and
    stages it out to the DataHost. Never raises."""
    where = f"datahost://{address}/{user}/"
    names = ",".join(name for name, _ in pilot.inputs)
    sums = ",".join(f"adler32:{adler}" for _, adler in pilot.inputs)
    params = job_params.parse(
        f"dir-in={where} files-in={names} checksums-in={sums} dir-out={where} files-out={pilot.output}"
    )
    workdir = workroot / f"pilot-{pilot.index:04d}"
    if start is not None:
        start.wait()
    if start_at is not None:
        time.sleep(max(0.0, start_at - time.time()))
    began = time.monotonic()
    outcome = PilotOutcome(pilot.index, ok=False, seconds=0.0)
    try:
        with Job(
            params, queue, workdir, job_id=f"load-{pilot.index}", handle_signals=False, credentials=credentials
        ) as job:
            inputs = job.stage_in()
            outcome.output_adler32 = _make_output(workdir, pilot)
            outputs = job.stage_out()
        results = inputs + outputs
        outcome.ok = all(r.status is Status.DONE for r in results)
        outcome.files = len(results)
        outcome.bytes = sum(r.bytes for r in results)
        outcome.attempts = sum(len(r.attempts) for r in results)
    except MoverError as exc:
        outcome.error = str(exc)
    except Exception as exc:  # noqa: BLE001 - a load test counts every failure, it does not stop
        outcome.error = f"{type(exc).__name__}: {exc}"
    outcome.seconds = time.monotonic() - began
    return outcome


def _make_output(workdir: Path, pilot: Pilot) -> str:
    """The pilot's output: its inputs' bytes, then its index; returns its adler32."""
    adler = 1
    with open(workdir / pilot.output, "wb") as out:
        for name, _ in pilot.inputs:
            with open(workdir / name, "rb") as source:
                for block in iter(lambda: source.read(1 << 20), b""):
                    out.write(block)
                    adler = zlib.adler32(block, adler)
        tail = f"pilot {pilot.index}\n".encode()
        out.write(tail)
        adler = zlib.adler32(tail, adler)
    return Checksum.adler32_of_int(adler).value


def run_pilots_in_threads(
    pilots: list[Pilot],
    *,
    address: Union[str, Sequence[str]],
    user: str,
    credentials: Credentials,
    workroot: Path,
    queue: QueueConfig,
    start_at: Optional[float] = None,
) -> list[PilotOutcome]:
    """Every pilot on a thread of its own, all released at once. Several addresses (front-ends
    of one DataHost): the pilots take them in turn."""
    addresses = [address] if isinstance(address, str) else list(address)
    outcomes: list[Optional[PilotOutcome]] = [None] * len(pilots)
    barrier = threading.Barrier(len(pilots)) if start_at is None else None

    def run(position: int, pilot: Pilot) -> None:
        outcomes[position] = run_pilot(
            pilot,
            address=addresses[position % len(addresses)],
            user=user,
            credentials=credentials,
            workroot=workroot,
            queue=queue,
            start=barrier,
            start_at=start_at,
        )

    threads = [
        threading.Thread(target=run, args=(i, p), name=f"pilot-{p.index}", daemon=True) for i, p in enumerate(pilots)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [
        o if o is not None else PilotOutcome(p.index, False, 0.0, error="no outcome") for o, p in zip(outcomes, pilots)
    ]


def check(
    result: LoadResult,
    pilots: list[Pilot],
    *,
    storage: Path,
    workroot: Path,
    access_log: Path,
    log_offset: int,
    more_logs: Sequence[tuple[Path, int]] = (),
) -> LoadResult:
    """Fill in what was lost, corrupted, retried, and every 5xx the server answered (in
    ``access_log`` from ``log_offset`` on, and in each other front-end's ``(log, offset)``)."""
    by_index = {o.index: o for o in result.outcomes}
    for pilot in pilots:
        outcome = by_index.get(pilot.index)
        for name, adler in pilot.inputs:
            local = workroot / f"pilot-{pilot.index:04d}" / name
            if not local.exists():
                result.lost.append(f"input {name} of pilot {pilot.index}")
            elif file_checksum(local).value != adler:
                result.corrupted.append(f"input {name} of pilot {pilot.index}")
        remote = storage / pilot.output
        if not remote.exists():
            result.lost.append(f"output {pilot.output}")
        elif outcome is None or file_checksum(remote).value != outcome.output_adler32:
            result.corrupted.append(f"output {pilot.output}")
    result.retried = sum(o.attempts - o.files for o in result.outcomes if o.files)
    for log, offset in [(access_log, log_offset), *more_logs]:
        with open(log, "rb") as handle:
            handle.seek(offset)
            lines = handle.read().decode("utf-8", "replace").splitlines()
        for line in lines:
            found = _REQUEST_STATUS.search(line)
            if found and int(found.group("status")) >= 500:
                result.server_errors.append(line)
    return result


def run_and_check(
    pilots: list[Pilot],
    servers: Sequence[DataHost],
    *,
    user: str,
    credentials: Credentials,
    workroot: Path,
    queue: QueueConfig,
    file_size: int,
) -> LoadResult:
    """Run every pilot at once through ``servers`` (front-ends of one DataHost, taken in turn),
    then check every file and every answer in each server's access log."""
    offsets = [server.access_log.stat().st_size for server in servers]
    started = time.monotonic()
    outcomes = run_pilots_in_threads(
        pilots,
        address=[server.address for server in servers],
        user=user,
        credentials=credentials,
        workroot=workroot,
        queue=queue,
    )
    inputs = len(pilots[0].inputs) if pilots else 0
    result = LoadResult(len(pilots), inputs, file_size, time.monotonic() - started, outcomes)
    time.sleep(0.5)  # Apache writes its access log after each answer
    return check(
        result,
        pilots,
        storage=user_storage(servers[0].storage_dir, pilots[0].inputs[0][0]),
        workroot=workroot,
        access_log=servers[0].access_log,
        log_offset=offsets[0],
        more_logs=list(zip((server.access_log for server in servers[1:]), offsets[1:])),
    )


def result_to_json(result: LoadResult) -> str:
    data = result.summary()
    data["failures"] = [asdict(o) for o in result.failed][:20]
    data["lost_files"] = result.lost[:20]
    data["corrupted_files"] = result.corrupted[:20]
    data["server_error_lines"] = result.server_errors[:20]
    return json.dumps(data, indent=2)


def user_storage(storage_dir: Path, holding: str) -> Path:
    """The user directory (named by the user's id) under a DataHost's storage that holds the
    file ``holding``."""
    found = [p for p in storage_dir.iterdir() if p.is_dir() and (p / holding).exists()]
    if len(found) != 1:
        raise RuntimeError(f"expected one user directory in {storage_dir} holding {holding}, found {len(found)}")
    return found[0]
