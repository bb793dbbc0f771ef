"""Bandwidth limits: a flat rate, a day schedule, and a limiter that follows the clock."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import pytest

from pool_sync.bwlimit import RateLimiter, Schedule, Window, parse_schedule
from pool_sync.config import load_config
from pool_sync.errors import ConfigError

MIB = 1024**2


def at(hhmm: str) -> datetime:
    hours, minutes = hhmm.split(":")
    return datetime(2026, 12, 1, int(hours), int(minutes))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("50M", Schedule(default=50 * MIB)),
        ("off", Schedule()),
        ("", Schedule()),
        ("08:00-20:00 20M", Schedule(windows=(Window(480, 1200, 20 * MIB),))),
        (
            "08:00-20:00 20M, 50M",
            Schedule(default=50 * MIB, windows=(Window(480, 1200, 20 * MIB),)),
        ),
        (
            ["22:00-06:00 off", "06:00-22:00 512K"],
            Schedule(windows=(Window(1320, 360, None), Window(360, 1320, 512 * 1024))),
        ),
        ("00:00-24:00 1G", Schedule(windows=(Window(0, 1440, 1024**3),))),
    ],
)
def test_schedules_parse(value: object, expected: Schedule) -> None:
    assert parse_schedule(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "fast",
        "08:00-20:00",
        "8-20 20M",
        "25:00-26:00 1M",
        "08:00-08:00 1M",
        "08:00-20:00 20M, 1M, 2M",
        "20M 08:00",
    ],
)
def test_bad_schedules_say_what_is_wrong(value: str) -> None:
    with pytest.raises(ConfigError):
        parse_schedule(value)


def test_rate_follows_the_local_time_including_windows_across_midnight() -> None:
    day = parse_schedule("08:00-20:00 20M, 50M")
    assert day.rate_at(at("07:59")) == 50 * MIB
    assert day.rate_at(at("08:00")) == 20 * MIB
    assert day.rate_at(at("19:59")) == 20 * MIB
    assert day.rate_at(at("20:00")) == 50 * MIB
    night = parse_schedule("22:00-06:00 off, 08:00-20:00 10M, 30M")
    assert night.rate_at(at("23:30")) is None and night.rate_at(at("05:59")) is None
    assert night.rate_at(at("06:00")) == 30 * MIB
    assert night.rate_at(at("12:00")) == 10 * MIB
    assert parse_schedule("08:00-20:00 20M").rate_at(at("21:00")) is None
    assert parse_schedule("00:00-24:00 1M").rate_at(at("23:59")) == MIB


def test_limiter_waits_in_a_limited_window_and_not_outside() -> None:
    clock = {"now": at("07:00")}
    limiter = RateLimiter(parse_schedule("08:00-20:00 4M"), clock=lambda: clock["now"])
    started = time.monotonic()
    for _ in range(64):
        limiter.take(MIB)  # 64 MiB, unlimited at 07:00
    unlimited = time.monotonic() - started
    assert unlimited < 2.0, "the limiter waited outside its window"
    clock["now"] = at("08:00")
    started = time.monotonic()
    for _ in range(3):
        limiter.take(MIB)  # the first MiB passes at once, the next two cost 0.25 s each
    assert time.monotonic() - started >= 0.49


def test_bwlimit_from_config_and_command_line(tmp_path: Path) -> None:
    config = tmp_path / "sync.toml"
    base = f'api_url = "http://127.0.0.1:1"\ntoken = "t"\ndestination = "{tmp_path}"\n'
    config.write_text(base + 'bwlimit = "08:00-20:00 20M, 50M"\n')
    loaded = load_config(config)
    assert loaded.bwlimit.rate_at(at("09:00")) == 20 * MIB and loaded.limit_rate == 50 * MIB
    # The command line's --bwlimit wins over either config key.
    assert load_config(config, bwlimit="20M").bwlimit == Schedule(default=20 * MIB)
    config.write_text(base + 'limit_rate = "1M"\n')
    assert load_config(config, bwlimit="off").bwlimit == Schedule()
    config.write_text(base + 'limit_rate = "1M"\nbwlimit = "2M"\n')
    with pytest.raises(ConfigError, match="not both"):
        load_config(config)
    config.write_text(base + 'bwlimit = ["08:00-20:00 20M", "50M"]\n')
    assert load_config(config).bwlimit.default == 50 * MIB
