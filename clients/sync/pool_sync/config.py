"""The sync's config file (TOML or JSON) and the checks on its destination folder.

# sync.toml
api_url = "https://pool.example.org"
token = "jp_…"                 # or token_file = "/etc/jointpool/token"
destination = "/srv/licensed"
parallel = 4                   # files downloaded at once
limit_rate = "50M"             # optional bytes/s cap for the whole run (K, M, G)
proxies = true                 # optional: also fetch each master's proxy (<master>.proxy.mp4)
posters = true                 # optional: also fetch its poster (<master>.poster.jpg)
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pool_sync.errors import ConfigError, DestinationError

# Where the sync keeps its cursor, manifest, lock and partial files, inside the destination
# (so partial files are on the same filesystem and the final rename is atomic).
STATE_DIR = ".jointpool-sync"
UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}


@dataclass(frozen=True)
class SyncConfig:
    """What one sync run needs."""

    api_url: str
    token: str
    destination: Path
    parallel: int = 4
    limit_rate: int | None = None
    timeout: float = 60.0
    attempts: int = 4
    proxies: bool = False
    posters: bool = False

    @property
    def state_dir(self) -> Path:
        """The sync's own folder inside the destination."""
        return self.destination / STATE_DIR

    @property
    def renditions(self) -> tuple[str, ...]:
        """The rendition kinds fetched beside each master (none unless opted in)."""
        return tuple(
            kind for kind, wanted in (("proxy", self.proxies), ("poster", self.posters)) if wanted
        )


def parse_rate(value: Any) -> int | None:
    """Parse `50M` / `512K` / `1000000` into bytes per second."""
    if value in (None, "", 0):
        return None
    text = str(value).strip().upper().removesuffix("/S").removesuffix("B")
    unit = text[-1] if text and text[-1] in UNITS else ""
    try:
        number = float(text[: len(text) - len(unit)] if unit else text)
    except ValueError as exc:
        raise ConfigError(f"limit_rate {value!r} is not a rate like 50M") from exc
    if number <= 0:
        raise ConfigError("limit_rate must be positive")
    return int(number * UNITS[unit])


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
    data.update({k: v for k, v in overrides.items() if v is not None})
    unknown = set(data) - {
        "api_url",
        "token",
        "token_file",
        "destination",
        "parallel",
        "limit_rate",
        "timeout",
        "attempts",
        "proxies",
        "posters",
    }
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
    for key in ("proxies", "posters"):
        if not isinstance(data.get(key, False), bool):
            raise ConfigError(f"{path}: `{key}` must be true or false, not {data[key]!r}")
    return SyncConfig(
        api_url=api_url,
        token=str(token),
        destination=Path(str(data["destination"])).expanduser(),
        parallel=parallel,
        limit_rate=parse_rate(data.get("limit_rate")),
        timeout=timeout,
        attempts=max(1, attempts),
        proxies=bool(data.get("proxies", False)),
        posters=bool(data.get("posters", False)),
    )


def check_destination(config: SyncConfig) -> None:
    """Refuse a destination that is missing, not a folder, or not writable."""
    dest = config.destination
    if not dest.exists():
        raise DestinationError(f"destination {dest} does not exist (create it first)")
    if not dest.is_dir():
        raise DestinationError(f"destination {dest} is not a folder")
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
