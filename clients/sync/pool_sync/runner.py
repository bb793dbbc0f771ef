"""One sync run: follow the feed, mirror the entitlements, report, save the cursor last.

Order of a run (each step idempotent, so a killed run is simply run again):

1. read the change feed from the saved cursor to its end (revocations and expiries to report);
2. list what the organization may download now (`/v1/licensed-assets`) and compare it with the
   manifest and the files on disk; a file already in place with the published SHA-256 is left
   alone;
3. fetch the missing ones several at a time (resume, verify, atomic rename; each failure is
   retried with a fresh URL, resuming from the bytes already on disk), and, when opted in
   (`proxies`, `posters`), each master's proxy and poster beside it as `<master>.proxy.mp4`
   and `<master>.poster.jpg` (same machinery, verified by the SHA-256 the pool publishes for
   the rendition; only renditions transcoded before the pool recorded hashes publish none and
   are verified by size, which the log says; a master without one is reported as skipped,
   not failed);
4. report files no longer licensed (deleted only with `prune`);
5. save the manifest, and the new cursor only if nothing failed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from pool_sync.api import PoolApi
from pool_sync.bwlimit import RateLimiter
from pool_sync.config import SyncConfig, check_destination
from pool_sync.download import fetch, storage_client
from pool_sync.errors import ChecksumMismatch, ItemError, NotFoundError, SyncError, TokenError
from pool_sync.paths import NameClaims, case_insensitive, local_parts, local_path, safe_relative
from pool_sync.progress import Progress, human
from pool_sync.state import SyncState, exclusive_lock, write_atomic
from pool_sync.summary import ItemResult, Summary

__all__ = ["ItemResult", "Summary", "rendition_path", "run_sync", "safe_relative"]

ENDED_KINDS = ("license.revoked", "license.expired")
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


def _rendition_record(master_path: str, rendition: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": rendition["name"],
        "size": rendition["size"],
        "sha256": rendition.get("sha256"),
        "file": rendition_path(master_path, rendition),
    }


def _sha256_file(path: Path) -> str:
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
        return bool(item["sha256"]) and _sha256_file(target) == item["sha256"]

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
        if _sha256_file(file) != published:
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


def run_sync(
    config: SyncConfig,
    *,
    prune: bool = False,
    progress: Progress | None = None,
    dry_run: bool = False,
) -> Summary:
    """Run one sync; raises `SyncError` for fatal problems, reports item failures.

    A dry run reads the feed, the entitlements and the disk, and lists what it would fetch
    (and prune) without writing anything: no lock, no state, no metadata, no partial file.
    """
    progress = progress or Progress()
    started = time.monotonic()
    check_destination(config, writable=not dry_run)
    summary = Summary(dry_run=dry_run)
    lock = contextlib.nullcontext() if dry_run else exclusive_lock(config.state_dir / "lock")
    with lock:
        state_path = config.state_dir / "state.json"
        state = SyncState.load(state_path)
        run = SyncRun(config, progress, dry_run=dry_run)
        try:
            next_cursor = state.cursor
            for page in run.api.changes(state.cursor):
                for event in page["events"]:
                    if event["kind"] in ENDED_KINDS and "license_id" in event.get("data", {}):
                        summary.ended_licenses[int(event["data"]["license_id"])] = event["kind"]
                next_cursor = page["next_cursor"]
            items = run.api.licensed_assets()
            todo = _plan(run, items, state, summary)
            if dry_run:
                _list_planned(todo, summary, progress)
            else:
                _fetch_all(run, todo, state, summary, listed=len(items))
            _report_unlicensed(config, items, state, summary, progress, prune=prune and not dry_run)
            if not dry_run:
                if not summary.failed:
                    state.cursor = next_cursor
                    summary.cursor_saved = True
                state.save(state_path)
        finally:
            run.close()
    summary.seconds = time.monotonic() - started
    return summary


def _list_planned(todo: list[Task], summary: Summary, progress: Progress) -> None:
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


def _fetch_all(
    run: SyncRun, todo: list[Task], state: SyncState, summary: Summary, *, listed: int
) -> None:
    """Fetch every planned file, several at a time, recording each as it settles."""
    progress, config = run.progress, run.config
    masters = [t for t in todo if t.master]
    renditions = [r for t in todo for r in t.renditions]
    progress.start(
        len(masters) + len(renditions),
        sum(int(t.item["size"]) for t in masters) + sum(int(r["size"]) for r in renditions),
    )
    extras = f", {len(renditions)} renditions to fetch" if config.renditions else ""
    progress.log(
        f"{listed} licensed masters: {len(masters)} to fetch "
        f"({human(progress.total_bytes)}), {listed - len(masters)} already in place{extras}"
    )
    try:
        with ThreadPoolExecutor(max_workers=config.parallel) as pool:
            for results, task in zip(pool.map(run.run_task, todo), todo, strict=True):
                for result in results:
                    progress.file_done()
                    summary.items.append(result)
                    _settle(result, task, state, progress)
    finally:
        progress.stop()


def _report_unlicensed(
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
            _prune(config.destination, path, entry)
            summary.pruned.append(path)
            del state.files[path]
            progress.log(f"pruned {path} ({reason})")
        else:
            progress.log(
                f"not licensed any more: {path} ({reason}, license "
                f"{entry.get('license_id')}); kept (use --prune to delete)"
            )


def _plan(
    run: SyncRun, items: list[dict[str, Any]], state: SyncState, summary: Summary
) -> list[Task]:
    """Compare the entitlements with the disk: record what is in place, return what is not."""
    todo: list[Task] = []
    refused = _claim_names(run, items, state)
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
        entry = _entry(item)
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
            path = rendition_path(item["path"], rendition)
            try:
                file = local_path(run.config.destination, path)
            except ItemError as exc:
                summary.items.append(
                    ItemResult(path, item["asset_id"], "failed", error=str(exc), kind=kind)
                )
                continue
            if run.rendition_is_current(entry, rendition, file):
                summary.items.append(
                    ItemResult(path, item["asset_id"], "skipped", size=rendition["size"], kind=kind)
                )
            else:
                task.renditions.append(rendition)
        if task.master or task.renditions:
            todo.append(task)
    return todo


def _claim_names(
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


def _settle(result: ItemResult, task: Task, state: SyncState, progress: Progress) -> None:
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
        entry.setdefault("renditions", {})[result.kind] = _rendition_record(item["path"], rendition)
        check = (
            "sha256 verified" if rendition.get("sha256") else "size verified, no sha256 published"
        )
    progress.log(
        f"ok {result.path} ({human(result.size)}, fetched {human(result.fetched)}{resumed}, "
        f"{check})"
    )


def _entry(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "asset_id": item["asset_id"],
        "license_id": item["license_id"],
        "sha256": item["sha256"],
        "size": item["size"],
    }


def _prune(destination: Path, path: str, entry: dict[str, Any]) -> None:
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
