"""Config parsing and the two progress modes of the sync client."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest

from pool_sync.config import load_config, parse_rate
from pool_sync.errors import ConfigError, ItemError
from pool_sync.progress import Progress
from pool_sync.runner import safe_relative


def test_toml_and_json_configs(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("jp_secret\n")
    toml = tmp_path / "sync.toml"
    toml.write_text(
        'api_url = "http://127.0.0.1:1/"\n'
        f'token_file = "{token_file}"\n'
        f'destination = "{tmp_path}"\n'
        'limit_rate = "50M"\nparallel = 2\n'
    )
    config = load_config(toml)
    assert config.api_url == "http://127.0.0.1:1"
    assert config.token == "jp_secret"
    assert config.limit_rate == 50 * 1024**2 and config.parallel == 2
    as_json = tmp_path / "sync.json"
    as_json.write_text('{"api_url": "https://x", "token": "t", "destination": "/d"}')
    assert load_config(as_json, parallel=8).parallel == 8
    # Renditions are opt-in: none by default, the config or a CLI override turns them on.
    assert load_config(as_json).renditions == ()
    assert load_config(as_json, proxies=True).renditions == ("proxy",)
    toml.write_text(toml.read_text() + "proxies = true\nposters = true\n")
    assert load_config(toml).renditions == ("proxy", "poster")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('api_url = "x"\ntoken = "t"\ndestination = "/d"\n', "must start with http"),
        ('api_url = "http://x"\ndestination = "/d"\n', "`token`"),
        ('api_url = "http://x"\ntoken = "t"\n', "`destination`"),
        ('api_url = "http://x"\ntoken = "t"\ndestination = "/d"\ncolour = 1\n', "colour"),
        ("api_url = ", "not valid TOML"),
        (
            'api_url = "http://x"\ntoken = "t"\ndestination = "/d"\nproxies = "yes"\n',
            "true or false",
        ),
    ],
)
def test_bad_configs_say_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "sync.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"colour": 1, "zeta": 2}, "unknown setting(s) in {path}: colour, zeta"),
        ({"api_url": ""}, "{path}: `api_url` is required"),
        ({"parallel": "many"}, "{path}: parallel, timeout and attempts must be numbers"),
        ({"timeout": None}, "{path}: parallel, timeout and attempts must be numbers"),
        ({"parallel": 65}, "parallel must be 1-64"),
        ({"posters": 1}, "{path}: `posters` must be true or false, not 1"),
        ({"bwlimit": "1M", "limit_rate": "2M"}, "{path}: set `bwlimit` or its older name"),
        ({"token": "", "api_url": "ftp://x"}, "{path}: `token` (or `token_file`) is required"),
        ({"token": None, "token_file": "/nonexistent/token"}, "cannot read token_file"),
    ],
)
def test_the_config_model_keeps_every_message(
    tmp_path: Path, data: dict[str, object], message: str
) -> None:
    # The model (pydantic) reports what the hand-written checks did, in the same order.
    path = tmp_path / "sync.json"
    path.write_text(json.dumps({"api_url": "http://x", "token": "t", "destination": "/d", **data}))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(message.format(path=path))


def test_numbers_convert_as_before(tmp_path: Path) -> None:
    path = tmp_path / "sync.json"
    path.write_text(
        '{"api_url": "http://x/", "token": 7, "destination": "/d", "parallel": "8",'
        ' "timeout": "5", "attempts": 0}'
    )
    config = load_config(path)
    assert (config.parallel, config.timeout, config.attempts, config.token) == (8, 5.0, 1, "7")


def test_rates() -> None:
    assert parse_rate("512K") == 512 * 1024
    assert parse_rate("2MB/s") == 2 * 1024**2
    assert parse_rate("1000") == 1000
    assert parse_rate(None) is None
    with pytest.raises(ConfigError):
        parse_rate("fast")


def test_progress_redraws_on_a_terminal_and_logs_lines_otherwise() -> None:
    tty = io.StringIO()
    progress = Progress(tty, interactive=True)
    progress.start(2, 10 << 20)
    progress.add(5 << 20)
    # The redraw thread draws every 0.25 s; wait for its first line rather than a fixed time.
    deadline = time.monotonic() + 30
    while "[0/2]" not in tty.getvalue():
        assert time.monotonic() < deadline, "the status line was never drawn"
        time.sleep(0.05)
    progress.log("ok a.mxf")
    progress.stop()
    text = tty.getvalue()
    assert "\r\033[K[0/2] 5.0 MiB / 10.0 MiB" in text and "ok a.mxf\n" in text

    plain = io.StringIO()
    progress = Progress(plain, interactive=False)
    progress.start(1, 1)
    progress.log("ok b.mxf")
    progress.stop()
    assert "\r" not in plain.getvalue()
    assert plain.getvalue().rstrip().endswith("Z ok b.mxf")


@pytest.mark.parametrize("path", ["../etc/passwd", "/abs", "a/../b", ".jointpool-sync/x", ""])
def test_unsafe_server_paths_are_refused(path: str) -> None:
    with pytest.raises(ItemError):
        safe_relative(path)
