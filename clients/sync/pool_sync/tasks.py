"""What one licensed master asks of a run: its task, its manifest entry, its renditions' names."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

# A rendition's file extension is taken from its name only when it looks like one.
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,8}")


@dataclass
class Task:
    """The work for one licensed master: fetch it (or not), then the renditions it lacks."""

    item: dict[str, Any]
    entry: dict[str, Any]  # its manifest entry, recorded once the master is in place
    master: bool
    renditions: list[dict[str, Any]]


def rendition_path(master_path: str, rendition: dict[str, Any]) -> str:
    """The rendition's path beside its master: `<master>.proxy.mp4`, `<master>.poster.jpg`."""
    suffix = PurePosixPath(str(rendition["name"])).suffix
    if not _EXTENSION.fullmatch(suffix):
        suffix = ""
    return f"{master_path}.{rendition['kind']}{suffix}"


def rendition_record(master_path: str, rendition: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": rendition["name"],
        "size": rendition["size"],
        "sha256": rendition.get("sha256"),
        "file": rendition_path(master_path, rendition),
    }


def manifest_entry(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "asset_id": item["asset_id"],
        "license_id": item["license_id"],
        "sha256": item["sha256"],
        "size": item["size"],
    }
