"""Units of work for the FTP sessions' threads."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from pool_core.db import Database


@contextmanager
def writing(db: Database) -> Iterator[Session]:
    """A unit of work that will write: `Database.write_session()` (BEGIN IMMEDIATE on SQLite).

    One mechanism for the whole process: the sessions' threads queue on the same
    per-Database lock as the upload writer and the services, so a login storm never drains
    the connection pool and reads-then-writes never hit SQLITE_BUSY_SNAPSHOT.
    """
    with db.write_session() as session:
        yield session
