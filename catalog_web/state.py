"""What the web pages share: settings, database, storage and the sign-in guard."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy.orm import Session

from pool_core.db import Database
from pool_core.login_guard import LoginGuard
from pool_core.settings import Settings
from pool_core.storage.base import ObjectStorage

READ_METHODS = frozenset({"GET", "HEAD"})


@dataclass(frozen=True)
class WebState:
    """The objects the web UI was mounted with."""

    settings: Settings
    db: Database
    storage: ObjectStorage
    # Failed sign-ins, counted by the same rule and settings as FTP logins.
    guard: LoginGuard


def web_state(request: Request) -> WebState:
    """The web UI's shared objects."""
    state: WebState = request.app.state.web
    return state


def unit_of_work(request: Request) -> Iterator[Session]:
    """One database unit of work per page; form posts take the writer (SQLite's one lock)."""
    db = web_state(request).db
    session_factory = db.session if request.method in READ_METHODS else db.write_session
    with session_factory() as session:
        yield session
