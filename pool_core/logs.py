"""Structured logging: one line per event, `key=value` pairs after the message."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

# LogRecord attributes that are not user-supplied `extra=` fields.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


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


def configure_logging(*, level: str, component: str) -> None:
    """Send every log record to stderr as one structured line."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter(component))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Third-party chatter that would drown the pool's own lines at INFO.
    for noisy in ("botocore", "boto3", "urllib3", "s3transfer", "pyftpdlib"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
