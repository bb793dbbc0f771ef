"""The installed version of the pool, for `jointpool_build_info`."""

from __future__ import annotations

from functools import cache
from importlib import metadata


@cache
def pool_version() -> str:
    """The distribution's version, or "unknown" when running from an uninstalled tree."""
    for name in ("jointpool", "joint-ftp-pool"):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "unknown"
