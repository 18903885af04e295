"""job_params: both syntaxes, every parse error, cross-token checks and round trips."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import job_params
from job_params import JobParams, JobParamsError
from pilot_movers import Checksum, MoverError

EXAMPLE = (
    "globus-user=mxp globus-endpoint-in=mxp#MXP_BNL_TEST\n"
    "globus-endpoint-local=mxp#MXP_BNL_TEST   globus-endpoint-out=mxp#MXP_OU_TEST in-mode=server\n"
    "\tdir-in=/direct/usatlas+u/mxp/ files-in=xs.sh out-mode=server dir-out=/home/usatlas1 files-out=xs.sh"
)


def test_parses_the_key_value_example_across_newlines_and_tabs():
    params = job_params.parse(EXAMPLE)
    assert params.globus_user == "mxp"
    assert params.endpoint_in == "mxp#MXP_BNL_TEST"
    assert params.endpoint_local == "mxp#MXP_BNL_TEST"
    assert params.endpoint_out == "mxp#MXP_OU_TEST"
    assert (params.in_mode, params.out_mode) == ("server", "server")
    assert params.dir_in == "/direct/usatlas+u/mxp/"
    assert params.dir_out == "/home/usatlas1"
    assert params.files_in == ("xs.sh",)
    assert params.files_out == ("xs.sh",)
    assert params.passthrough == ()


def test_shell_quoting_is_honoured():
    params = job_params.parse("dir-in='/data/with space/' files-in=\"a b.root\",c.root")
    assert params.dir_in == "/data/with space/"
    assert params.files_in == ("a b.root", "c.root")


def test_sendjob_flags_repeat_and_accept_comma_lists_and_separate_values():
    params = job_params.parse(
        "--StageinGOsrc=EP1:/in/a.dat --StageinGOsrc EP1:/in/b.dat,EP1:/in/c.dat "
        "--StageinGOdest=WN#ep:/work/ --Data=out1,out2 --OutputGO=DST:/results/ --WorkingendpointGO=WN#ep"
    )
    assert params.stagein_sources == ("EP1:/in/a.dat", "EP1:/in/b.dat", "EP1:/in/c.dat")
    assert params.stagein_destinations == ("WN#ep:/work/",)
    assert params.data == ("out1", "out2")
    assert params.output_destinations == ("DST:/results/",)
    assert params.working_endpoint == "WN#ep"


def test_a_stage_in_source_may_come_without_a_destination():
    """The 2012 jobs omit --StageinGOdest: the inputs then land in the work dir."""
    params = job_params.parse(
        "--StageinGOsrc=SITE1:/home/osg_data/panda/0064.file --OutputGO=SITE1:/home/osg_data/panda/ "
        "--WorkingendpointGO=OSGDEV --Data=10mb-file.bin"
    )
    assert params.stagein_sources == ("SITE1:/home/osg_data/panda/0064.file",)
    assert params.stagein_destinations == ()
    assert job_params.parse(job_params.format(params)) == params


def test_unknown_tokens_are_kept_in_order():
    params = job_params.parse("-v dir-in=/d files-in=a transformation=run.sh --maxEvents=10 'two words'")
    assert params.passthrough == ("-v", "transformation=run.sh", "--maxEvents=10", "two words")
    assert job_params.parse(job_params.format(params)) == params


@pytest.mark.parametrize(
    ("text", "token", "reason"),
    [
        ("in-mode=tape", "in-mode=tape", "unknown mode 'tape'"),
        ("out-mode=", "out-mode=", "empty value"),
        ("files-in=a,,b", "files-in=a,,b", "empty file name"),
        ("files-in=a,", "files-in=a,", "empty file name"),
        ("files-out=sub/x.root", "files-out=sub/x.root", "would escape the work dir"),
        ("files-in=..", "files-in=..", "would escape the work dir"),
        ("files-in=../../etc/passwd", "files-in=../../etc/passwd", "would escape the work dir"),
        ("--Data=../x --OutputGO=E:/d/", "--Data=../x", "would escape the work dir"),
        ("dir-in=/a dir-in=/b", "dir-in=/b", "duplicate key dir-in"),
        ("files-in=a,b,a", "files-in=a,b,a", "listed twice"),
        ("files-in", "files-in", "has no value"),
        (
            "--StageinGOsrc=E:/a --StageinGOsrc=E:/b --StageinGOdest=D:/1 --StageinGOdest=D:/2 --StageinGOdest=D:/3",
            "--StageinGOdest",
            "3 destination(s) for 2 --StageinGOsrc source(s)",
        ),
        ("--StageoutGOsrc=E:/a", "--StageoutGOdest", "0 destination(s) for 1 --StageoutGOsrc"),
        ("--Data=a,b,c --OutputGO=D:/x/ --OutputGO=D:/y/", "--OutputGO", "2 destination(s) for 3 --Data"),
        ("--StageinGOdest=D:/x/", "--StageinGOdest", "without --StageinGOsrc"),
        ("--StageinGOsrc=not-globus --StageinGOdest=D:/x/", "--StageinGOsrc=not-globus", "not a Globus ENDPOINT:/path"),
        ("--StageinGOsrc=E:/dir/ --StageinGOdest=D:/x/", "--StageinGOsrc=E:/dir/", "names a directory"),
        ("globus-endpoint-in=bad/name", "globus-endpoint-in=bad/name", "not a Globus endpoint"),
        ("--WorkingendpointGO=A --WorkingendpointGO=B", "--WorkingendpointGO=B", "twice with different values"),
        ("files-in='unbalanced", "files-in='unbalanced", "cannot split into tokens"),
        ("dir-in=/d files-in='a\nb'", "files-in=a\nb", "control character '\\n'"),
        ("dir-in=/d files-in='x\x1b[2Jy'", "files-in=x\x1b[2Jy", "control character '\\x1b'"),
        ("dir-in=/d files-in='a\u2028b'", "files-in=a\u2028b", "control character"),
        ("globus-endpoint-in='EP\n'", "globus-endpoint-in=EP\n", "control character"),
        ("--StageinGOsrc='E:/a\n' --StageinGOdest=D:/x/", "--StageinGOsrc=E:/a\n", "control character"),
        ("dir-in=/d 'files-in= a.root'", "files-in= a.root", "white space around it"),
        ("dir-in=/d 'files-in=a.root '", "files-in=a.root ", "white space around it"),
        ("dir-in=/d files-in=" + "x" * 256, "files-in=" + "x" * 256, "longer than 255 bytes"),
        ("dir-in=/d files-in=a,b checksums-in=ad:1", "checksums-in=adler32:00000001", "1 value(s) for 2 files-in"),
        ("dir-in=/d files-in=a checksums-in=crc32:1", "checksums-in=crc32:1", "unknown checksum algorithm"),
        ("dir-in=/d files-in=a checksums-in=ad:xyz", "checksums-in=ad:xyz", "not a valid adler32 checksum"),
        ("dir-in=/d files-in=a sizes-in=1e3", "sizes-in=1e3", "whole numbers of bytes"),
        ("dir-in=/d files-in=a,b sizes-in=3", "sizes-in=3", "1 value(s) for 2 files-in"),
    ],
)
def test_bad_input_names_the_token_and_why(text, token, reason):
    with pytest.raises(JobParamsError) as caught:
        job_params.parse(text)
    assert caught.value.token == token
    assert reason in caught.value.reason
    assert repr(token) in str(caught.value), "the token is named, escaped: no log line can be forged"
    assert caught.value.code == 9001


def test_a_job_parameter_error_is_a_mover_error_so_one_except_catches_every_failure():
    with pytest.raises(MoverError) as caught:
        job_params.parse("in-mode=tape")
    assert isinstance(caught.value, JobParamsError)
    assert (caught.value.code, caught.value.name, caught.value.transient) == (9001, "BADJOBPARAMETERS", False)


@pytest.mark.parametrize(
    ("text", "token", "reason"),
    [
        ("files-in=f", "files-in=f", "dir-in is not"),
        ("files-out=a,b", "files-out=a,b", "dir-out is not"),
        ("in-mode=local dir-in=relative files-in=f", "dir-in=relative", "absolute local path"),
        ("out-mode=local dir-out=gsiftp://se/x", "dir-out=gsiftp://se/x", "needs a local directory"),
        ("dir-in=gsiftp://se/data?x=1 files-in=f", "dir-in=gsiftp://se/data?x=1", "query string"),
        ("dir-in=root:///data files-in=f", "dir-in=root:///data", "has no host"),
    ],
)
def test_directories_are_checked_at_parse_time(text, token, reason):
    with pytest.raises(JobParamsError) as caught:
        job_params.parse(text)
    assert caught.value.token == token
    assert reason in caught.value.reason


# -- round trips ---------------------------------------------------------------------------

names = st.text(alphabet=string.ascii_letters + string.digits + "._-+ ", min_size=1, max_size=12).filter(
    lambda s: s.strip() == s and s and s not in (".", "..")
)
file_lists = st.lists(names, min_size=1, max_size=4, unique=True).map(tuple)
endpoints = st.text(alphabet=string.ascii_letters + string.digits + "#_-.", min_size=1, max_size=16)
paths = st.lists(
    st.text(alphabet=string.ascii_letters + string.digits + "_-+.", min_size=1, max_size=8), min_size=1, max_size=3
).map(lambda parts: "/" + "/".join(parts))
globus_dirs = st.builds(lambda e, p: f"{e}:{p}/", endpoints, paths)
globus_files = st.builds(lambda e, p, n: f"{e}:{p}/{n}", endpoints, paths, names.filter(lambda n: "," not in n))
texts = st.text(
    alphabet=string.ascii_letters + string.digits + string.punctuation + " ", min_size=1, max_size=20
).filter(lambda s: s.strip())
checksums = st.one_of(
    st.builds(lambda v: Checksum("adler32", f"{v:08x}"), st.integers(0, 2**32 - 1)),
    st.builds(lambda v: Checksum("md5", f"{v:032x}"), st.integers(0, 2**128 - 1)),
)


def _passes_through(token: str) -> bool:
    """A token meant for the payload: not a key or flag, nor a near miss of one (the parser
    refuses those as typos)."""
    name = token.partition("=")[0]
    if name in job_params.parser.KEYS or name in job_params.parser.FLAGS:
        return False
    try:
        job_params.parse(job_params.format(JobParams(passthrough=(token,))))
    except JobParamsError:
        return False
    return True


passthrough_tokens = st.text(alphabet=string.ascii_letters + string.digits + "-=_ '\"", min_size=1, max_size=10).filter(
    _passes_through
)


@st.composite
def job_params_values(draw):
    def maybe(strategy):
        return draw(st.one_of(st.none(), strategy))

    n_in = draw(st.integers(0, 3))
    files_in = draw(
        st.one_of(
            st.just(()),
            file_lists.map(lambda t: tuple(n.replace(",", "") or "x" for n in t)).filter(
                lambda t: len(set(t)) == len(t)
            ),
        )
    )
    files_out = draw(
        st.one_of(
            st.just(()),
            st.lists(names.filter(lambda n: "," not in n), min_size=1, max_size=3, unique=True).map(tuple),
        )
    )
    data = draw(st.lists(names.filter(lambda n: "," not in n), max_size=3, unique=True).map(tuple))
    expected_checksums = tuple(draw(checksums) for _ in files_in) if files_in and draw(st.booleans()) else ()
    expected_sizes = tuple(draw(st.integers(0, 2**40)) for _ in files_in) if files_in and draw(st.booleans()) else ()
    return JobParams(
        checksums_in=expected_checksums,
        sizes_in=expected_sizes,
        globus_user=maybe(texts),
        endpoint_in=maybe(endpoints),
        endpoint_local=maybe(endpoints),
        endpoint_out=maybe(endpoints),
        in_mode=maybe(st.sampled_from(["server", "local"])),
        out_mode=maybe(st.sampled_from(["server", "local"])),
        files_in=files_in,
        dir_in=draw(paths) if files_in else maybe(paths),
        dir_out=draw(paths) if files_out else maybe(paths),
        files_out=files_out,
        stagein_sources=tuple(draw(globus_files) for _ in range(n_in)),
        stagein_destinations=tuple(draw(globus_dirs) for _ in range(min(n_in, draw(st.sampled_from([1, n_in]))))),
        data=data,
        output_destinations=(draw(globus_dirs),) if data else (),
        working_endpoint=maybe(endpoints),
        myproxy_server=maybe(st.builds(lambda h, p: f"{h}:{p}", endpoints, st.integers(1, 65535))),
        passthrough=tuple(draw(st.lists(passthrough_tokens, max_size=3))),
    )


@settings(max_examples=300, deadline=None)
@given(job_params_values())
def test_format_then_parse_gives_back_the_same_value(params):
    assert job_params.parse(job_params.format(params)) == params


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.builds(lambda k, v: f"{k}={v}", st.sampled_from(sorted(job_params.parser.KEYS)), texts),
            st.builds(lambda k, v: f"{k}={v}", st.sampled_from(sorted(job_params.parser.FLAGS)), globus_files),
            passthrough_tokens,
        ),
        max_size=8,
    )
)
def test_any_text_either_fails_clearly_or_round_trips(tokens):
    import shlex

    text = " ".join(shlex.quote(t) for t in tokens)
    try:
        params = job_params.parse(text)
    except JobParamsError as exc:
        assert exc.token and exc.reason
        return
    formatted = job_params.format(params)
    assert job_params.parse(formatted) == params
    assert job_params.format(job_params.parse(formatted)) == formatted


def test_expected_checksums_and_sizes_parse_per_input_and_round_trip():
    params = job_params.parse("dir-in=/d files-in=a,b checksums-in=AD:9600001,md5:" + "F" * 32 + " sizes-in=10,0")
    assert params.checksums_in == (Checksum("adler32", "09600001"), Checksum("md5", "f" * 32))
    assert params.sizes_in == (10, 0)
    assert "checksums-in=adler32:09600001,md5:" + "f" * 32 in job_params.format(params)
    assert job_params.parse(job_params.format(params)) == params


def test_format_writes_readable_canonical_text():
    params = job_params.parse(EXAMPLE)
    assert job_params.format(params) == " ".join(EXAMPLE.split())


@pytest.mark.parametrize(
    "name",
    [
        ".pilot-movers-journal",
        "pilot_movers_report.json",
        ".pilot-movers-proxy-0a1b2c3d4e5f.pem",
        "hist.root.pilot-movers-a1-0a1b2c3d.part",
        ".pilot-movers-space-0a1b2c3d.part",
    ],
)
@pytest.mark.parametrize("key", ["files-in", "files-out", "--Data"])
def test_the_librarys_own_file_names_are_refused_naming_the_token(name, key):
    """Issue 19: a job could name, and a payload write, the files the library trusts."""
    text = f"{key}={name}" if key.startswith("files") else f"{key}={name} --OutputGO=EP:/out/"
    with pytest.raises(JobParamsError) as caught:
        job_params.parse(text)
    assert caught.value.token.endswith(name) and "pilot-movers' own" in caught.value.reason
