"""Queue config: JSON and INI, every section typed and checked at load, clear errors."""

from __future__ import annotations

import pytest

from pilot_movers.copyprefix import apply_copyprefix
from pilot_movers.errors import ConfigurationError, Phase
from pilot_movers.local.mover import LocalOptions
from pilot_movers.queue_config import QueueConfig


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
        ('{"transfer": {"max_attempts": 0}}', "max_attempts = 0: must be at least 1"),
        ('{"transfer": {"checksum_algorithm": "crc99"}}', "unknown checksum algorithm"),
        ('{"transfer": {"stall_timeout": "nan"}}', "stall_timeout = 'nan': must be a finite number"),
        ('{"transfer": {"stall_timeout": NaN}}', "stall_timeout = nan: must be a finite number"),
        ('{"transfer": {"timeout_base": -1}}', "timeout_base = -1: must be greater than 0"),
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
        ('{"myproxy": {"port": 99999}}', "port = 99999: must be at most 65535"),
        ('{"payload": {"timeout": -5}}', "[payload]: timeout = -5: must be greater than 0"),
        ('{"payload": {"timout": 5}}', "[payload]: unknown setting 'timout'"),
        ('{"credentials": {"require_rfc3820": "sometimes"}}', "require_rfc3820 = 'sometimes': not a boolean"),
        ('{"movers": {"local": {"mode": "teleport"}}}', "[mover:local]: mode = 'teleport': use one of copy"),
        ('{"movers": {"local": {"block_size": 0}}}', "[mover:local]: block_size = 0: must be at least 1"),
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
