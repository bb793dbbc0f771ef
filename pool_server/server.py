"""Build and run the FTP/FTPS server.

Concurrency: pyftpdlib's `ThreadedFTPServer`, one thread per session. Every S3 call and
scrypt verification of a session blocks only that session's thread (boto3 and hashlib
release the GIL while they wait), and all sessions share one login cache, one ban table
and one S3 connection pool, which a pre-fork model would have to keep in the database.
Throughput is bound by the network and S3, not by Python, on the 2-core reference box.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any

from pyftpdlib.ioloop import IOLoop
from pyftpdlib.servers import ThreadedFTPServer

from pool_core import tracing
from pool_core.db import Database
from pool_core.login_guard import guard_from_settings, ip_key
from pool_core.ops import metrics
from pool_core.ops.exposition import enabled as metrics_enabled
from pool_core.ops.exposition import set_enabled as set_metrics_enabled
from pool_core.settings import Settings
from pool_core.storage.base import ObjectStorage
from pool_server.auth import AuditWriter, LoginCache, PoolAuthorizer
from pool_server.context import PoolContext
from pool_server.handler import PoolFTPHandler
from pool_server.passive import PortLedger
from pool_server.sessions import SessionWatch
from pool_server.tls import (
    ControlSessions,
    check_session_reuse_support,
    ensure_certificate,
    make_ssl_context,
)

log = logging.getLogger(__name__)

# How often the serving loop looks at the stop event.
STOP_POLL_SECONDS = 0.25
# Connections the kernel completes before we accept them (capped by net.core.somaxconn).
# pyftpdlib's 100 overflows in a reconnect storm; Linux then drops the client's final ACK,
# the client believes it is connected and waits for a banner that never comes.
LISTEN_BACKLOG = 1024


class PoolFTPServer(ThreadedFTPServer):  # type: ignore[misc]
    """A ThreadedFTPServer whose stop flag belongs to this instance.

    pyftpdlib keeps `_exit` and `_lock` on the class, so stopping one server would stop every
    server in the process (tests and benchmarks run several).
    """

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[Any],
        *,
        audit: AuditWriter | None = None,
        sessions: SessionWatch | None = None,
    ) -> None:
        self._exit = threading.Event()
        self._lock = threading.Lock()
        self.audit = audit
        self.sessions = sessions
        super().__init__(address, handler, ioloop=IOLoop(), backlog=LISTEN_BACKLOG)

    def close_all(self) -> None:
        """Disconnect every session, then write the audit rows still queued."""
        if self.sessions is not None:
            self.sessions.stop()
        super().close_all()
        if self.audit is not None:
            self.audit.stop()

    def handle_accepted(self, sock: Any, addr: Any) -> Any:
        """Turn banned addresses away before a session (and its thread) exists."""
        if self.handler.pool.guard.banned_for(ip_key(addr[0])):
            if metrics_enabled():
                metrics.ftp_logins.labels(result="banned").inc()
            with contextlib.suppress(OSError):
                sock.send(b"421 Too many failed logins from your address; try again later.\r\n")
            sock.close()
            return None
        return super().handle_accepted(sock, addr)

    def _loop(self, handler: Any) -> None:
        """Serve one session in its own thread, with the session's id bound for its lines."""
        with tracing.bound(session_id=handler.session_id):
            super()._loop(handler)

    @property
    def port(self) -> int:
        """The control port actually bound (useful with port 0)."""
        return int(self.address[1])


def build_server(settings: Settings, db: Database, storage: ObjectStorage) -> PoolFTPServer:
    """Create the server bound to FTP_HOST:FTP_PORT (port 0 picks a free one)."""
    # JOINTPOOL_METRICS_ENABLED: the FTP node counts (or not) from here on.
    set_metrics_enabled(settings.metrics_enabled)
    cert, key = ensure_certificate(settings)
    if settings.ftp_tls_reuse_required:
        check_session_reuse_support()
    guard = guard_from_settings(settings)
    audit = AuditWriter(db)
    cache = LoginCache(settings.ftp_login_cache_seconds)
    authorizer = PoolAuthorizer(
        db,
        cache=cache,
        guard=guard,
        audit=audit,
        account_slowdown=settings.ftp_account_slowdown_seconds,
    )
    sessions = SessionWatch(db, interval=settings.ftp_session_recheck_seconds, cache=cache)
    # pyftpdlib configures handlers through class attributes: one subclass per server.
    handler = type(
        "BoundPoolFTPHandler",
        (PoolFTPHandler,),
        {
            "pool": PoolContext(settings=settings, db=db, storage=storage, guard=guard),
            "session_watch": sessions,
            "authorizer": authorizer,
            "certfile": str(cert),
            "keyfile": str(key),
            "ssl_context": make_ssl_context(cert, key),
            "tls_control_required": settings.ftp_tls_required,
            "tls_data_required": settings.ftp_tls_required,
            "tls_reuse_required": settings.ftp_tls_reuse_required,
            "control_sessions": ControlSessions(),
            "passive_ports": list(settings.passive_port_range),
            "passive_ledger": PortLedger(settings.passive_ports_per_org),
            "masquerade_address": settings.ftp_masquerade_address or None,
            "timeout": settings.ftp_idle_timeout,
            "auth_failed_timeout": settings.ftp_auth_failed_delay,
        },
    )
    server = PoolFTPServer(
        (settings.ftp_host, settings.ftp_port), handler, audit=audit, sessions=sessions
    )
    # The gauge reads the ban table at scrape time (the last server built in a process wins).
    metrics.ftp_bans_active.set_function(guard.active_bans)
    server.max_cons = settings.ftp_max_connections
    server.max_cons_per_ip = settings.ftp_max_connections_per_ip
    return server


def serve_until(server: PoolFTPServer, stop_event: threading.Event) -> None:
    """Serve until the event is set, then close every session."""
    if server.sessions is not None:
        server.sessions.start()
    try:
        while not stop_event.is_set():
            server.serve_forever(timeout=STOP_POLL_SECONDS, blocking=False, handle_exit=False)
    finally:
        server.close_all()


def run_ftp_server(
    settings: Settings,
    db: Database,
    storage: ObjectStorage,
    stop_event: threading.Event | None = None,
) -> None:
    """Run the FTP server until `stop_event` is set (or Ctrl-C when none is given)."""
    server = build_server(settings, db, storage)
    host, port = server.address[:2]
    log.info(
        "ftp server listening",
        extra={
            "host": host,
            "port": port,
            "require_tls": settings.ftp_tls_required,
            "require_tls_reuse": settings.ftp_tls_reuse_required,
        },
    )
    event = stop_event or threading.Event()
    try:
        serve_until(server, event)
    except KeyboardInterrupt:
        log.info("ftp server interrupted")
    log.info("ftp server stopped")
