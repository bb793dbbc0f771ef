"""The per-file work of a run, shared by its threads: is it in place, fetch it (with retries)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pool_sync.api import PoolApi
from pool_sync.bwlimit import RateLimiter
from pool_sync.config import SyncConfig
from pool_sync.download import fetch, storage_client
from pool_sync.errors import ChecksumMismatch, ItemError, NotFoundError, TokenError
from pool_sync.paths import local_path
from pool_sync.progress import Progress
from pool_sync.state import write_atomic
from pool_sync.summary import ItemResult
from pool_sync.tasks import Task, rendition_path


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file on disk."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


class SyncRun:
    """State shared by the threads of one run."""

    def __init__(self, config: SyncConfig, progress: Progress, *, dry_run: bool = False) -> None:
        self.config = config
        self.progress = progress
        self.dry_run = dry_run
        self.api = PoolApi(
            config.api_url, config.token, timeout=config.timeout, attempts=config.attempts
        )
        self.limiter = RateLimiter(config.bwlimit) if config.bwlimit.limited else None
        # One connection pool for every download of the run (storage needs no API token).
        self.http = storage_client(config.timeout)

    def close(self) -> None:
        """Release connections."""
        self.api.close()
        self.http.close()

    def is_current(self, item: dict[str, Any], target: Path, known: dict[str, Any] | None) -> bool:
        """Whether the file on disk already is this master (cheap check first)."""
        if not target.is_file() or target.stat().st_size != item["size"]:
            return False
        if (
            known
            and known.get("asset_id") == item["asset_id"]
            and known.get("sha256") == item["sha256"]
        ):
            return True
        # No manifest entry (state lost, or copied in by hand): trust only the hash.
        return bool(item["sha256"]) and sha256_file(target) == item["sha256"]

    def rendition_is_current(
        self, entry: dict[str, Any], rendition: dict[str, Any], file: Path
    ) -> bool:
        """Whether the rendition on disk is the one listed (by hash when one is published)."""
        record = (entry.get("renditions") or {}).get(rendition["kind"])
        if not (
            record is not None
            and record.get("name") == rendition["name"]
            and record.get("size") == rendition["size"]
            and file.is_file()
            and file.stat().st_size == rendition["size"]
        ):
            return False
        published = rendition.get("sha256")
        if not published or record.get("sha256") == published:
            return True
        # Fetched before the pool published a hash (or re-transcoded to the same size since):
        # only the local hash tells; a match is recorded so the next run need not hash again.
        if sha256_file(file) != published:
            return False
        record["sha256"] = published
        return True

    def _fetch_with_retries(
        self,
        result: ItemResult,
        *,
        url_for: Callable[[int], str],
        part: Path,
        final: Path,
        size: int,
        sha256: str | None,
    ) -> None:
        """Fetch into `final`, retrying with fresh URLs; fill `result` or raise `ItemError`."""
        last_error: Exception | None = None
        received = 0
        mismatches = 0

        def on_bytes(nbytes: int) -> None:
            nonlocal received
            received += nbytes
            self.progress.add(nbytes)

        try:
            for attempt in range(1, self.config.attempts + 1):
                try:
                    outcome = fetch(
                        url_for=url_for,
                        part=part,
                        final=final,
                        size=size,
                        sha256=sha256,
                        timeout=self.config.timeout,
                        on_bytes=on_bytes,
                        limiter=self.limiter,
                        client=self.http,
                    )
                except (TokenError, NotFoundError):
                    raise
                except ChecksumMismatch as exc:
                    # Fetched whole and wrong: once more from scratch, then give up.
                    last_error = exc
                    mismatches += 1
                    if mismatches >= 2:
                        break
                    self.progress.log(f"{result.path}: {exc}; fetching again")
                    continue
                except ItemError as exc:
                    last_error = exc
                    if attempt < self.config.attempts:
                        self.progress.log(f"{result.path}: {exc}; retrying")
                        time.sleep(min(2.0**attempt, 30.0) * 0.25)
                    continue
                result.resumed_from = outcome.resumed_from
                result.size = outcome.size
                result.status = "downloaded"
                return
        finally:
            result.fetched = received
        raise ItemError(str(last_error))

    def sync_item(self, item: dict[str, Any]) -> ItemResult:
        """Fetch one master (with retries) and write its metadata JSON beside it."""
        result = ItemResult(path=item["path"], asset_id=item["asset_id"], status="failed")
        try:
            target = local_path(self.config.destination, item["path"])
            self._fetch_with_retries(
                result,
                url_for=lambda offset: self.api.download_grant(item["asset_id"], offset=offset)[
                    "url"
                ],
                part=self.config.state_dir / "partial" / f"{item['asset_id']}.part",
                final=target,
                size=int(item["size"]),
                sha256=item.get("sha256"),
            )
            self.write_metadata(target, item)
        except ItemError as exc:
            result.error = str(exc)
        except OSError as exc:
            result.error = f"local file error: {exc}"
        return result

    def sync_rendition(self, item: dict[str, Any], rendition: dict[str, Any]) -> ItemResult:
        """Fetch one rendition of a master beside it; a rendition gone from the pool is skipped."""
        kind = str(rendition["kind"])
        path = rendition_path(item["path"], rendition)
        result = ItemResult(path=path, asset_id=item["asset_id"], status="failed", kind=kind)
        sha256 = rendition.get("sha256")
        if not sha256:
            self.progress.log(
                f"{path}: the pool publishes no SHA-256 for this {kind} (transcoded before it "
                "recorded hashes); verifying the size only"
            )
        try:
            final = local_path(self.config.destination, path)
            self._fetch_with_retries(
                result,
                url_for=lambda offset: self.api.download_grant(
                    item["asset_id"], offset=offset, rendition=kind
                )["url"],
                part=self.config.state_dir / "partial" / f"{item['asset_id']}.{kind}.part",
                final=final,
                size=int(rendition["size"]),
                # A mismatch fails this file as it would a master (the partial file is
                # dropped); None (a legacy rendition) leaves fetch with the size check.
                sha256=sha256,
            )
        except NotFoundError as exc:
            result.status = "skipped"
            result.note = f"the pool no longer has a {kind} for this master ({exc})"
        except ItemError as exc:
            result.error = str(exc)
        except OSError as exc:
            result.error = f"local file error: {exc}"
        return result

    def run_task(self, task: Task) -> list[ItemResult]:
        """Fetch a master if needed, then its missing renditions (only once it is in place)."""
        results: list[ItemResult] = []
        if task.master:
            results.append(self.sync_item(task.item))
            if results[-1].status != "downloaded":
                # Renditions wait for their master; list them, so the summary names
                # every file this run did not bring (the next run tries them again).
                results.extend(self._not_attempted(task.item, r) for r in task.renditions)
                return results
        results.extend(self.sync_rendition(task.item, r) for r in task.renditions)
        return results

    @staticmethod
    def _not_attempted(item: dict[str, Any], rendition: dict[str, Any]) -> ItemResult:
        """A rendition left for the next run because its master failed."""
        return ItemResult(
            path=rendition_path(item["path"], rendition),
            asset_id=item["asset_id"],
            status="failed",
            kind=str(rendition["kind"]),
            error="not attempted: its master failed",
        )

    def write_metadata(self, target: Path, item: dict[str, Any]) -> None:
        """Write `<master>.json` beside the master when it differs."""
        meta_path = target.with_name(target.name + ".json")
        text = json.dumps(item.get("metadata", {}), indent=2, ensure_ascii=False, sort_keys=True)
        try:
            if meta_path.read_text(encoding="utf-8") == text:
                return
        except OSError:
            pass
        write_atomic(meta_path, text)
