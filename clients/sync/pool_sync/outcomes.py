"""What a run does with its results: the manifest, the log, and files licensed no more."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pool_sync.config import SyncConfig
from pool_sync.errors import SyncError
from pool_sync.paths import local_path
from pool_sync.progress import Progress, human
from pool_sync.state import SyncState
from pool_sync.summary import ItemResult, Summary
from pool_sync.tasks import Task, rendition_record


def settle(result: ItemResult, task: Task, state: SyncState, progress: Progress) -> None:
    """Record one finished file in the manifest and log it."""
    item, entry = task.item, task.entry
    if result.status == "skipped":
        progress.log(f"skipped {result.path}: {result.note}")
        return
    if result.status != "downloaded":
        progress.log(f"FAILED {result.path}: {result.error}")
        return
    resumed = f", resumed at {human(result.resumed_from)}" if result.resumed_from else ""
    if result.kind == "master":
        state.files[item["path"]] = entry
        check = "sha256 verified"
    else:
        rendition = next(r for r in task.renditions if r["kind"] == result.kind)
        entry.setdefault("renditions", {})[result.kind] = rendition_record(item["path"], rendition)
        check = (
            "sha256 verified" if rendition.get("sha256") else "size verified, no sha256 published"
        )
    progress.log(
        f"ok {result.path} ({human(result.size)}, fetched {human(result.fetched)}{resumed}, "
        f"{check})"
    )


def report_unlicensed(
    config: SyncConfig,
    items: list[dict[str, Any]],
    state: SyncState,
    summary: Summary,
    progress: Progress,
    *,
    prune: bool,
) -> None:
    """List files in the manifest that are licensed no more; delete them only with `prune`."""
    current = {i["path"] for i in items}
    for path, entry in sorted(state.files.items()):
        if path in current:
            continue
        why = summary.ended_licenses.get(int(entry.get("license_id") or 0), "")
        reason = why.replace("license.", "license ") if why else "no longer licensed"
        summary.no_longer_licensed.append(path)
        if prune:
            delete_synced(config.destination, path, entry)
            summary.pruned.append(path)
            del state.files[path]
            progress.log(f"pruned {path} ({reason})")
        else:
            progress.log(
                f"not licensed any more: {path} ({reason}, license "
                f"{entry.get('license_id')}); kept (use --prune to delete)"
            )


def delete_synced(destination: Path, path: str, entry: dict[str, Any]) -> None:
    try:
        target = local_path(destination, path)
    except SyncError:
        return
    victims = [target, target.with_name(target.name + ".json")]
    for record in (entry.get("renditions") or {}).values():
        try:
            victims.append(local_path(destination, str(record["file"])))
        except (SyncError, KeyError):
            continue
    for victim in victims:
        victim.unlink(missing_ok=True)
