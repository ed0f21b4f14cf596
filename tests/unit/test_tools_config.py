"""[tools] in the config file: allowed networks and secrets, each error naming its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from mediaserver.config import ConfigError, load


def test_tools_table_is_read(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[tools]\nallow = ["127.0.0.1/32", "fd00::/8"]\nmax_response_bytes = 4096\n'
        '[tools.secrets]\nCRM_TOKEN = "abc"\n'
    )
    tools = load(path).tools
    assert tools.allow == ("127.0.0.1/32", "fd00::/8")
    assert tools.secrets == {"CRM_TOKEN": "abc"}
    assert tools.max_response_bytes == 4096
    assert load(None).tools.allow == ()  # nothing private by default


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ('[tools]\nallow = ["not-a-network"]\n', "tools.allow"),
        ("[tools.secrets]\nCRM_TOKEN = 5\n", "tools.secrets"),
        ("[tools]\nmax_response_bytes = 10\n", "tools.max_response_bytes"),
        ("[tools]\nsecret = 1\n", "tools.secret"),
    ],
)
def test_bad_tools_config_names_the_key(tmp_path: Path, text: str, names: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=names.replace(".", r"\.")):
        load(path)
