"""Units of work for the FTP sessions' threads."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from pool_core.db import SQLITE_IMMEDIATE, Database

_SQLITE_LOCKS: dict[int, threading.Lock] = {}
_SQLITE_LOCKS_GUARD = threading.Lock()


def _sqlite_lock(db: Database) -> threading.Lock:
    with _SQLITE_LOCKS_GUARD:
        return _SQLITE_LOCKS.setdefault(id(db.engine), threading.Lock())


@contextmanager
def writing(db: Database) -> Iterator[Session]:
    """A unit of work that will write: on SQLite it takes the write lock at BEGIN.

    Sessions run in parallel threads; a deferred SQLite transaction that reads and then
    writes fails with "database is locked" (without waiting) when another thread committed
    in between, whereas BEGIN IMMEDIATE simply waits its turn. The sessions of this process
    first queue on a Python lock: a waiting thread then holds no pooled connection (a login
    storm would otherwise drain the pool) and is woken at once instead of by SQLite's
    sleeping busy handler. Units of work run here never nest and never wait on other threads.
    """
    if not db.is_sqlite:
        with db.session() as session:
            yield session
        return
    with _sqlite_lock(db), db.session() as session:
        session.connection(execution_options=SQLITE_IMMEDIATE)
        yield session
