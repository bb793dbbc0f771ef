"""Structured logging: one line per event, `key=value` pairs after the message."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

# LogRecord attributes that are not user-supplied `extra=` fields (uvicorn adds a coloured
# copy of its message as `color_message`; printing it twice helps no one).
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}

# Alembic announces its plugins and its dialect on every command; only the upgrade steps
# themselves say something a person acts on.
_PLUMBING_LOGGERS = ("alembic",)
_PLUMBING_KEPT = ("Running upgrade", "Running downgrade")


class KeyValueFormatter(logging.Formatter):
    """`2026-11-26T09:00:00Z INFO ftp pool_server.auth: login ok user=aztv-ops ip=127.0.0.1`."""

    def __init__(self, component: str) -> None:
        super().__init__()
        self.component = component

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created))
        extras = " ".join(
            f"{key}={_quote(value)}"
            for key, value in vars(record).items()
            if key not in _STANDARD and not key.startswith("_")
        )
        line = f"{stamp} {record.levelname} {self.component} {record.name}: {record.getMessage()}"
        if extras:
            line = f"{line} {extras}"
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return line


def _quote(value: Any) -> str:
    text = str(value)
    return f'"{text}"' if (" " in text or not text) else text


class DemotePlumbing(logging.Filter):
    """Turn third-party INFO chatter into DEBUG, dropping it below the handler's level."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        """Demote a plumbing record; keep it only if DEBUG is shown."""
        if record.levelno != logging.INFO or not _is_plumbing(record):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return self.level <= logging.DEBUG


def _is_plumbing(record: logging.LogRecord) -> bool:
    if not record.name.startswith(_PLUMBING_LOGGERS):
        return False
    return not record.getMessage().startswith(_PLUMBING_KEPT)


def configure_logging(*, level: str, component: str) -> None:
    """Send every log record to stderr as one structured line."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter(component))
    handler.addFilter(DemotePlumbing(logging.getLevelName(level.upper())))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Third-party chatter that would drown the pool's own lines at INFO.
    for noisy in ("botocore", "boto3", "urllib3", "s3transfer", "pyftpdlib"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
