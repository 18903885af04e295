"""``pilot-movers-condor-plugin``: HTCondor's multi-file transfer plugin protocol (version 4)
over the movers.

    pilot-movers-condor-plugin -classad
    pilot-movers-condor-plugin -infile IN -outfile OUT [-upload] [-diagnostic]

The files of one call are grouped by the mover that serves their URL (and the ``$_CONDOR_CREDS``
credential the URL names); each group goes through the engine at once, with one mover opened
for it (``copies.run_copies``): verified, placed atomically, retried, under the engine's clocks.
A file already at its destination is replaced (a job run again after an eviction moves its files
again). SIGTERM, SIGINT or SIGQUIT stop the call: what it made is removed, every file not done
gets a failed result ad, and the exit status is 128+N. Otherwise: 0 when every file moved, 1
when any failed (HTCondor holds or retries the job by each file's ``TransferErrorData``).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from types import FrameType
from typing import Any, Mapping, Optional, Sequence

from pilot_movers.browse import mover_for
from pilot_movers.copies import CopyPlan, run_copies
from pilot_movers.credentials.bundle import Credentials
from pilot_movers.errors import JobTerminated, MoverError, Phase
from pilot_movers.integrations.htcondor.classads import long_form, read_ads, write_ads
from pilot_movers.integrations.htcondor.condor_creds import with_service_token
from pilot_movers.integrations.htcondor.file_requests import FileRequest, file_request, is_file_ad
from pilot_movers.integrations.htcondor.job_ad import job_ad_settings
from pilot_movers.integrations.htcondor.results import failed, reported
from pilot_movers.queue_config import QueueConfig
from pilot_movers.registry import ResolvedMover, describe_movers
from pilot_movers.values import FileReport, FileSpec
from pilot_movers.version import __version__

log = logging.getLogger("pilot_movers.htcondor")

EXIT_OK = 0
EXIT_FAILED = 1
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)
#: The starter moves local files itself (and HTCondor's curl plugin claims file://).
NOT_CLAIMED = ("file",)


def supported_methods() -> list[str]:
    """The URL schemes of the movers that can run here, in mover name order."""
    methods: list[str] = []
    for info in describe_movers():
        if info.usable:
            methods += [scheme for scheme in info.schemes if scheme not in NOT_CLAIMED and scheme not in methods]
    return methods


def capabilities() -> dict[str, Any]:
    return {
        "MultipleFileSupport": True,
        "PluginVersion": __version__,
        "PluginType": "FileTransfer",
        "ProtocolVersion": 4,
        "SupportedMethods": ",".join(supported_methods()),
    }


class _Stopped:
    """Outside the engine's own handlers (reading the ads, opening a mover): a stop signal ends
    the call at once, with every file not done reported."""

    def __init__(self) -> None:
        self.error: Optional[JobTerminated] = None
        self._saved: dict[int, Any] = {}
        self._raising = True

    def quiet(self) -> None:
        """From now on a signal is only recorded (the result ads are being written)."""
        self._raising = False

    def install(self) -> None:
        for number in STOP_SIGNALS:
            self._saved[number] = signal.signal(number, self._on_signal)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)

    def restore(self) -> None:
        for number, handler in self._saved.items():
            signal.signal(number, handler)

    def _on_signal(self, number: int, frame: Optional[FrameType]) -> None:
        if self.error is None:
            self.error = JobTerminated(signal.Signals(number).name)
            if self._raising:
                raise self.error


def transfer(infile: str, outfile: str, *, upload: bool, environ: Mapping[str, str]) -> int:
    """Move the files ``infile`` lists; their result ads go to ``outfile``; the exit status."""
    phase = Phase.STAGE_OUT if upload else Phase.STAGE_IN
    stopped = _Stopped()
    stopped.install()
    requests: list[FileRequest] = []
    results: dict[int, dict[str, Any]] = {}
    signal_name: Optional[str] = None
    unusable = False
    try:
        settings = job_ad_settings(environ)
        queue = QueueConfig.load(settings.queue_config) if settings.queue_config else None
        requests = [file_request(ad, phase, settings.checksums) for ad in read_ads(infile) if is_file_ad(ad)]
        groups = _groups(requests, phase, queue, results)
        base = Credentials.from_environment(environ)
        for (mover, credential), indexes in groups.items():
            group = [requests[i] for i in indexes]
            signal_name = _run_group(
                mover,
                credential,
                group,
                indexes,
                phase=phase,
                queue=queue,
                base=base,
                environ=environ,
                results=results,
            )
            if signal_name:
                break
    except JobTerminated as exc:
        signal_name = exc.signal_name
    except MoverError as exc:  # the job ad, the queue config or the input file cannot be used
        print(f"pilot-movers-condor-plugin: {exc}", file=sys.stderr)
        unusable = True
        for index, request in enumerate(requests):
            results.setdefault(index, failed(request, phase, exc.bind(phase=phase)))
    stopped.quiet()
    try:
        signal_name = signal_name or (stopped.error.signal_name if stopped.error else None)
        return _finish(
            requests, results=results, phase=phase, outfile=outfile, signal_name=signal_name, unusable=unusable
        )
    finally:
        stopped.restore()


def _finish(
    requests: Sequence[FileRequest],
    *,
    results: dict[int, dict[str, Any]],
    phase: Phase,
    outfile: str,
    signal_name: Optional[str],
    unusable: bool,
) -> int:
    """A result ad for every file (a stopped call's files not done: failed, retryable) written to
    ``outfile``; the exit status."""
    if signal_name and requests:
        error = JobTerminated(signal_name, phase=phase, transient=True)
        for index, request in enumerate(requests):
            results.setdefault(index, failed(request, phase, error))
    ads = [results[index] for index in range(len(requests))]
    write_ads(outfile, ads)
    if signal_name:
        return 128 + int(getattr(signal, signal_name))
    return EXIT_OK if not unusable and all(ad["TransferSuccess"] for ad in ads) else EXIT_FAILED


def _groups(
    requests: Sequence[FileRequest], phase: Phase, queue: Optional[QueueConfig], results: dict[int, dict[str, Any]]
) -> dict[tuple[ResolvedMover, Optional[str]], list[int]]:
    """The requests by (mover, credential); an unusable one gets its failed result at once."""
    groups: dict[tuple[ResolvedMover, Optional[str]], list[int]] = {}
    for index, request in enumerate(requests):
        if request.error is not None or request.remote is None:
            results[index] = failed(request, phase, request.error or MoverError("unusable request"))
            continue
        try:
            mover = mover_for(request.remote, queue, None, phase)
        except MoverError as exc:
            results[index] = failed(request, phase, exc.bind(phase=phase, endpoint=request.remote.server))
            continue
        groups.setdefault((mover, request.credential), []).append(index)
    return groups


def _run_group(
    mover: ResolvedMover,
    credential: Optional[str],
    requests: Sequence[FileRequest],
    indexes: Sequence[int],
    *,
    phase: Phase,
    queue: Optional[QueueConfig],
    base: Credentials,
    environ: Mapping[str, str],
    results: dict[int, dict[str, Any]],
) -> Optional[str]:
    """One group through one engine; a result ad for each of its files it reached. The name of
    the signal that stopped it, if one did."""
    specs = tuple(request.spec for request in requests if request.spec is not None)
    try:
        credentials = base if credential is None else with_service_token(base, credential, environ)
        outcome = run_copies(CopyPlan(specs, phase, mover), queue=queue, overwrite=True, credentials=credentials)
    except MoverError as exc:  # the mover could not be opened (its credentials, a missing library)
        if isinstance(exc, JobTerminated):
            raise
        for index, request in zip(indexes, requests):
            results[index] = failed(request, phase, exc.bind(phase=phase, endpoint=_server(request)))
        return None
    by_spec: dict[FileSpec, FileReport] = {report.spec: report for report in outcome.reports}
    for index, request in zip(indexes, requests):
        report = by_spec.get(request.spec) if request.spec is not None else None
        if report is not None:
            results[index] = reported(request, phase, report)
    return outcome.stopped.signal_name if outcome.stopped is not None else None


def _server(request: FileRequest) -> Optional[str]:
    return request.remote.server if request.remote is not None else None


def _arguments(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="pilot-movers-condor-plugin",
        allow_abbrev=False,
        description="HTCondor multi-file transfer plugin over pilot-movers' movers.",
    )
    parser.add_argument("-classad", action="store_true", help="print the plugin's capabilities and exit")
    parser.add_argument("-infile", metavar="IN", help="the ClassAds of the files to move")
    parser.add_argument("-outfile", metavar="OUT", help="where the result ClassAds go")
    parser.add_argument("-upload", action="store_true", help="local files to URLs (default: URLs to local files)")
    parser.add_argument("-diagnostic", action="store_true", help="log each file on stderr")
    args = parser.parse_args(argv)
    if not args.classad and not (args.infile and args.outfile):
        parser.error("give -classad, or -infile IN -outfile OUT")
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _arguments(argv)
    logging.basicConfig(
        level=logging.INFO if args.diagnostic else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    try:
        if args.classad:
            sys.stdout.write(long_form(capabilities()))
            return EXIT_OK
        return transfer(args.infile, args.outfile, upload=args.upload, environ=os.environ)
    except MoverError as exc:  # classad2 missing, say
        print(f"pilot-movers-condor-plugin: {exc.message}", file=sys.stderr)
        return EXIT_FAILED


def console_main() -> None:
    sys.exit(main())
