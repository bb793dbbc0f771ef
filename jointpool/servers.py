"""The long-running commands: `ftp`, `api`, `worker`, `maintenance`, `transcode`.

Each adapter package exposes a function taking the shared objects; this module is the only
place that builds those objects and combines the job handlers of every package.
"""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from jointpool.context import AppContext

Handler = Callable[[AppContext, argparse.Namespace], int]


def stop_event_on_signals() -> threading.Event:
    """An event set by SIGINT or SIGTERM, so servers can stop cleanly."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    return stop


def cmd_ftp(ctx: AppContext, args: argparse.Namespace) -> int:
    """Run the FTP/FTPS ingress server."""
    from pool_server.server import run_ftp_server

    run_ftp_server(ctx.settings, ctx.db, ctx.storage, stop_event_on_signals())
    return 0


def cmd_api(ctx: AppContext, args: argparse.Namespace) -> int:
    """Run the catalog API (uvicorn)."""
    from catalog_api.app import run_api

    run_api(ctx.settings, ctx.db, ctx.storage)
    return 0


def job_handlers(ctx: AppContext) -> dict[str, Callable[[Any], None]]:
    """Every job kind the pool knows, from every package that defines jobs."""
    from catalog_api.jobs import build_handlers as catalog_handlers
    from pool_core.services.licensing_jobs import licensing_handlers
    from transcode.worker import build_handlers as transcode_handlers

    handlers: dict[str, Callable[[Any], None]] = {}
    for part in (
        transcode_handlers(ctx.settings, ctx.db, ctx.storage),
        catalog_handlers(ctx.settings, ctx.db, ctx.storage),
        licensing_handlers(ctx.settings, ctx.db, ctx.storage),
    ):
        clash = handlers.keys() & part.keys()
        if clash:
            raise RuntimeError(f"two packages handle the same job kinds: {sorted(clash)}")
        handlers.update(part)
    return handlers


def cmd_worker(ctx: AppContext, args: argparse.Namespace) -> int:
    """Run a background worker (transcoding, sidecar ingest, maintenance)."""
    from pool_core.queue import JobRunner
    from pool_core.services.licensing_jobs import ensure_periodic_jobs

    with ctx.db.session() as session:
        ensure_periodic_jobs(session)
    # This worker handles every kind the pool defines, so a job of an unknown kind can only
    # be a mistake: fail it with a reason instead of leaving it queued forever.
    runner = JobRunner.from_settings(
        ctx.db, ctx.settings, job_handlers(ctx), claim_unknown_kinds=True
    )
    stop = stop_event_on_signals()
    thread = threading.Thread(target=runner.run_forever, name="job-runner", daemon=True)
    thread.start()
    stop.wait()
    runner.stop()
    thread.join()
    return 0


def cmd_maintenance(ctx: AppContext, args: argparse.Namespace) -> int:
    """Abort stale uploads and delete their staging objects; print what was done."""
    from pool_core.services.maintenance import abort_stale_uploads

    report = abort_stale_uploads(ctx.db, ctx.storage, idle_for=timedelta(hours=args.idle_hours))
    print(report)
    return 0


def cmd_transcode_requeue(ctx: AppContext, args: argparse.Namespace) -> int:
    """Transcode one asset again (or every asset), replacing its renditions."""
    from transcode.worker import requeue_transcode

    with ctx.db.session() as session:
        count = requeue_transcode(session, asset_id=args.asset)
    print(f"{count} transcode job(s) queued")
    return 0


def register(commands: Any, add: Callable[..., argparse.ArgumentParser]) -> None:
    """Add the server and operations subcommands to the parser."""
    add(commands, "ftp", cmd_ftp)
    add(commands, "api", cmd_api)
    add(commands, "worker", cmd_worker)
    maintenance = add(commands, "maintenance", cmd_maintenance)
    maintenance.add_argument(
        "--idle-hours", type=float, default=24.0, help="abort uploads idle longer than this"
    )
    transcode = commands.add_parser("transcode", help="transcoding operations")
    actions = transcode.add_subparsers(dest="transcode_command", required=True, metavar="ACTION")
    requeue = add(actions, "requeue", cmd_transcode_requeue)
    target = requeue.add_mutually_exclusive_group(required=True)
    target.add_argument("--asset", help="asset id")
    target.add_argument("--all", action="store_true", help="every asset")
