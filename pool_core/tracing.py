"""Correlation ids: which request, FTP session or upload a log line or a job belongs to.

The ids live in a context variable, so every log line written while they are bound carries
them (`TraceFilter`), `queue.enqueue` copies them into the job's payload (under `TRACE_KEY`),
and the worker binds them again while it runs that job: one master's story, from the FTP
session through the completion transaction to the transcode, greps by one id.

Context variables follow a thread (an FTP session has its own) and an asyncio task (an HTTP
request), and Starlette copies them into the thread pool that runs a sync endpoint.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from types import MappingProxyType
from typing import Any

# The ids a line or job can carry, in the order they are written.
TRACE_FIELDS = ("request_id", "session_id", "upload_id")
# Where a job's payload keeps the ids of whoever enqueued it.
TRACE_KEY = "trace"
# What a client may send as X-Request-ID: short and printable, so it cannot forge a log field.
_WELL_FORMED = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")

# Immutable, so no one can change the ids of a context they merely read.
_current: ContextVar[Mapping[str, str]] = ContextVar(
    "jointpool_trace", default=MappingProxyType({})
)


def current() -> dict[str, str]:
    """The ids bound in this context."""
    return dict(_current.get())


def new_id() -> str:
    """A fresh id (32 hex digits)."""
    return uuid.uuid4().hex


def accept_request_id(value: str | None) -> str:
    """The client's request id when it is well-formed, else a new one."""
    if value and _WELL_FORMED.fullmatch(value):
        return value
    return new_id()


def bind(**ids: str | None) -> Token[Mapping[str, str]]:
    """Add ids to this context (None removes one); `reset` with the token undoes it."""
    merged = dict(_current.get())
    for key, value in ids.items():
        if key not in TRACE_FIELDS:
            raise ValueError(f"unknown trace field {key!r}")
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = str(value)
    return _current.set(MappingProxyType(merged))


def reset(token: Token[Mapping[str, str]]) -> None:
    """Restore the ids as they were before `bind` returned this token."""
    _current.reset(token)


@contextmanager
def bound(**ids: str | None) -> Iterator[None]:
    """Bind ids for the duration of the block."""
    token = bind(**ids)
    try:
        yield
    finally:
        reset(token)


def from_payload(payload: Mapping[str, Any]) -> dict[str, str]:
    """The ids a job's payload carries (none when it was enqueued outside any request)."""
    stored = payload.get(TRACE_KEY)
    if not isinstance(stored, Mapping):
        return {}
    return {key: str(stored[key]) for key in TRACE_FIELDS if stored.get(key)}


class TraceFilter(logging.Filter):
    """Copy the bound ids onto every record (a field the caller passed itself wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Annotate the record; never drop it."""
        for key, value in _current.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True
