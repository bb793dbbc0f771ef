"""The outcome of a run: one result per file, and the JSON written for monitoring.

The JSON summary (`summary_json`, by default `<destination>/.jointpool-sync/last-run.json`) is
written after every run, also one that could not start, so a monitoring check reads one file:
`exit_code` (see `pool_sync.cli`), `downloaded` / `skipped` / `failed` counts, `items`,
`bytes_fetched`, `no_longer_licensed`, `would_fetch` (with `--dry-run`), and `error`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class ItemResult:
    """What happened to one licensed master or one of its renditions."""

    path: str
    asset_id: str
    status: str  # downloaded | skipped | failed | planned (a dry run would fetch it)
    size: int = 0
    fetched: int = 0
    resumed_from: int = 0
    error: str = ""
    kind: str = "master"  # master | proxy | poster
    note: str = ""  # why a rendition was skipped although it is not in place


@dataclass
class Summary:
    """The outcome of a run, printed at the end and optionally written as JSON."""

    items: list[ItemResult] = field(default_factory=list)
    no_longer_licensed: list[str] = field(default_factory=list)
    ended_licenses: dict[int, str] = field(default_factory=dict)
    pruned: list[str] = field(default_factory=list)
    cursor_saved: bool = False
    seconds: float = 0.0
    dry_run: bool = False

    @property
    def failed(self) -> list[ItemResult]:
        """The items that did not make it."""
        return [i for i in self.items if i.status == "failed"]

    @property
    def unavailable(self) -> list[ItemResult]:
        """Renditions asked for that the pool does not have (yet)."""
        return [i for i in self.items if i.status == "skipped" and i.note]

    @property
    def planned(self) -> list[ItemResult]:
        """What a dry run would fetch."""
        return [i for i in self.items if i.status == "planned"]

    @property
    def bytes_fetched(self) -> int:
        """Bytes received over the network in this run."""
        return sum(i.fetched for i in self.items)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "items": [asdict(i) for i in self.items],
            "downloaded": sum(1 for i in self.items if i.status == "downloaded"),
            "skipped": sum(1 for i in self.items if i.status == "skipped"),
            "failed": len(self.failed),
            "unavailable": [
                {"path": i.path, "asset_id": i.asset_id, "kind": i.kind, "note": i.note}
                for i in self.unavailable
            ],
            "bytes_fetched": self.bytes_fetched,
            "no_longer_licensed": self.no_longer_licensed,
            "ended_licenses": {str(k): v for k, v in self.ended_licenses.items()},
            "pruned": self.pruned,
            "cursor_saved": self.cursor_saved,
            "seconds": round(self.seconds, 3),
            "dry_run": self.dry_run,
            "would_fetch": [
                {"path": i.path, "asset_id": i.asset_id, "kind": i.kind, "size": i.size}
                for i in self.planned
            ],
            "would_fetch_bytes": sum(i.size for i in self.planned),
        }
