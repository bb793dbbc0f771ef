"""Engines and units of work for SQLite (embedded) and PostgreSQL (production).

One unit of work per request or job: `Database.session()` commits once at the end or rolls
back; services only flush.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from pool_core.private_files import private_sqlite

# Session.connection() option that makes the SQLite transaction take the write lock at BEGIN,
# so two claimers can never read the same queued job before either writes.
SQLITE_IMMEDIATE = {"sqlite_begin": "IMMEDIATE"}
# Address space, not memory: the pages are the OS's page cache, shared by every connection and
# process. Ranking a prefix that matches 5,000 of 100,000 titles took 8.6 ms with the default
# per-connection cache and 5.3 ms mapped (bench/search.py's catalog).
SQLITE_MMAP_BYTES = 1 << 30


def normalize_url(url: str) -> str:
    """Use psycopg 3 for plain `postgresql://` URLs."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def create_db_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> Engine:
    """Create an engine with the pool's per-dialect connection setup."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        private_sqlite(make_url(url).database or "")
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"timeout": 30, "check_same_thread": False},
        )
        _configure_sqlite(engine)
        return engine
    return create_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        # psycopg prepares a statement after its 5th run and PostgreSQL then switches to a
        # generic plan, blind to the parameters' values. For a full-text query
        # (`vector @@ $1::tsquery`) that plan walks the table instead of the GIN index:
        # 20-80 ms instead of 1 ms for one rare word. A plan made for the actual values costs
        # a fraction of a millisecond to plan.
        connect_args={"options": "-c plan_cache_mode=force_custom_plan"},
    )


def _configure_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling defers BEGIN and cannot do BEGIN IMMEDIATE; the
    # documented SQLAlchemy recipe takes it over so we control the locking mode.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        # Read the file through a memory map instead of copying every page into each
        # connection's own 2 MiB cache: a search touching a few thousand rows of a large
        # catalog re-read them from the OS on every query (see `SQLITE_MMAP_BYTES`).
        cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


class Database:
    """An engine plus its session factory."""

    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False) -> None:
        self.url = normalize_url(url)
        self.engine = create_db_engine(self.url, pool_size=pool_size, echo=echo)
        self.session_factory = sessionmaker(self.engine, expire_on_commit=False)
        self._sqlite_writer = threading.Lock()

    @property
    def is_sqlite(self) -> bool:
        """Whether this is the embedded SQLite database."""
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """Run one unit of work: commit at the end, roll back on any error."""
        with self.session_factory() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @contextmanager
    def write_session(self) -> Iterator[Session]:
        """Run one unit of work that will write; on SQLite it queues for the writer at BEGIN.

        SQLite in WAL mode refuses to upgrade a read transaction to a write one once another
        connection has committed meanwhile ("database is locked", SQLITE_BUSY_SNAPSHOT, which
        the busy timeout does not retry), so a unit of work that reads and then writes takes
        the write lock with BEGIN IMMEDIATE. Threads of this process first queue on a Python
        lock: SQLite's busy handler would make them sleep in growing steps and starve each
        other, and a waiting thread should not hold a pooled connection. Never nest a write
        session inside another in the same thread. PostgreSQL needs none of this.
        """
        if not self.is_sqlite:
            with self.session() as session:
                yield session
            return
        with self._sqlite_writer, self.session() as session:
            session.connection(execution_options=SQLITE_IMMEDIATE)
            yield session

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
