#!/usr/bin/env python3
"""A sendJob-style submission: build job parameters with ``job_params.format``, so that mistakes
(a bad mode, a file name that escapes the work dir, sources without destinations) surface here,
at submission, not on the worker node.

    python send_job.py --user mxp --endpoint-in mxp#MXP_BNL_TEST --dir-in /direct/usatlas+u/mxp/ \
        --in xs.sh --endpoint-out mxp#MXP_OU_TEST --dir-out /home/usatlas1 --out xs.sh
"""

from __future__ import annotations

import argparse
import json
import sys

import job_params
from job_params import JobParams, JobParamsError


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--user", help="globus-user (also the default MyProxy user name)")
    parser.add_argument("--endpoint-in")
    parser.add_argument("--endpoint-local")
    parser.add_argument("--endpoint-out")
    parser.add_argument("--in-mode", default="server", choices=["server", "local"])
    parser.add_argument("--out-mode", default="server", choices=["server", "local"])
    parser.add_argument("--dir-in")
    parser.add_argument("--dir-out")
    parser.add_argument("--in", dest="files_in", action="append", default=[], help="an input file (repeat)")
    parser.add_argument("--out", dest="files_out", action="append", default=[], help="an output file (repeat)")
    parser.add_argument("--transformation", help="passed through to the pilot unchanged")
    parser.add_argument("--json", action="store_true", help="print a PanDA-style job description")
    args = parser.parse_args()

    params = JobParams(
        globus_user=args.user,
        endpoint_in=args.endpoint_in,
        endpoint_local=args.endpoint_local,
        endpoint_out=args.endpoint_out,
        in_mode=args.in_mode,
        out_mode=args.out_mode,
        dir_in=args.dir_in,
        dir_out=args.dir_out,
        files_in=tuple(args.files_in),
        files_out=tuple(args.files_out),
        passthrough=(f"transformation={args.transformation}",) if args.transformation else (),
    )
    text = job_params.format(params)
    try:
        # Parse what we built: the same checks the pilot will make, run before submission.
        job_params.parse(text)
    except JobParamsError as error:
        print(f"not submitted: {error}", file=sys.stderr)
        return 2
    print(json.dumps({"jobPars": text, "prodUserID": args.user}) if args.json else text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
