"""The sync's config file (TOML or JSON) and the checks on its destination folder.

# sync.toml
api_url = "https://pool.example.org"
token = "jp_…"                 # or token_file = "/etc/jointpool/token"
destination = "/srv/licensed"
parallel = 4                   # files downloaded at once
bwlimit = "08:00-20:00 20M, 50M"  # optional: a rate (50M) or a day schedule (see bwlimit.py)
summary_json = "/var/log/jointpool/sync-{started}.json"  # optional; default in the state folder
proxies = true                 # optional: also fetch each master's proxy (<master>.proxy.mp4)
posters = true                 # optional: also fetch its poster (<master>.poster.jpg)
subtitles = false              # optional: do not fetch subtitles (default: each track's WebVTT
                               # <master>.kk-Cyrl.vtt and original <master>.kk-Cyrl.original.stl)
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from pool_sync.bwlimit import Schedule, parse_rate, parse_schedule
from pool_sync.errors import ConfigError, DestinationError
from pool_sync.paths import STATE_DIR, on_disk

# STATE_DIR: where the sync keeps its cursor, manifest, lock and partial files, inside the
# destination (so partial files are on the same filesystem and the final rename is atomic).
__all__ = [
    "STATE_DIR",
    "ConfigFile",
    "SyncConfig",
    "check_destination",
    "load_config",
    "parse_rate",
]


@dataclass(frozen=True)
class SyncConfig:
    """What one sync run needs."""

    api_url: str
    token: str
    destination: Path
    parallel: int = 4
    bwlimit: Schedule = field(default_factory=Schedule)
    timeout: float = 60.0
    attempts: int = 4
    proxies: bool = False
    posters: bool = False
    # Subtitles come with the master unless turned off: a licensee airs them with it.
    subtitles: bool = True
    summary_json: str | None = None

    @property
    def limit_rate(self) -> int | None:
        """The flat rate (outside every scheduled window)."""
        return self.bwlimit.default

    @property
    def state_dir(self) -> Path:
        """The sync's own folder inside the destination (long-path safe on Windows)."""
        return on_disk(self.destination / STATE_DIR)

    def summary_path(self, started: str) -> Path:
        """Where this run's JSON summary goes (`{started}` is the run's UTC start stamp)."""
        if self.summary_json:
            return Path(self.summary_json.replace("{started}", started)).expanduser()
        return self.state_dir / "last-run.json"

    @property
    def renditions(self) -> tuple[str, ...]:
        """The rendition kinds fetched beside each master (none unless opted in)."""
        return tuple(
            kind for kind, wanted in (("proxy", self.proxies), ("poster", self.posters)) if wanted
        )


def _text(value: Any) -> str:
    """A required setting: present and not empty (the message is written by `_message`)."""
    if not value:
        raise ValueError("required")
    return str(value)


def _number(kind: type[int] | type[float]) -> Callable[[Any], int | float]:
    # int()/float() as the command line and older configs relied on: "4", 4.0 and 4 all work.
    def convert(value: Any) -> int | float:
        try:
            return kind(value)
        except (TypeError, ValueError) as exc:
            raise ValueError("parallel, timeout and attempts must be numbers") from exc

    return convert


class ConfigFile(BaseModel):
    """What a config file may say, command-line overrides included; `to_config` builds the run's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    api_url: Annotated[str, BeforeValidator(_text)]
    destination: Annotated[str, BeforeValidator(_text)]
    token_file: Any = None
    # Checked even when absent (validate_default), after token_file, whose value it reads.
    token: Annotated[Any, Field(validate_default=True)] = None
    parallel: Annotated[int, BeforeValidator(_number(int))] = 4
    timeout: Annotated[float, BeforeValidator(_number(float))] = 60.0
    attempts: Annotated[int, BeforeValidator(_number(int))] = 4
    bwlimit: Any = None
    limit_rate: Any = None  # the older name of bwlimit
    proxies: StrictBool = False
    posters: StrictBool = False
    subtitles: StrictBool = True
    summary_json: Any = None

    @field_validator("api_url")
    @classmethod
    def _http_only(cls, value: str) -> str:
        value = value.rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"api_url {value!r} must start with http:// or https://")
        return value

    @field_validator("token")
    @classmethod
    def _token_given(cls, value: Any, info: ValidationInfo) -> Any:
        if not value and not info.data.get("token_file"):
            path = (info.context or {}).get("path")
            raise ValueError(f"{path}: `token` (or `token_file`) is required")
        return value

    @field_validator("parallel")
    @classmethod
    def _parallel_range(cls, value: int) -> int:
        if not 1 <= value <= 64:
            raise ValueError("parallel must be 1-64")
        return value

    @model_validator(mode="after")
    def _one_rate(self, info: ValidationInfo) -> ConfigFile:
        path = (info.context or {}).get("path")
        if {"bwlimit", "limit_rate"} <= self.model_fields_set:
            raise ValueError(f"{path}: set `bwlimit` or its older name `limit_rate`, not both")
        return self

    def read_token(self, path: Path) -> str:
        """The token, from `token` or else from the file `token_file` names."""
        if self.token:
            return str(self.token)
        token_path = Path(str(self.token_file)).expanduser()
        try:
            token = token_path.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read token_file {token_path}: {exc.strerror}") from exc
        if not token:
            raise ConfigError(f"{path}: `token` (or `token_file`) is required")
        return token

    def to_config(self, path: Path) -> SyncConfig:
        """The settings of one run (reads `token_file`; parses the rate schedule)."""
        token = self.read_token(path)
        rate = self.bwlimit if "bwlimit" in self.model_fields_set else self.limit_rate
        return SyncConfig(
            api_url=self.api_url,
            token=token,
            # Absolute, so Windows long paths can take the `\\?\` prefix.
            destination=Path(os.path.abspath(Path(self.destination).expanduser())),
            parallel=self.parallel,
            bwlimit=parse_schedule(rate),
            timeout=self.timeout,
            attempts=max(1, self.attempts),
            proxies=self.proxies,
            posters=self.posters,
            subtitles=self.subtitles,
            summary_json=str(self.summary_json) if self.summary_json else None,
        )


# When several things are wrong, the one reported is the first in the order the checks were
# made before the model (unknown keys, required keys, token, api_url, numbers, parallel, ...).
def _message(path: Path, error: Mapping[str, Any], unknown: list[str]) -> tuple[int, str]:
    """(rank, the message the hand-written checks gave) for one pydantic error."""
    kind, field = error["type"], str(error["loc"][0]) if error["loc"] else ""
    text = str(error.get("ctx", {}).get("error", error["msg"]))
    if kind == "extra_forbidden":
        return 0, f"unknown setting(s) in {path}: {', '.join(sorted(unknown))}"
    if kind == "missing" or text == "required":
        return 1, f"{path}: `{field}` is required"
    if kind == "bool_type":
        return 6, f"{path}: `{field}` must be true or false, not {error['input']!r}"
    if "must be numbers" in text:
        return 4, f"{path}: {text}"
    if field == "api_url":
        return 3, text
    if field == "parallel":
        return 5, text
    return 2 if "token" in text else 6, text


def load_config(path: Path, **overrides: Any) -> SyncConfig:
    """Read and check a TOML or JSON config file; keyword overrides win."""
    try:
        raw_text = path.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} does not exist") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(raw_text)
        else:
            data = tomllib.loads(raw_text.decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML/JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a table of settings")
    given = {k: v for k, v in overrides.items() if v is not None}
    if "bwlimit" in given:
        data.pop("limit_rate", None)  # the command line's --bwlimit wins over the older key
    data.update(given)
    try:
        model = ConfigFile.model_validate(data, context={"path": path})
    except ValidationError as exc:
        unknown = [str(e["loc"][0]) for e in exc.errors() if e["type"] == "extra_forbidden"]
        _rank, message = min(_message(path, e, unknown) for e in exc.errors())
        raise ConfigError(message) from exc
    return model.to_config(path)


def check_destination(config: SyncConfig, *, writable: bool = True) -> None:
    """Refuse a destination that is missing, not a folder, or (when asked) not writable."""
    dest = config.destination
    if not dest.exists():
        raise DestinationError(f"destination {dest} does not exist (create it first)")
    if not dest.is_dir():
        raise DestinationError(f"destination {dest} is not a folder")
    if not writable:
        return
    try:
        config.state_dir.mkdir(exist_ok=True)
        (config.state_dir / "partial").mkdir(exist_ok=True)
        probe = config.state_dir / f".probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise DestinationError(
            f"destination {dest} is not writable: {exc.strerror or exc}"
        ) from exc
