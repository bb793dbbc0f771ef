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

Where each part lives: `planning` (step 2), `transfers` (one file's fetch, with retries, for
step 3), `outcomes` (the manifest, the log and pruning, steps 3-4), `tasks` (what one master
asks of a run); this module runs the steps in order and the fetches in parallel.
"""

from __future__ import annotations

import contextlib
import time
from concurrent.futures import ThreadPoolExecutor

from pool_sync.config import SyncConfig, check_destination
from pool_sync.outcomes import report_unlicensed, settle
from pool_sync.paths import safe_relative
from pool_sync.planning import list_planned, plan
from pool_sync.progress import Progress, human
from pool_sync.state import SyncState, exclusive_lock
from pool_sync.summary import ItemResult, Summary
from pool_sync.tasks import Task, rendition_path
from pool_sync.transfers import SyncRun

__all__ = ["ItemResult", "Summary", "rendition_path", "run_sync", "safe_relative"]

ENDED_KINDS = ("license.revoked", "license.expired")


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
            todo = plan(run, items, state, summary)
            if dry_run:
                list_planned(todo, summary, progress)
            else:
                fetch_all(run, todo, state, summary, listed=len(items))
            report_unlicensed(config, items, state, summary, progress, prune=prune and not dry_run)
            if not dry_run:
                if not summary.failed:
                    state.cursor = next_cursor
                    summary.cursor_saved = True
                state.save(state_path)
        finally:
            run.close()
    summary.seconds = time.monotonic() - started
    return summary


def fetch_all(
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
                    settle(result, task, state, progress)
    finally:
        progress.stop()
