#!/usr/bin/env python3
"""A minimal pilot wrapper: what a pilot author copies to run a job described by its parameters.

    JOB_PARAMS='in-mode=local dir-in=/shared/in files-in=a.dat ...' \
    QUEUE_CONFIG=queues/local.json \
    python pilot_wrapper.py --workdir /scratch/job-42 -- ./run.sh

In a real pilot the job parameters come from the PanDA job description (``jobPars``) and the
queue config from the site's schedconfig; everything else is the same.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

import job_params
import pilot_movers
from pilot_movers.errors import MoverError


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--job-params", default=os.environ.get("JOB_PARAMS"))
    parser.add_argument("--queue-config", default=os.environ.get("QUEUE_CONFIG"))
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--job-id", default=os.environ.get("PANDAID", ""))
    parser.add_argument("payload", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    payload = args.payload[1:] if args.payload[:1] == ["--"] else args.payload
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    params = job_params.parse(args.job_params)
    queue = pilot_movers.QueueConfig.load(args.queue_config)
    try:
        with pilot_movers.Job(params, queue, args.workdir, job_id=args.job_id) as job:
            job.stage_in()
            job.run_payload(payload)
            job.stage_out()
    except MoverError as error:
        # job.report (also on disk) lists every file, attempt and error code for the PanDA server.
        print(f"job failed: {error.name} ({error.code}), retry may help: {error.transient}", file=sys.stderr)
        return 1
    print(f"job succeeded; report in {job.report_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
