"""Node heartbeats: every FTP node, API server and worker keeps one row in `nodes` fresh.

A process registers when it starts, refreshes `last_seen_at` every `heartbeat_seconds` from a
daemon thread, and deletes its row when it stops cleanly. A process that died leaves its row
behind; readers call a row older than `STALE_AFTER_HEARTBEATS` heartbeats stale, not live.
A failed beat (database briefly away) is logged and retried at the next one: the heartbeat
must never take its server down.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import delete, update

from pool_core.db import Database
from pool_core.models import Node, utcnow

logger = logging.getLogger("pool_core.nodes")

NODE_KINDS = ("ftp", "api", "worker")
# One missed beat is a slow database; three are a node that is gone.
STALE_AFTER_HEARTBEATS = 3


def pool_version() -> str:
    """The installed version of the pool, as a node reports it."""
    try:
        return importlib.metadata.version("jointpool")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def is_stale(node: Node, *, now: datetime, heartbeat_seconds: float) -> bool:
    """Whether the node has missed enough heartbeats to be presumed dead."""
    age = (now - node.last_seen_at).total_seconds()
    return age > STALE_AFTER_HEARTBEATS * heartbeat_seconds


class Heartbeat:
    """This process's row in `nodes`, refreshed from a daemon thread until `stop()`."""

    def __init__(
        self, db: Database, *, kind: str, interval: float, address: str | None = None
    ) -> None:
        if kind not in NODE_KINDS:
            raise ValueError(f"node kind must be one of {NODE_KINDS}, not {kind!r}")
        self.db = db
        self.kind = kind
        self.interval = interval
        self.address = address
        self.node_id = uuid.uuid4()
        self.started_at = utcnow()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def beat(self) -> None:
        """Refresh this node's row, creating it again if it is missing."""
        now = utcnow()
        with self.db.write_session() as session:
            refreshed = session.execute(
                update(Node).where(Node.id == self.node_id).values(last_seen_at=now)
            )
            if refreshed.rowcount == 0:  # type: ignore[attr-defined]
                session.add(
                    Node(
                        id=self.node_id,
                        kind=self.kind,
                        hostname=socket.gethostname(),
                        pid=os.getpid(),
                        version=pool_version(),
                        started_at=self.started_at,
                        last_seen_at=now,
                        address=self.address,
                    )
                )

    def start(self) -> None:
        """Register now (so a node is visible as soon as it serves), then beat in the background."""
        try:
            self.beat()
        except Exception:
            logger.exception("first heartbeat failed; retrying", extra={"node_kind": self.kind})
        self._thread = threading.Thread(
            target=self._run, name=f"heartbeat-{self.kind}", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.beat()
            except Exception:
                logger.exception("heartbeat failed", extra={"node_kind": self.kind})

    def stop(self) -> None:
        """Stop beating and delete this node's row (a clean stop is not a dead node)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        try:
            with self.db.write_session() as session:
                session.execute(delete(Node).where(Node.id == self.node_id))
        except Exception:
            logger.exception("could not remove this node's row", extra={"node_kind": self.kind})


@contextmanager
def heartbeating(
    db: Database, *, kind: str, interval: float, address: str | None = None
) -> Iterator[Heartbeat]:
    """Keep this process's node row fresh for the duration of the block."""
    heartbeat = Heartbeat(db, kind=kind, interval=interval, address=address)
    heartbeat.start()
    try:
        yield heartbeat
    finally:
        heartbeat.stop()
