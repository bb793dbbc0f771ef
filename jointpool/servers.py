"""The long-running commands: `ftp`, `api`, `worker`, `maintenance`, `transcode`.

Each adapter package exposes a function taking the shared objects; this module is the only
place that builds those objects and combines the job handlers of every package.
"""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pool_core.context import AppContext
from pool_core.logs import configure_logging
from pool_core.nodes import heartbeating
from pool_core.settings import Settings, load_settings

if TYPE_CHECKING:
    from fastapi import FastAPI

    from pool_core.db import Database
    from pool_core.storage.base import ObjectStorage

Handler = Callable[[AppContext, argparse.Namespace], int]


def stop_event_on_signals() -> threading.Event:
    """An event set by SIGINT or SIGTERM, so servers can stop cleanly."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    return stop


def cmd_ftp(ctx: AppContext, args: argparse.Namespace) -> int:
    """Run the FTP/FTPS ingress server."""
    from pool_core.ops.node import start_ops_server
    from pool_server.server import run_ftp_server

    settings = ctx.settings
    address = f"{settings.ftp_host}:{settings.ftp_port}"
    ops = start_ops_server(settings, ctx.db, port=settings.ftp_metrics_port, component="ftp")
    try:
        with heartbeating(ctx.db, kind="ftp", interval=settings.heartbeat_seconds, address=address):
            run_ftp_server(settings, ctx.db, ctx.storage, stop_event_on_signals())
    finally:
        if ops is not None:
            ops.stop()
    return 0


def cmd_api(ctx: AppContext, args: argparse.Namespace) -> int:
    """Run the catalog API (uvicorn)."""
    from catalog_api.app import run_api

    settings = ctx.settings
    address = f"{settings.api_host}:{settings.api_port}"
    # uvicorn handles SIGINT/SIGTERM while it serves, then restores the handlers it found and
    # raises the signal again; with ours in place that ends here, not by the default action
    # that would kill the process before the heartbeat removes its row.
    stop_event_on_signals()
    # One row per API server (uvicorn's supervisor, when it runs several worker processes).
    with heartbeating(ctx.db, kind="api", interval=settings.heartbeat_seconds, address=address):
        run_api(
            settings,
            ctx.db,
            ctx.storage,
            worker_factory=f"{__name__}:api_worker_app",
            build_app=lambda: build_pool_app(settings, ctx.db, ctx.storage),
        )
    return 0


def api_worker_app() -> FastAPI:
    """The API app as each uvicorn worker process builds it, from the environment.

    A worker is a fresh interpreter: the CLI's logging set-up happened in the parent only.
    """

    ctx = AppContext(load_settings())
    settings = ctx.settings
    configure_logging(level=settings.log_level, component="api", log_format=settings.log_format)
    return build_pool_app(ctx.settings, ctx.db, ctx.storage)


def build_pool_app(settings: Settings, db: Database, storage: ObjectStorage) -> FastAPI:
    """The API under /v1 and, unless switched off, the editors' web UI under /."""
    from catalog_api.app import create_app
    from catalog_web.app import mount_web

    app = create_app(settings, db, storage)
    if settings.web_enabled:
        mount_web(app, settings, db, storage)
    return app


def job_handlers(ctx: AppContext) -> dict[str, Callable[[Any], None]]:
    """Every job kind the pool knows, from every package that defines jobs."""
    return handlers_for(ctx.settings, ctx.db, ctx.storage)


def handlers_for(
    settings: Settings, db: Database, storage: ObjectStorage
) -> dict[str, Callable[[Any], None]]:
    """Every job kind's handler on these settings, database and storage (what a worker runs)."""
    from catalog_api.jobs import build_handlers as catalog_handlers
    from pool_core.licensing.jobs import licensing_handlers
    from pool_core.services.nightly import nightly_handlers
    from pool_core.uploads.settle import build_handlers as upload_handlers
    from transcode.worker import build_handlers as transcode_handlers

    handlers: dict[str, Callable[[Any], None]] = {}
    for part in (
        transcode_handlers(settings, db, storage),
        catalog_handlers(settings, db, storage),
        licensing_handlers(settings, db, storage),
        nightly_handlers(settings, db, storage),
        upload_handlers(db, recheck_seconds=settings.upload_settle_seconds),
    ):
        clash = handlers.keys() & part.keys()
        if clash:
            raise RuntimeError(f"two packages handle the same job kinds: {sorted(clash)}")
        handlers.update(part)
    return handlers


def cmd_worker(ctx: AppContext, args: argparse.Namespace) -> int:
    """Run a background worker (transcoding, sidecar ingest, maintenance)."""
    from pool_core.licensing.jobs import ensure_periodic_jobs
    from pool_core.ops.node import start_ops_server
    from pool_core.ops.pool import PoolCollector
    from pool_core.queue import JobRunner
    from pool_core.services.nightly import ensure_nightly_job

    with ctx.db.write_session() as session:
        ensure_periodic_jobs(session)
    ensure_nightly_job(ctx.db, ctx.settings)
    # This worker handles every kind the pool defines, so a job of an unknown kind can only
    # be a mistake: fail it with a reason instead of leaving it queued forever.
    runner = JobRunner.from_settings(
        ctx.db, ctx.settings, job_handlers(ctx), claim_unknown_kinds=True
    )
    stop = stop_event_on_signals()
    # The worker computes the pool-wide gauges (one worker at a time: pool_core.ops.pool).
    pool_gauges = PoolCollector(ctx.db)
    ops = start_ops_server(
        ctx.settings,
        ctx.db,
        port=ctx.settings.worker_metrics_port,
        component="worker",
        collectors=[pool_gauges],
    )
    with heartbeating(ctx.db, kind="worker", interval=ctx.settings.heartbeat_seconds):
        thread = threading.Thread(target=runner.run_forever, name="job-runner", daemon=True)
        thread.start()
        stop.wait()
        runner.stop()
        thread.join()
    if ops is not None:
        ops.stop()
    pool_gauges.close()
    return 0


def cmd_maintenance(ctx: AppContext, args: argparse.Namespace) -> int:
    """Run the nightly maintenance now and print what it found and did."""
    from pool_core.services.nightly import run_nightly

    settings = ctx.settings
    if args.idle_hours is not None:
        settings = settings.model_copy(update={"upload_stale_after_hours": args.idle_hours})
    report = run_nightly(ctx.db, ctx.storage, settings, repair=args.repair or None)
    print(report)
    return 1 if report.errors else 0


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
        "--idle-hours",
        type=float,
        default=None,
        help="abort uploads idle longer than this (default: JOINTPOOL_UPLOAD_STALE_AFTER_HOURS)",
    )
    maintenance.add_argument(
        "--repair",
        action="store_true",
        help="delete unreferenced objects and fail assets whose master is gone",
    )
    transcode = commands.add_parser("transcode", help="transcoding operations")
    actions = transcode.add_subparsers(dest="transcode_command", required=True, metavar="ACTION")
    requeue = add(actions, "requeue", cmd_transcode_requeue)
    target = requeue.add_mutually_exclusive_group(required=True)
    target.add_argument("--asset", help="asset id")
    target.add_argument("--all", action="store_true", help="every asset")
