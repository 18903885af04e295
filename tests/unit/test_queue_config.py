"""Queue config: JSON and INI, every section typed and checked at load, clear errors."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
import typing
from pathlib import Path

import pytest

from pilot_movers.config_values import describe_range
from pilot_movers.copyprefix import apply_copyprefix
from pilot_movers.engine.settings import TransferSettings
from pilot_movers.errors import ConfigurationError, Phase
from pilot_movers.local.mover import LocalOptions
from pilot_movers.queue_config import MAX_SIZE, QueueConfig, knob_sections, knobs_table


def test_json_and_ini_give_the_same_typed_config(tmp_path):
    (tmp_path / "q.json").write_text(
        '{"copytool": "local", "copytoolin": "local", "se": "gsiftp://se:2811",'
        ' "transfer": {"max_attempts": 5, "overwrite": true, "stall_timeout": 30},'
        ' "movers": {"local": {"mode": "symlink", "block_size": 65536}},'
        ' "myproxy": {"server": "mp.example.org", "lifetime_hours": 6},'
        ' "payload": {"timeout": "2h"}, "credentials": {"min_lifetime": "30m"}}'
    )
    (tmp_path / "q.ini").write_text(
        "[queue]\ncopytool = local\ncopytoolin = local\nse = gsiftp://se:2811\n"
        "[transfer]\nmax_attempts = 5\noverwrite = yes\nstall_timeout = 30s\n"
        "[mover:local]\nmode = symlink\nblock_size = 65536\n"
        "[myproxy]\nserver = mp.example.org\nlifetime_hours = 6\n"
        "[payload]\ntimeout = 7200\n[credentials]\nmin_lifetime = 1800\n"
    )
    from_json = QueueConfig.load(tmp_path / "q.json")
    from_ini = QueueConfig.load(tmp_path / "q.ini")
    assert from_json.transfer == from_ini.transfer
    assert from_json.movers == from_ini.movers
    assert from_json.myproxy == from_ini.myproxy
    assert from_json.payload == from_ini.payload
    assert from_json.credentials == from_ini.credentials
    for config in (from_json, from_ini):
        assert config.mover_name(Phase.STAGE_IN) == "local"
        assert config.transfer.max_attempts == 5
        assert config.transfer.overwrite is True
        assert config.transfer.stall_timeout == 30.0
        assert config.mover_options("local") == LocalOptions(mode="symlink", block_size=65536)
        assert config.myproxy.server == "mp.example.org"
        assert config.myproxy.lifetime_hours == 6.0
        assert config.payload.timeout == 7200.0
        assert config.credentials.min_lifetime == 1800.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"copytol": "x"}', "unknown key(s) copytol"),
        ('{"transfer": {"max_attempts": "many"}}', "[transfer]: max_attempts = 'many': not a whole number"),
        ('{"transfer": {"retries": 3}}', "unknown setting 'retries'"),
        ('{"transfer": {"max_attempts": 0}}', "max_attempts = 0: must be from 1 to 100"),
        ('{"transfer": {"checksum_algorithm": "crc99"}}', "unknown checksum algorithm"),
        ('{"transfer": {"stall_timeout": "nan"}}', "stall_timeout = 'nan': must be a finite number"),
        ('{"transfer": {"stall_timeout": NaN}}', "stall_timeout = nan: must be a finite number"),
        ('{"transfer": {"timeout_base": -1}}', "timeout_base = -1: must be from 0.1s to 7d"),
        ('{"transfer": {"concurrency": null}}', "concurrency = None: a value is required"),
        ('{"transfer": {"concurrency": [4]}}', "concurrency = [4]: not a whole number"),
        ('{"transfer": {"overwrite": "perhaps"}}', "overwrite = 'perhaps': not a boolean"),
        ('{"transfer": ["max_attempts"]}', "[transfer]: must be a section of options"),
        ('{"se": 5}', "se must be a non-empty string"),
        ('{"se": "gsiftp://se/data?x=1"}', "query string"),
        ('{"copyprefix": "gsiftp://a^gsiftp://b"}', "not of the form ^from^to"),
        ("[queue]\ncopytool=local\n[extra]\na=b\n", "unknown section [extra]"),
        ("{not json", "not valid JSON"),
        ('{"myproxy": {"servr": "mp.example.org"}}', "[myproxy]: unknown setting 'servr'"),
        ('{"myproxy": {"retrieve_with": "telepathy"}}', "retrieve_with = 'telepathy': use one of"),
        ('{"myproxy": {"port": 99999}}', "port = 99999: must be from 1 to 65535"),
        ('{"payload": {"timeout": -5}}', "[payload]: timeout = -5: must be from 1s to 30d"),
        ('{"payload": {"timout": 5}}', "[payload]: unknown setting 'timout'"),
        ('{"credentials": {"require_rfc3820": "sometimes"}}', "require_rfc3820 = 'sometimes': not a boolean"),
        ('{"movers": {"local": {"mode": "teleport"}}}', "[mover:local]: mode = 'teleport': use one of copy"),
        (
            '{"movers": {"local": {"block_size": 0}}}',
            "[mover:local]: block_size = 0: must be from 1024 (1 KiB) to 268435456 (256 MiB)",
        ),
        ('{"movers": {"local": {"colour": "red"}}}', "[mover:local]: unknown setting 'colour'"),
        ('{"movers": {"nosuch": {}}}', "[mover:nosuch]: no mover named 'nosuch' is installed"),
        ('{"copytool": "nosuch"}', "copytool: no mover named 'nosuch' is installed"),
    ],
)
def test_bad_config_is_refused_at_load_naming_section_key_and_value(tmp_path, text, message):
    path = tmp_path / ("q.json" if text.startswith("{") else "q.ini")
    path.write_text(text)
    with pytest.raises(ConfigurationError) as caught:
        QueueConfig.load(path)
    assert message in caught.value.message
    assert str(path) in caught.value.message
    assert caught.value.code in (1341, 1323)


def test_a_file_that_is_not_utf8_is_refused_with_a_sentence(tmp_path):
    path = tmp_path / "q.ini"
    path.write_bytes(b"[queue]\ncopytool = \xff\xfe\n")
    with pytest.raises(ConfigurationError, match="not UTF-8"):
        QueueConfig.load(path)


def test_copyprefix_rewrites_urls():
    assert apply_copyprefix("gsiftp://a/x", "^gsiftp://a,root://c^gsiftp://b,root://d") == "gsiftp://b/x"
    assert apply_copyprefix("https://z/x", "^gsiftp://a^gsiftp://b") == "https://z/x"


def test_a_missing_file_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigurationError, match="cannot read queue config"):
        QueueConfig.load(tmp_path / "nope.json")


# -- every number has a range -------------------------------------------------------------------


def _numeric_knobs() -> list[tuple[str, str, dataclasses.Field]]:
    found = []
    for section, cls in knob_sections():
        hints = typing.get_type_hints(cls)
        for field in dataclasses.fields(cls):
            kind = hints[field.name]
            arguments = [a for a in typing.get_args(kind) if a is not type(None)]
            if kind in (int, float) or (len(arguments) == 1 and arguments[0] in (int, float)):
                found.append((section, field.name, field))
    return found


NUMERIC_KNOBS = _numeric_knobs()


def _config_with(section: str, key: str, value: object) -> dict:
    if section.startswith("mover:"):
        return {"movers": {section[len("mover:") :]: {key: value}}}
    return {section: {key: value}}


def test_every_numeric_knob_declares_a_lower_and_an_upper_bound():
    unbounded = [
        f"[{section}] {name}"
        for section, name, field in NUMERIC_KNOBS
        if field.metadata.get("minimum") is None or field.metadata.get("maximum") is None
    ]
    assert not unbounded, f"give these a range with option(..., between(low, high)): {unbounded}"
    assert len(NUMERIC_KNOBS) > 40


@pytest.mark.parametrize(("section", "key", "field"), NUMERIC_KNOBS, ids=[f"{s}.{k}" for s, k, _ in NUMERIC_KNOBS])
def test_a_value_at_each_bound_is_accepted_and_one_beyond_it_refused_naming_the_range(section, key, field):
    low, high = field.metadata["minimum"], field.metadata["maximum"]
    step = 1 if isinstance(low, int) and isinstance(high, int) else max(low, 0.001)
    where = f"q.json [{section}]: {key} = "
    for bound in ([] if field.metadata.get("exclusive") else [low]) + [high]:
        config = QueueConfig.from_dict(_config_with(section, key, bound), source="q.json")
        options = config.mover_options(section[len("mover:") :]) if section.startswith("mover:") else None
        assert getattr(options or getattr(config, section), key) == bound
    for beyond in (low if field.metadata.get("exclusive") else low - step, high + step):
        with pytest.raises(ConfigurationError) as caught:
            QueueConfig.from_dict(_config_with(section, key, beyond), source="q.json")
        assert where in caught.value.message
        assert caught.value.message.endswith(f": must be {describe_range(field.metadata)}")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("stall_timeout = 1e-300", "[transfer]: stall_timeout = '1e-300': must be from 0.1s to 1d"),
        ("backoff_max = 1e308", "[transfer]: backoff_max = '1e308': must be from 0 to 1h"),
        ("concurrency = 1e23", "[transfer]: concurrency = '1e23': not a whole number"),
        (
            "concurrency = 100000000000000000000000",
            "[transfer]: concurrency = '100000000000000000000000': must be from 1 to 1000",
        ),
        ("max_attempts = 1000", "[transfer]: max_attempts = '1000': must be from 1 to 100"),
        ("timeout_max = 1e9", "[transfer]: timeout_max = '1e9': must be from 0.1s to 7d"),
        ("stall_timeout = inf", "[transfer]: stall_timeout = 'inf': must be a finite number"),
        ("stall_timeout = -nan", "[transfer]: stall_timeout = '-nan': must be a finite number"),
    ],
)
def test_the_absurd_values_of_issue_18_are_refused_naming_file_section_key_value_and_range(tmp_path, line, message):
    path = tmp_path / "q.ini"
    path.write_text(f"[transfer]\n{line}\n")
    with pytest.raises(ConfigurationError) as caught:
        QueueConfig.load(path)
    assert caught.value.message == f"{path} {message}"


@pytest.mark.parametrize(
    ("transfer", "message"),
    [
        ({"stall_timeout": 1e-300}, "stall_timeout = 1e-300: must be from 0.1s to 1d"),
        ({"backoff_max": 1e308}, "backoff_max = 1e+308: must be from 0 to 1h"),
        ({"concurrency": 1e23}, "concurrency = 1e+23: must be from 1 to 1000"),
        ({"concurrency": 10**23}, "concurrency = 100000000000000000000000: must be from 1 to 1000"),
    ],
)
def test_the_absurd_values_of_issue_18_are_refused_in_json_too(tmp_path, transfer, message):
    path = tmp_path / "q.json"
    path.write_text(json.dumps({"transfer": transfer}))
    with pytest.raises(ConfigurationError) as caught:
        QueueConfig.load(path)
    assert caught.value.message == f"{path} [transfer]: {message}"


def test_a_value_built_in_code_is_held_to_the_same_ranges():
    with pytest.raises(ConfigurationError, match=r"\[transfer\]: concurrency = 5000: must be from 1 to 1000"):
        TransferSettings(concurrency=5000)
    with pytest.raises(ConfigurationError, match=r"\[mover:local\]: block_size = 1: must be from 1024 \(1 KiB\)"):
        LocalOptions(block_size=1)


def test_small_ci_values_are_allowed():
    config = QueueConfig.from_dict(
        {"transfer": {"stall_timeout": "1s", "backoff_initial": 0, "watchdog_interval": 0.01, "timeout_base": 1}}
    )
    assert (config.transfer.stall_timeout, config.transfer.backoff_initial) == (1.0, 0.0)


@pytest.mark.parametrize(
    ("transfer", "message"),
    [
        ({"overwrite": 1}, "overwrite = 1: not a boolean (in JSON use true or false)"),
        ({"overwrite": 0.0}, "overwrite = 0.0: not a boolean (in JSON use true or false)"),
        ({"concurrency": True}, "concurrency = True: not a whole number"),
        ({"stall_timeout": False}, "stall_timeout = False: not a number"),
        ({"stall_timeout": 10**400}, "stall_timeout = 1000000000"),
        ({"concurrency": 4.5}, "concurrency = 4.5: not a whole number"),
    ],
)
def test_a_boolean_given_as_a_number_or_a_number_as_a_boolean_is_refused(transfer, message):
    with pytest.raises(ConfigurationError) as caught:
        QueueConfig.from_dict({"transfer": transfer}, source="q.json")
    assert f"q.json [transfer]: {message}" in caught.value.message


def test_ini_spells_booleans_as_words_or_1_and_0():
    for word, value in (("yes", True), ("1", True), ("off", False), ("0", False)):
        assert QueueConfig.from_ini(f"[transfer]\noverwrite = {word}\n").transfer.overwrite is value


# -- what is not a small regular file is refused unread -----------------------------------------

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m pilot_movers ARGS`` on this checkout's code; a hang fails the test after 30 s."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "pilot_movers", *args], capture_output=True, text=True, timeout=30, cwd=ROOT, env=env
    )


def dry_run(queue_config: Path | str) -> subprocess.CompletedProcess[str]:
    return cli("run", "--dry-run", "--queue-config", str(queue_config), "--job-params", "dir-in=/tmp files-in=a")


def assert_refused_in_one_sentence(done: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("pilot-movers: BADQUEUECONFIGURATION (1341): ")
    for fragment in fragments:
        assert fragment in done.stderr


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "queue.json"
    os.mkfifo(path)
    return path


def test_a_fifo_is_refused_at_once_not_waited_on(fifo):
    started = time.monotonic()
    assert_refused_in_one_sentence(dry_run(fifo), f"{fifo}: it is a FIFO (named pipe), not a regular file")
    assert time.monotonic() - started < 20


def test_doctor_reports_a_fifo_as_a_problem_without_waiting_on_it(fifo):
    done = cli("doctor", "--queue-config", str(fifo), "--json")
    assert "Traceback" not in done.stderr
    findings = json.loads(done.stdout)["findings"]
    (queue,) = [f for f in findings if f["check"] == "queue config"]
    assert queue["status"] == "problem" and "it is a FIFO (named pipe), not a regular file" in queue["message"]


@pytest.mark.parametrize(("path", "kind"), [("/dev/zero", "a character device"), ("/dev/null", "a character device")])
def test_a_device_is_refused_unread(path, kind):
    if not os.path.exists(path):
        pytest.fail(f"{path} is needed for this test")
    assert_refused_in_one_sentence(dry_run(path), f"{path}: it is {kind}, not a regular file")


def test_a_directory_is_refused(tmp_path):
    assert_refused_in_one_sentence(dry_run(tmp_path), f"{tmp_path}: it is a directory, not a regular file")


def test_a_file_over_the_size_cap_is_refused_naming_the_cap(tmp_path):
    path = tmp_path / "queue.json"
    path.write_text("{" + " " * MAX_SIZE + "}")
    assert_refused_in_one_sentence(dry_run(path), f"it has {MAX_SIZE + 2} bytes, more than the 128 MiB")
    at_cap = tmp_path / "at-cap.json"
    at_cap.write_text('{"copytool": "local"}'.ljust(MAX_SIZE))
    assert QueueConfig.load(at_cap).copytool == "local"


def test_a_file_that_grows_past_the_cap_while_read_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "queue.json"
    path.write_text("{" + " " * MAX_SIZE + "}")
    real_fstat = os.fstat
    monkeypatch.setattr(os, "fstat", lambda fd: os.stat_result((*real_fstat(fd)[:6], 0, *real_fstat(fd)[7:])))
    with pytest.raises(ConfigurationError, match="it has more than the 128 MiB a queue config may have"):
        QueueConfig.load(path)


@pytest.mark.timeout(10)
def test_a_fifo_put_in_place_after_the_check_is_refused_without_blocking(tmp_path, fifo, monkeypatch):
    regular = tmp_path / "regular.json"
    regular.write_text("{}")
    real_stat = os.stat
    monkeypatch.setattr(os, "stat", lambda path, *a, **k: real_stat(regular if str(path) == str(fifo) else path))
    with pytest.raises(ConfigurationError, match="it is a FIFO"):
        QueueConfig.load(fifo)  # opened without O_NONBLOCK this would wait for a writer forever


# -- text that is not a queue config: one line saying where and what ----------------------------


def test_json_nested_100000_deep_is_refused_in_one_sentence_not_a_recursion_error(tmp_path):
    path = tmp_path / "queue.json"
    path.write_text('{"transfer": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert_refused_in_one_sentence(dry_run(path), f"{path}: not a queue config: JSON nested more than 32 levels deep")


@pytest.mark.parametrize(
    ("text", "deep"),
    [
        ('{"a": "' + "[" * 100 + '"}', False),  # brackets in a string do not nest
        ('{"a": "\\\\", "b": ' + "[" * 40 + "]" * 40 + "}", True),  # an escaped backslash ends no string
        ('{"a": "\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}', False),  # nor does an escaped quote
        ("[" * 32 + "]" * 32, False),
        ("[" * 33 + "]" * 33, True),
    ],
)
def test_nesting_is_counted_outside_strings_only(text, deep):
    try:
        QueueConfig.from_json(text)
        refused = ""
    except ConfigurationError as exc:
        refused = exc.message
    assert ("JSON nested more than 32 levels deep" in refused) is deep


def test_a_json_number_of_5000_digits_is_refused_in_one_sentence(tmp_path):
    path = tmp_path / "queue.json"
    path.write_text('{"transfer": {"concurrency": ' + "1" * 5000 + "}}")
    with pytest.raises(ConfigurationError, match="not valid JSON: a number has too many digits"):
        QueueConfig.load(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[transfer]\nmax_attempts\n= 3\n[oops\n",
            "line 2: not valid INI: 'max_attempts' is not a [section] header or",
        ),
        ("[queue]\ncopytool = local\n[transfer\n", "line 3: not valid INI: '[transfer' is not a [section] header"),
        ("copytool = local\n", "line 1: not valid INI: 'copytool = local' comes before any [section]"),
        ("[transfer]\nconcurrency = 2\n[transfer]\n", "line 3: not valid INI: section [transfer] is given twice"),
        (
            "[transfer]\nconcurrency = 2\nConcurrency = 3\n",
            "line 3: not valid INI: concurrency is given twice in [transfer]",
        ),
    ],
)
def test_an_ini_syntax_error_is_one_line_naming_file_line_and_fault(tmp_path, text, message):
    path = tmp_path / "queue.ini"
    path.write_text(text)
    assert_refused_in_one_sentence(dry_run(path), f"{path} {message}")


def test_an_ini_file_with_several_bad_lines_says_the_first_and_how_many_more():
    with pytest.raises(ConfigurationError) as caught:
        QueueConfig.from_ini("[transfer]\nmax_attempts\n= 3\n[oops\n", source="q.ini")
    assert caught.value.message == (
        "q.ini line 2: not valid INI: 'max_attempts' is not a [section] header or key = value "
        "(and 2 more bad lines after it)"
    )


def test_the_operators_doc_lists_every_knob_with_the_range_the_code_declares():
    doc = (ROOT / "docs" / "operators.md").read_text()
    start = doc.index("\n", doc.index("<!-- knobs table:")) + 1
    table = doc[start : doc.index("<!-- end of knobs table -->")]
    assert table == knobs_table(), (
        "docs/operators.md's knobs table is out of date; replace it with the output of "
        "python -c 'from pilot_movers.queue_config import knobs_table; print(knobs_table(), end=\"\")'"
    )


@pytest.mark.timeout(60)
def test_50000_unknown_keys_are_refused_in_a_moment_naming_five(tmp_path):
    path = tmp_path / "queue.json"
    path.write_text(json.dumps({f"k{i}": 1 for i in range(50_000)}))
    started = time.monotonic()
    with pytest.raises(ConfigurationError) as caught:
        QueueConfig.load(path)
    assert time.monotonic() - started < 10  # the installed movers were looked up once per key
    assert "unknown key(s) k0, k1, k10, k100, k1000 and 49995 more (known:" in caught.value.message


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("queue.conf", "[" * 100_000 + "]" * 100_000),
        ("queue.json", json.dumps({"transfer": {"x" * 100_000: 1}})),
        ("queue.ini", "[transfer]\n" + "x" * 100_000 + " = 1\n"),
        ("queue.ini", "[transfer]\n" + "x" * 100_000 + " = 1\n" + "x" * 100_000 + " = 2\n"),
    ],
)
def test_a_name_100000_characters_long_is_cut_short_in_the_message(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigurationError) as caught:
        QueueConfig.load(path)
    assert "..." in caught.value.message and len(caught.value.message) < 600, caught.value.message[:600]
