"""Queue config: JSON and INI, clear errors, storage URL rewriting."""

from __future__ import annotations

import pytest

from pilot_movers.errors import ConfigurationError, Phase
from pilot_movers.queue_config import QueueConfig, apply_copyprefix


def test_json_and_ini_give_the_same_config(tmp_path):
    (tmp_path / "q.json").write_text(
        '{"copytool": "gridftp", "copytoolin": "xrootd", "se": "gsiftp://se:2811",'
        ' "transfer": {"max_attempts": 5, "overwrite": true, "stall_timeout": 30},'
        ' "movers": {"local": {"mode": "symlink"}}, "myproxy": {"server": "mp.example.org"}}'
    )
    (tmp_path / "q.ini").write_text(
        "[queue]\ncopytool = gridftp\ncopytoolin = xrootd\nse = gsiftp://se:2811\n"
        "[transfer]\nmax_attempts = 5\noverwrite = yes\nstall_timeout = 30\n"
        "[mover:local]\nmode = symlink\n[myproxy]\nserver = mp.example.org\n"
    )
    from_json = QueueConfig.load(tmp_path / "q.json")
    from_ini = QueueConfig.load(tmp_path / "q.ini")
    for config in (from_json, from_ini):
        assert config.mover_name(Phase.STAGE_IN) == "xrootd"
        assert config.mover_name(Phase.STAGE_OUT) == "gridftp"
        assert config.transfer.max_attempts == 5
        assert config.transfer.overwrite is True
        assert config.transfer.stall_timeout == 30.0
        assert config.mover_options("local") == {"mode": "symlink"}
        assert config.myproxy["server"] == "mp.example.org"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"copytol": "x"}', "unknown key(s) copytol"),
        ('{"transfer": {"max_attempts": "many"}}', "max_attempts = 'many' is not a valid int"),
        ('{"transfer": {"retries": 3}}', "unknown setting 'retries'"),
        ('{"transfer": {"max_attempts": 0}}', "max_attempts must be at least 1"),
        ('{"transfer": {"checksum": "crc99"}}', "unknown checksum algorithm"),
        ('{"se": 5}', "se must be a non-empty string"),
        ('{"copyprefix": "gsiftp://a^gsiftp://b"}', "not of the form ^from^to"),
        ("[queue]\ncopytool=x\n[extra]\na=b\n", "unknown section [extra]"),
        ("{not json", "not valid JSON"),
    ],
)
def test_bad_config_is_refused_with_the_reason(tmp_path, text, message):
    path = tmp_path / ("q.json" if text.startswith("{") else "q.ini")
    path.write_text(text)
    with pytest.raises(ConfigurationError) as caught:
        QueueConfig.load(path)
    assert message in caught.value.message
    assert caught.value.code == 1341


def test_copyprefix_rewrites_the_storage_url():
    config = QueueConfig.from_dict(
        {
            "se": "srm://se.example.org:8443/srm/managerv2?SFN=",
            "copyprefix": "^srm://se.example.org:8443/srm/managerv2?SFN=^root://se.example.org:1094/",
        }
    )
    assert config.storage_base(Phase.STAGE_OUT) == "root://se.example.org:1094/"
    assert apply_copyprefix("gsiftp://a/x", "^gsiftp://a,root://c^gsiftp://b,root://d") == "gsiftp://b/x"
    assert apply_copyprefix("https://z/x", "^gsiftp://a^gsiftp://b") == "https://z/x"


def test_a_missing_file_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigurationError, match="cannot read queue config"):
        QueueConfig.load(tmp_path / "nope.json")
