"""`jointpool status`: the pool on one screen (or as JSON with `--json`)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pool_core.context import AppContext
from pool_core.status import PoolStatus, collect


def cmd_status(ctx: AppContext, args: argparse.Namespace) -> int:
    """Print the nodes, queue, failures, storage, uploads and expiring licenses."""
    settings = ctx.settings
    with ctx.db.session() as session:
        status = collect(
            session,
            heartbeat_seconds=settings.heartbeat_seconds,
            stale_upload_hours=settings.upload_stale_after_hours,
        )
    if args.json:
        print(json.dumps(status.as_dict(), indent=2, ensure_ascii=False))
    else:
        print(render(status))
    return 0


def render(status: PoolStatus) -> str:
    """The report as text, one section per question an operator asks."""
    lines = [f"Joint FTP Pool status at {status.generated_at.isoformat(timespec='seconds')}"]
    lines += _nodes(status)
    lines += _queue(status)
    lines += _failures(status)
    lines += _storage(status)
    lines += _uploads(status)
    lines += _licenses(status)
    return "\n".join(lines)


def _nodes(status: PoolStatus) -> list[str]:
    live = [node for node in status.nodes if node.live]
    stale = [node for node in status.nodes if not node.live]
    lines = ["", f"Nodes: {len(live)} live, {len(stale)} stale"]
    for node in live + stale:
        # A stale node's uptime would keep growing after it died: say when it was last heard.
        if node.live:
            state = f"up {duration(node.uptime_seconds)}  live"
        else:
            state = f"STALE, last seen {_ago(node.last_seen_at, status)}"
        where = f" {node.address}" if node.address else ""
        lines.append(
            f"  {node.kind:6} {node.hostname} pid {node.pid}{where}  version {node.version}  "
            f"{state}"
        )
    return lines


def _queue(status: PoolStatus) -> list[str]:
    queued = sum(line.queued for line in status.queue)
    running = sum(line.running for line in status.queue)
    lines = ["", f"Queue: {queued} queued, {running} running"]
    for line in status.queue:
        lines.append(f"  {line.kind:24} {line.queued:6} queued {line.running:4} running")
    oldest = status.oldest_waiting
    if oldest is not None:
        lines.append(
            f"  oldest waiting: {oldest.kind} job {oldest.id}, "
            f"waiting {duration(oldest.waiting_seconds)}"
        )
    return lines


def _failures(status: PoolStatus) -> list[str]:
    by_kind = ", ".join(f"{kind} {count}" for kind, count in status.failures_by_kind.items())
    lines = [
        "",
        f"Failures in the last 24 h: {status.failures_24h}" + (f" ({by_kind})" if by_kind else ""),
    ]
    for job in status.recent_failures:
        when = job.finished_at.isoformat(timespec="seconds") if job.finished_at else "?"
        lines.append(f"  {when} {job.kind} {job.id} after {job.attempts} attempt(s): {job.reason}")
    return lines


def _storage(status: PoolStatus) -> list[str]:
    lines = ["", "Storage per member"]
    for line in status.storage:
        if line.quota_bytes is None:
            quota = "no quota"
        else:
            quota = f"of {size(line.quota_bytes)} ({(line.used_fraction or 0) * 100:.1f} %)"
        lines.append(f"  {line.org:10} {size(line.used_bytes):>10} {quota}")
    return lines


def _uploads(status: PoolStatus) -> list[str]:
    stale = sum(1 for upload in status.uploads if upload.stale)
    lines = ["", f"Unfinished uploads: {len(status.uploads)} ({stale} stale)"]
    for upload in status.uploads:
        if upload.active:
            state = f"{upload.state}, writing now"
        else:
            state = f"{upload.state}, idle {duration(upload.idle_seconds)}"
        if upload.stale:
            state += ", STALE"
        lines.append(f"  {upload.org}:{upload.path} {size(upload.size)} ({state})")
    return lines


def _licenses(status: PoolStatus) -> list[str]:
    lines = ["", f"Licenses expiring within 7 days: {len(status.expiring_licenses)}"]
    for item in status.expiring_licenses:
        lines.append(
            f"  #{item.id} {item.title} ({item.licensor} -> {item.licensee}) ends "
            f"{item.ends_at.isoformat(timespec='minutes')}"
        )
    return lines


def _ago(moment: datetime, status: PoolStatus) -> str:
    seconds = (status.generated_at - moment).total_seconds()
    return f"{duration(seconds)} ago"


def duration(seconds: float) -> str:
    """`45 s`, `12 min`, `3 h 05 min`, `2 d 04 h`."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours:02d} h"


def size(count: int) -> str:
    """Bytes in binary units: `512 B`, `1.5 GiB`."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def register(commands: Any, add: Callable[..., argparse.ArgumentParser]) -> None:
    """Add `status` to the command line."""
    status = add(commands, "status", cmd_status)
    status.add_argument("--json", action="store_true", help="print the same data as JSON")
