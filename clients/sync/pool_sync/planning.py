"""Compare what the organization may download with the manifest and the disk: what to fetch."""

from __future__ import annotations

import contextlib
from typing import Any

from pool_sync.errors import ItemError
from pool_sync.paths import NameClaims, case_insensitive, local_parts, local_path
from pool_sync.progress import Progress, human
from pool_sync.state import SyncState
from pool_sync.summary import ItemResult, Summary
from pool_sync.tasks import Task, manifest_entry, rendition_path
from pool_sync.transfers import SyncRun


def plan(
    run: SyncRun, items: list[dict[str, Any]], state: SyncState, summary: Summary
) -> list[Task]:
    """Compare the entitlements with the disk: record what is in place, return what is not."""
    todo: list[Task] = []
    refused = claim_names(run, items, state)
    for item in items:
        try:
            if item["path"] in refused:
                raise refused[item["path"]]
            target = local_path(run.config.destination, item["path"])
        except ItemError as exc:
            summary.items.append(
                ItemResult(item["path"], item["asset_id"], "failed", error=str(exc))
            )
            continue
        known = state.files.get(item["path"])
        entry = manifest_entry(item)
        if known and known.get("asset_id") == item["asset_id"] and known.get("renditions"):
            # Renditions already fetched for this very master stay recorded (and prunable).
            entry["renditions"] = dict(known["renditions"])
        master = not run.is_current(item, target, known)
        if not master:
            if not run.dry_run:
                run.write_metadata(target, item)
            summary.items.append(
                ItemResult(item["path"], item["asset_id"], "skipped", size=item["size"])
            )
            state.files[item["path"]] = entry
        task = Task(item=item, entry=entry, master=master, renditions=[])
        listed = {r["kind"]: r for r in item.get("renditions") or []}
        for kind in run.config.renditions:
            rendition = listed.get(kind)
            if rendition is None:
                note = f"no {kind} in the pool yet (not transcoded, or transcoding failed)"
                summary.items.append(
                    ItemResult(
                        f"{item['path']}.{kind}", item["asset_id"], "skipped", kind=kind, note=note
                    )
                )
                run.progress.log(f"skipped {kind} of {item['path']}: {note}")
                continue
            _plan_rendition(run, summary, task, rendition)
        # Subtitle files (each track's WebVTT and original) are listed only when they exist.
        for subtitle in item.get("subtitles") or [] if run.config.subtitles else []:
            _plan_rendition(run, summary, task, subtitle)
        if task.master or task.renditions:
            todo.append(task)
    return todo


def _plan_rendition(run: SyncRun, summary: Summary, task: Task, rendition: dict[str, Any]) -> None:
    """Queue one file beside the master unless the copy there is current."""
    item, kind = task.item, rendition["kind"]
    path = rendition_path(item["path"], rendition)
    try:
        file = local_path(run.config.destination, path)
    except ItemError as exc:
        summary.items.append(
            ItemResult(path, item["asset_id"], "failed", error=str(exc), kind=kind)
        )
        return
    if run.rendition_is_current(task.entry, rendition, file):
        summary.items.append(
            ItemResult(path, item["asset_id"], "skipped", size=rendition["size"], kind=kind)
        )
    else:
        task.renditions.append(rendition)


def claim_names(
    run: SyncRun, items: list[dict[str, Any]], state: SyncState
) -> dict[str, ItemError]:
    """Server paths that would share a local file with another one (see `paths`), and why.

    Names in the state file are on disk already, so they claim first; the rest claim in
    sorted order, so the same path wins in every run. A state entry that lost (written by a
    version without this check, when one file overwrote the other) is dropped: its file is
    the other path's, and pruning it would delete that.
    """
    claims = NameClaims(fold_case=case_insensitive(run.config.state_dir))
    refused: dict[str, ItemError] = {}
    placed: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
    for path in sorted(state.files):
        with contextlib.suppress(ItemError):  # an unsafe path is refused where it is used
            parts = local_parts(path)
            placed.setdefault(claims.key(parts), []).append((path, parts))
    for group in placed.values():
        # Two state entries on one file: the one whose size the file has is the one there.
        if len(group) > 1:
            group.sort(key=lambda p: not _size_matches(run, p[0], state.files[p[0]]))
        for path, parts in group:
            try:
                claims.claim(path, parts)
            except ItemError as exc:
                refused[path] = exc
                del state.files[path]
                run.progress.log(f"forgot {path} from the state file: {exc}")
    for path in sorted({str(i["path"]) for i in items} - set(state.files) - set(refused)):
        with contextlib.suppress(ItemError):
            parts = local_parts(path)
            try:
                claims.claim(path, parts)
            except ItemError as exc:
                refused[path] = exc
    return refused


def _size_matches(run: SyncRun, path: str, entry: dict[str, Any]) -> bool:
    try:
        return local_path(run.config.destination, path).stat().st_size == entry.get("size")
    except (OSError, ItemError):
        return False


def list_planned(todo: list[Task], summary: Summary, progress: Progress) -> None:
    """Record and log what a dry run would fetch."""
    for task in todo:
        item = task.item
        if task.master:
            summary.items.append(
                ItemResult(item["path"], item["asset_id"], "planned", size=int(item["size"]))
            )
        for rendition in task.renditions:
            path = rendition_path(item["path"], rendition)
            summary.items.append(
                ItemResult(
                    path,
                    item["asset_id"],
                    "planned",
                    size=int(rendition["size"]),
                    kind=str(rendition["kind"]),
                )
            )
    for planned in summary.planned:
        progress.log(f"would fetch {planned.path} ({human(planned.size)})")
    total = sum(p.size for p in summary.planned)
    progress.log(f"dry run: {len(summary.planned)} files ({human(total)}) would be fetched")
