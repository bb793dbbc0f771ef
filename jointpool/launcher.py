"""`jointpool up`: the whole pool on the embedded default, in one terminal.

The parent starts the embedded SeaweedFS, migrates the database, seeds demo accounts on the
first run, then runs the FTP server, the API and a worker as child processes (the same
commands production runs separately). Ctrl-C or SIGTERM stops them all, storage last.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from jointpool import demo
from pool_core import migrate
from pool_core.context import AppContext
from pool_core.seaweed import EmbeddedSeaweed
from pool_core.settings import Settings

log = logging.getLogger("jointpool.up")

# The services `up` runs, each as `python -m jointpool <command>`.
SERVICES = ("ftp", "api", "worker")
STOP_GRACE_SECONDS = 15.0


@dataclass
class Child:
    """A supervised service process."""

    name: str
    process: subprocess.Popen[bytes]


def start_embedded_storage(settings: Settings) -> EmbeddedSeaweed | None:
    """Start SeaweedFS when no external S3 is configured; return it (or None)."""
    if not settings.embedded_s3:
        return None
    seaweed = EmbeddedSeaweed.from_settings(settings)
    seaweed.start()
    seaweed.wait_ready()
    return seaweed


def run_embedded_storage_forever(settings: Settings) -> int:
    """Run only the embedded SeaweedFS until interrupted."""
    seaweed = start_embedded_storage(settings)
    if seaweed is None:
        print("JOINTPOOL_S3_ENDPOINT is set: nothing embedded to run", file=sys.stderr)
        return 2
    print(f"SeaweedFS S3 at {seaweed.endpoint} (bucket {settings.s3_bucket}); Ctrl-C stops")
    stop = threading.Event()
    _on_signals(stop)
    try:
        stop.wait()
    finally:
        seaweed.stop()
    return 0


def _on_signals(stop: threading.Event) -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())


def child_environment(settings: Settings) -> dict[str, str]:
    """This process's environment with every path setting as the absolute path it resolved to.

    A child then finds the same files whatever its working directory (the settings resolved
    relative paths against ours, once).
    """
    env = os.environ.copy()
    env["JOINTPOOL_DATA_DIR"] = str(settings.data_dir)
    if settings.database_url:
        env["JOINTPOOL_DATABASE_URL"] = settings.database_url
    for name in ("ftp_tls_cert", "ftp_tls_key", "transcode_tmp_dir"):
        value = getattr(settings, name)
        if value is not None:
            env[f"JOINTPOOL_{name.upper()}"] = str(value)
    return env


def start_child(name: str, settings: Settings) -> Child:
    """Start `python -m jointpool NAME` with this process's environment and settings' paths."""
    process = subprocess.Popen(
        [sys.executable, "-m", "jointpool", name],
        env=child_environment(settings),
        # Own process group: the terminal's Ctrl-C reaches only us, and we stop children in
        # order instead of all at once.
        start_new_session=True,
    )
    return Child(name=name, process=process)


def stop_children(children: list[Child]) -> None:
    """Ask every child to stop, then kill those that do not within the grace period."""
    for child in children:
        if child.process.poll() is None:
            child.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for child in children:
        remaining = max(0.1, deadline - time.monotonic())
        try:
            child.process.wait(timeout=remaining)
        except subprocess.TimeoutExpired:
            log.warning("service did not stop in time; killing", extra={"service": child.name})
            child.process.kill()
            child.process.wait()


def print_banner(settings: Settings, credentials: list[demo.DemoUser]) -> None:
    """Tell the person at the terminal how to connect."""
    host = settings.ftp_masquerade_address or settings.ftp_host
    lines = [
        "",
        "Joint FTP Pool is running (Ctrl-C stops everything).",
        f"  FTP/FTPS   ftp://{host}:{settings.ftp_port}  (explicit TLS: AUTH TLS; "
        + ("required" if settings.ftp_tls_required else "optional in this embedded demo")
        + ")",
        *_web_lines(settings),
        f"  API        http://{settings.api_host}:{settings.api_port}/v1"
        f"   docs: http://{settings.api_host}:{settings.api_port}/docs",
        f"  S3         {settings.effective_s3_endpoint}  bucket {settings.s3_bucket}",
        *_metrics_lines(settings),
        f"  Database   {settings.effective_database_url}",
        f"  Data       {settings.data_dir}",
    ]
    if credentials:
        lines.append(
            f"  Demo accounts, for FTP and the web UI (also in {demo.credentials_path(settings)}):"
        )
        for user in credentials:
            lines.append(
                f"    {user.org:8} {user.role:15} user {user.username} "
                f"password {user.ftp_password}  api token {user.api_token}"
            )
        lines.append(
            f"  Try: curl -T file.mxf --ssl-reqd -k "
            f"ftp://{credentials[0].username}:{credentials[0].ftp_password}@{host}:"
            f"{settings.ftp_port}/incoming/"
        )
    print("\n".join(lines), flush=True)


def _web_lines(settings: Settings) -> list[str]:
    """Where editors open the web UI (served by the API process)."""
    if not settings.web_enabled:
        return ["  Web UI     off (JOINTPOOL_WEB_ENABLED=false)"]
    return [
        f"  Web UI     http://{settings.api_host}:{settings.api_port}/"
        "   sign in with a demo user and password below"
    ]


def _metrics_lines(settings: Settings) -> list[str]:
    """Where each service serves /metrics, /healthz and /readyz."""
    if not settings.metrics_enabled:
        return ["  Metrics    off (JOINTPOOL_METRICS_ENABLED=false)"]
    api = f"http://{settings.api_host}:{settings.api_port}/metrics"
    lines = [f"  Metrics    API {api}  (and /healthz, /readyz on each)"]
    for name, port in (
        ("FTP", settings.ftp_metrics_port),
        ("worker", settings.worker_metrics_port),
    ):
        if port:
            lines.append(f"             {name:6} http://{settings.metrics_host}:{port}/metrics")
    return lines


def run_all(ctx: AppContext) -> int:
    """Start storage, migrate, seed demo data, run every service until interrupted."""
    settings = ctx.settings
    stop = threading.Event()
    _on_signals(stop)
    seaweed = start_embedded_storage(settings)
    children: list[Child] = []
    try:
        ctx.storage.ensure_bucket()
        migrate.upgrade(settings.effective_database_url)
        credentials = demo.ensure_demo_accounts(ctx) if settings.embedded_s3 else []
        children = [start_child(name, settings) for name in SERVICES]
        print_banner(settings, credentials)
        crashed = False
        while not stop.wait(0.5):
            for child in children:
                code = child.process.poll()
                if code is not None:
                    log.error(
                        "service exited on its own; stopping the pool",
                        extra={"service": child.name, "exit_code": code},
                    )
                    crashed = True
                    stop.set()
        return 1 if crashed else 0
    finally:
        stop_children(children)
        if seaweed is not None:
            seaweed.stop()
        print("Joint FTP Pool stopped.", flush=True)
