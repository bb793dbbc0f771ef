"""Units of work for the FTP sessions' threads."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from pool_core.db import SQLITE_IMMEDIATE, Database


@contextmanager
def writing(db: Database) -> Iterator[Session]:
    """A unit of work that will write: on SQLite it takes the write lock at BEGIN.

    Sessions run in parallel threads; a deferred SQLite transaction that reads and then
    writes fails with "database is locked" (without waiting) when another thread committed
    in between, whereas BEGIN IMMEDIATE simply waits its turn.
    """
    with db.session() as session:
        if db.is_sqlite:
            session.connection(execution_options=SQLITE_IMMEDIATE)
        yield session
