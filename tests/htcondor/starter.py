"""What HTCondor's starter does around a multi-file plugin, for the tests: write the input ads
(one per file), pre-allocate the output file with spaces, run the command with ``-infile``,
``-outfile`` (and ``-upload``) and the job's environment, read the result ads back with the
``htcondor`` wheel's ``classad2``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import classad2

#: The starter fills the output file with spaces first (so a plugin on a full disk can answer).
PREALLOCATED = 16 * 1204


def plugin_program() -> str:
    program = shutil.which("pilot-movers-condor-plugin", path=os.path.dirname(sys.executable))
    assert program, "the pilot-movers-condor-plugin console script is installed beside this Python"
    return program


@dataclass
class Call:
    """One plugin call as the starter makes it, in ``sandbox`` (the job's scratch dir)."""

    sandbox: Path
    files: Sequence[tuple[str, str]]  # (Url, LocalFileName)
    upload: bool = False
    env: Optional[dict[str, str]] = None
    job_ad: Optional[dict[str, Any]] = None

    def prepare(self) -> list[str]:
        infile = self.sandbox / ".pilot-movers-condor-plugin.in"
        outfile = self.sandbox / ".pilot-movers-condor-plugin.in.out"
        ads = [classad2.ClassAd({"Url": url, "LocalFileName": local}) for url, local in self.files]
        infile.write_text("".join(str(ad) for ad in ads))
        outfile.write_text(" " * PREALLOCATED)
        self.outfile = outfile
        argv = [plugin_program(), "-infile", str(infile), "-outfile", str(outfile)]
        return argv + (["-upload"] if self.upload else [])

    def environment(self) -> dict[str, str]:
        env = dict(os.environ if self.env is None else self.env)
        if self.job_ad is not None:
            path = self.sandbox / ".job.ad"
            path.write_text(classad2.ClassAd(self.job_ad).printOld())
            env["_CONDOR_JOB_AD"] = str(path)
        return env

    def run(self, timeout: float = 300) -> tuple[int, list[Any], str]:
        """The exit status, the result ads in order, stderr."""
        done = subprocess.run(
            self.prepare(), env=self.environment(), capture_output=True, text=True, timeout=timeout, cwd=self.sandbox
        )
        return done.returncode, self.results(), done.stderr

    def start(self) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.prepare(), env=self.environment(), stderr=subprocess.PIPE, text=True, cwd=self.sandbox
        )

    def results(self) -> list[Any]:
        return list(classad2.parseAds(self.outfile.read_text(), classad2.ParserType.New))
