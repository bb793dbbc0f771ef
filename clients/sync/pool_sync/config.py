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
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pool_sync.bwlimit import Schedule, parse_rate, parse_schedule
from pool_sync.errors import ConfigError, DestinationError
from pool_sync.paths import STATE_DIR, on_disk

# STATE_DIR: where the sync keeps its cursor, manifest, lock and partial files, inside the
# destination (so partial files are on the same filesystem and the final rename is atomic).
__all__ = ["STATE_DIR", "SyncConfig", "check_destination", "load_config", "parse_rate"]
KEYS = {
    "api_url",
    "token",
    "token_file",
    "destination",
    "parallel",
    "bwlimit",
    "limit_rate",  # the older name of bwlimit
    "timeout",
    "attempts",
    "proxies",
    "posters",
    "summary_json",
}


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
    unknown = set(data) - KEYS
    if unknown:
        raise ConfigError(f"unknown setting(s) in {path}: {', '.join(sorted(unknown))}")
    for key in ("api_url", "destination"):
        if not data.get(key):
            raise ConfigError(f"{path}: `{key}` is required")
    token = data.get("token")
    if not token and data.get("token_file"):
        token_path = Path(str(data["token_file"])).expanduser()
        try:
            token = token_path.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read token_file {token_path}: {exc.strerror}") from exc
    if not token:
        raise ConfigError(f"{path}: `token` (or `token_file`) is required")
    api_url = str(data["api_url"]).rstrip("/")
    if not api_url.startswith(("http://", "https://")):
        raise ConfigError(f"api_url {api_url!r} must start with http:// or https://")
    try:
        parallel = int(data.get("parallel", 4))
        timeout = float(data.get("timeout", 60.0))
        attempts = int(data.get("attempts", 4))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: parallel, timeout and attempts must be numbers") from exc
    if not 1 <= parallel <= 64:
        raise ConfigError("parallel must be 1-64")
    if "bwlimit" in data and "limit_rate" in data:
        raise ConfigError(f"{path}: set `bwlimit` or its older name `limit_rate`, not both")
    for key in ("proxies", "posters"):
        if not isinstance(data.get(key, False), bool):
            raise ConfigError(f"{path}: `{key}` must be true or false, not {data[key]!r}")
    return SyncConfig(
        api_url=api_url,
        token=str(token),
        # Absolute, so Windows long paths can take the `\\?\` prefix.
        destination=Path(os.path.abspath(Path(str(data["destination"])).expanduser())),
        parallel=parallel,
        bwlimit=parse_schedule(data.get("bwlimit", data.get("limit_rate"))),
        timeout=timeout,
        attempts=max(1, attempts),
        proxies=bool(data.get("proxies", False)),
        posters=bool(data.get("posters", False)),
        summary_json=str(data["summary_json"]) if data.get("summary_json") else None,
    )


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
