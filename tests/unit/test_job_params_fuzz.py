"""10,000 generated job parameter strings: only JobParamsError escapes, and nothing accepted can
leave the work dir, forge a log line or name one of the library's own files."""

from __future__ import annotations

import posixpath
import re
import shlex
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import job_params
from job_params import JobParamsError
from pilot_movers import QueueConfig, plan
from pilot_movers.errors import Phase
from pilot_movers.reserved import is_reserved
from tests.doubles import StandInCatalog

WORKDIR = "/work/job"
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def any_mover() -> StandInCatalog:
    """Every scheme is served (the planner's own rules are what is exercised here)."""
    return StandInCatalog(lambda name: (), lambda scheme: f"mover-for-{scheme}")


hostile = st.sampled_from(
    [
        "..",
        ".",
        "../x",
        "a/b",
        "/etc/passwd",
        "a\nb",
        "a\rb",
        "x\x1b[31m",
        " a",
        "a ",
        "\t",
        "a\x00b",
        "é" * 130,
        "x" * 256,
        "a,,b",
        ",",
        "a,",
        "ok.root",
        "%2e%2e",
        "~",
        "$HOME",
        "a\u2028b",
        "a\x85b",
        ".pilot-movers-journal",
        "pilot_movers_report.json",
        ".pilot-movers-proxy-0a1b2c3d4e5f.pem",
        "out.root.pilot-movers-a1-0a1b2c3d.part",
        "x.pilot-movers-y",
    ]
)
values = st.one_of(
    hostile,
    st.text(min_size=0, max_size=40),
    st.text(alphabet=string.printable, min_size=0, max_size=40),
    st.builds(lambda a, b: f"{a},{b}", hostile, hostile),
    st.builds(lambda e, p: f"{e}:{p}", st.sampled_from(["E", "mxp#EP", "a b", "E\n"]), hostile),
    st.builds(lambda s: f"gsiftp://se:2811/{s}", hostile),
    st.builds(lambda s: f"ad:{s}", st.text(alphabet="0123456789abcdefxyz", max_size=10)),
)
keys = st.sampled_from(sorted(job_params.parser.KEYS) + sorted(job_params.parser.FLAGS))
tokens = st.one_of(
    st.builds(lambda k, v: f"{k}={v}", keys, values),
    st.builds(lambda k, v: f"{k} {shlex.quote(v)}", st.sampled_from(sorted(job_params.parser.FLAGS)), values),
    st.text(max_size=20),
)
texts = st.one_of(
    st.lists(tokens, max_size=10).map(lambda ts: " ".join(shlex.quote(t) for t in ts)),
    st.lists(tokens, max_size=10).map(" ".join),
    st.text(max_size=200),
)


@settings(max_examples=10_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts)
def test_generated_job_parameters_fail_clearly_or_stay_in_the_work_dir_and_out_of_the_log(text):
    try:
        params = job_params.parse(text)
    except JobParamsError as exc:
        assert exc.code == 9001 and exc.token is not None and exc.reason
        assert "\n" not in str(exc) and "\r" not in str(exc), "the error's own line cannot be forged"
        return
    names = [*params.files_in, *params.files_out, *params.data]
    names += [posixpath.basename(s.rsplit(":", 1)[-1]) for s in params.stagein_sources + params.stageout_sources]
    for name in names:
        assert not CONTROL.search(name), name
        assert name == name.strip() and name not in ("", ".", "..") and "/" not in name, name
        assert not is_reserved(name), f"{name}: one of the library's own names"
    queue = QueueConfig(se="gsiftp://se.example.org:2811/")
    for phase in (Phase.STAGE_IN, Phase.STAGE_OUT):
        try:
            planned = plan(params, queue, WORKDIR, phase, catalog=any_mover())
        except JobParamsError:
            continue
        for item in planned:
            for location in (item.spec.source, item.spec.destination):
                if location.is_local and posixpath.dirname(location.path).startswith(WORKDIR):
                    assert posixpath.dirname(location.path) == WORKDIR, location
            local_end = item.spec.destination if phase is Phase.STAGE_IN else item.spec.source
            if local_end.is_local and not (item.spec.source.is_local and item.spec.destination.is_local):
                assert posixpath.dirname(local_end.path) == WORKDIR, local_end
            assert not CONTROL.search(item.spec.source.url + item.spec.destination.url)
