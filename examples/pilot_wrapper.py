#!/usr/bin/env python3
"""A minimal pilot wrapper: what a pilot author copies to run a job described by its parameters.

    JOB_PARAMS='in-mode=local dir-in=/shared/in files-in=a.dat ...' \
    QUEUE_CONFIG=queues/local.json \
    python pilot_wrapper.py --workdir /scratch/job-42 -- ./run.sh

In a real pilot the job parameters come from the PanDA job description (``jobPars``) and the
queue config from the site's schedconfig; everything else is the same.

Exit status, as ``pilot-movers run``: 0 success; 1 the job failed and a retry will not help;
2 bad job parameters or queue config (nothing was made); 3 the job failed and a retry may help;
128+N the job was stopped by signal N. The job report (on disk) lists every file, attempt and
error code for the PanDA server.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

import job_params
import pilot_movers
from pilot_movers.errors import JobTerminated, MoverError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_RETRYABLE = 0, 1, 2, 3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--job-params", default=os.environ.get("JOB_PARAMS"), help="default: $JOB_PARAMS")
    parser.add_argument("--queue-config", default=os.environ.get("QUEUE_CONFIG"), help="default: $QUEUE_CONFIG")
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--job-id", default=os.environ.get("PANDAID", ""))
    parser.add_argument("payload", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    payload = args.payload[1:] if args.payload[:1] == ["--"] else args.payload
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    # An empty job is not a job: an unset JOB_PARAMS is a broken submission, not "no files".
    if not (args.job_params or "").strip():
        return refuse("no job parameters: set JOB_PARAMS or give --job-params")
    if not args.queue_config:
        return refuse("no queue config: set QUEUE_CONFIG or give --queue-config")
    if not payload:
        return refuse("no payload command: give it after --")

    # Parsing and loading are inside the error handling: a bad token or a typo in the queue
    # config is an exit status the pilot understands, not a traceback.
    try:
        params = job_params.parse(args.job_params)
        queue = pilot_movers.QueueConfig.load(args.queue_config)
    except MoverError as error:  # JobParamsError is one
        return refuse(str(error))

    try:
        with pilot_movers.Job(params, queue, args.workdir, job_id=args.job_id) as job:
            job.stage_in()
            job.run_payload(payload)
            job.stage_out()
    except MoverError as error:
        print(f"job failed: {error.name} ({error.code}): {error.message}", file=sys.stderr)
        if isinstance(error, JobTerminated):
            return 128 + int(getattr(signal, error.signal_name, signal.SIGTERM))
        return EXIT_RETRYABLE if error.transient else EXIT_FAILED
    print(f"job succeeded; report in {job.report_path}")
    return EXIT_OK


def refuse(message: str) -> int:
    print(f"pilot_wrapper: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
