"""Who holds a pending upload: one writer at a time, across processes and nodes.

A holder is `<host>:<pid>:<token>`. A lease normally ends when `held_until` passes; a holder
on this host whose process is gone (kill -9, restart) or, in this process, whose writer no
longer exists is dead at once, so a client resuming after a crash does not wait out the
lease.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import uuid
from datetime import datetime

from sqlalchemy import update

from pool_core.db import Database
from pool_core.models import PendingUpload, utcnow

HOST = socket.gethostname()

_live_tokens: set[str] = set()
_lock = threading.Lock()


def new_holder() -> str:
    """Create a holder name for a new writer in this process and mark it live."""
    token = uuid.uuid4().hex[:12]
    with _lock:
        _live_tokens.add(token)
    return f"{HOST}:{os.getpid()}:{token}"


def release_holder(holder: str) -> None:
    """Forget a holder of this process (its writer ended)."""
    with _lock:
        _live_tokens.discard(holder.rsplit(":", 1)[-1])


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def holder_alive(holder: str) -> bool:
    """Whether a holder may still be writing (False only when we know it is gone)."""
    try:
        host, pid_text, token = holder.rsplit(":", 2)
        pid = int(pid_text)
    except ValueError:
        return True
    if host != HOST:
        return True
    if pid == os.getpid():
        with _lock:
            return token in _live_tokens
    return _pid_alive(pid)


def is_held(pending: PendingUpload, now: datetime | None = None) -> bool:
    """Whether some live writer holds this pending upload right now."""
    if pending.holder is None or pending.held_until is None:
        return False
    if pending.held_until <= (now or utcnow()):
        return False
    return holder_alive(pending.holder)


def let_go(db: Database, pending_id: uuid.UUID, holder: str) -> None:
    """Release the row lease `holder` has on a pending upload (best effort: it also expires)."""
    with contextlib.suppress(Exception), db.session() as session:
        session.execute(
            update(PendingUpload)
            .where(PendingUpload.id == pending_id, PendingUpload.holder == holder)
            .values(holder=None, held_until=None)
            .execution_options(synchronize_session=False)
        )
